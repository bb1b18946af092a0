"""Write-path faults: hostile writers, odd data and failing databases on every backend.

A case that still fails on some backend is a strict ``xfail`` there, naming what is
missing; an ``XPASS`` fails the run, so the fix removes the mark. Cases use the harness of
``conftest.py`` and ``ledger.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.trace import NonRecordingSpan, SpanContext, StatusCode, TraceFlags
from sqlalchemy import select

import otel_provlog
from otel_provlog import attributes as attr
from otel_provlog.api import create_app
from otel_provlog.api.auth import hash_token
from otel_provlog.config import Settings
from otel_provlog.exporter import spool
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.drain import Drain, DrainOutcome
from otel_provlog.exporter.models import ProvisionStep
from otel_provlog.exporter.records import encode_record, record_from_span
from otel_provlog.exporter.writer import write_batch
from otel_provlog.testing import capture_spans

from .ledger import Ledger, check_store, entry_of
from .workload import provision

WRITER = "writer-token"


def _spans_of(*clusters: tuple[str, str]) -> list[Any]:
    """The ended spans of one small operation per (cluster, tenant)."""
    with capture_spans() as captured:
        for cluster, tenant in clusters:
            provision(captured.tracer_provider, {"cluster": cluster, "tenant": tenant, "events": 8})
    return captured.spans()


def test_ids_that_differ_by_trailing_spaces_never_stop_the_drain(database_url, engine, tmp_path):
    """Clusters "c-1" and "c-1 " in one spool: the drain stores every span, then leaves."""
    spans = _spans_of(("c-1", "t-1"), ("c-1 ", "t-1"), ("c-2", "t-1"))
    writer = spool.SpoolWriter(tmp_path / "spool")
    for span in spans:
        record = record_from_span(span)
        assert record is not None
        writer.append(encode_record(record))
    writer.close()
    finish = threading.Event()
    finish.set()
    drain = Drain(tmp_path / "spool", database_url, upgrade=False, backoff_max=0.2)
    assert drain.run(finish=finish, linger=1.0) is DrainOutcome.STORED
    entries = [entry for entry in map(entry_of, spans) if entry]
    check_store(engine, Ledger(must=entries, may=entries))


def _post(app: Any, spans: list[Any]) -> tuple[int, ExportTraceServiceResponse]:
    response = app.test_client().post(
        "/v1/traces",
        data=encode_spans(spans).SerializeToString(),
        content_type="application/x-protobuf",
        headers={"Authorization": f"Bearer {WRITER}"},
    )
    answer = ExportTraceServiceResponse()
    if response.status_code == 200:
        answer.ParseFromString(response.data)
    return response.status_code, answer


@pytest.fixture
def writer_app(database_url):
    """The API with ``tokens`` auth and a writer token of tenant t-1."""
    app = create_app(
        Settings(database_url=database_url, auth="tokens"),
        test_config={
            "TESTING": True,
            "PROVLOG_API_TOKENS": f"{hash_token(WRITER)}:writer:t-1",
            "PROVLOG_API_TOKENS_FILE": "",
        },
    )
    yield app
    for name in ("provlog", "provlog_ingest"):
        if name in app.extensions:
            app.extensions[name]["engine"].dispose()


def test_a_nul_in_a_cluster_id_never_fails_the_other_spans_of_a_request(writer_app, engine):
    """A scoped writer's request with one NUL-bearing cluster id: the valid spans are stored."""
    valid = _spans_of(("c-1", "t-1"))
    poison = _spans_of(("c-\x00x", "t-1"))
    status, _ = _post(writer_app, valid + poison)
    assert status == 200
    must = [entry for entry in map(entry_of, valid) if entry]
    may = must + [entry for entry in map(entry_of, poison) if entry]
    check_store(engine, Ledger(must=must, may=may), rejected_ok=True)


def test_a_scoped_writer_cannot_count_into_or_move_another_tenants_step(writer_app, engine):
    """Spans of tenant t-1 naming t-2's trace and step (as parent, as own id) are refused."""
    theirs = _spans_of(("c-b", "t-2"))
    write_batch(session_factory(engine), [r for r in map(record_from_span, theirs) if r])
    step = next(s for s in theirs if s.attributes[attr.SPAN_KIND] == attr.SPAN_STEP)
    context = step.get_span_context()
    before = _step_row(engine, context)
    as_parent = trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(context.trace_id, context.span_id, True, TraceFlags(TraceFlags.SAMPLED))
        )
    )
    with capture_spans() as captured:
        tracer = captured.tracer_provider.get_tracer("attacker")
        mine = {attr.CLUSTER_ID: "c-a", attr.TENANT_ID: "t-1"}
        event = tracer.start_span(
            "event", context=as_parent, attributes={**mine, attr.SPAN_KIND: attr.SPAN_EVENT}
        )
        event.set_status(StatusCode.ERROR, "counted into t-2's step")
        event.end()
        with otel_provlog.step(
            "c-a", "Renamed", total=1, tenant_id="t-1", tracer_provider=captured.tracer_provider
        ):
            pass
    spans = captured.spans()
    forged = [s for s in spans if s.attributes[attr.SPAN_KIND] == attr.SPAN_STEP]
    forged_step = _with_span_id(forged[0], context)
    status, answer = _post(writer_app, [spans[0], forged_step])
    assert status == 200
    assert answer.partial_success.rejected_spans == 2
    assert _step_row(engine, context) == before


def _step_row(engine, context) -> tuple[Any, ...]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(
                select(
                    ProvisionStep.cluster_id,
                    ProvisionStep.step_name,
                    ProvisionStep.completed,
                    ProvisionStep.failed,
                    ProvisionStep.status,
                ).where(
                    ProvisionStep.trace_id == format(context.trace_id, "032x"),
                    ProvisionStep.span_id == format(context.span_id, "016x"),
                )
            ).one()
        )


def _with_span_id(span: Any, context: SpanContext) -> Any:
    """Return a copy of an ended span that carries ``context`` (another span's ids) as its own."""
    from opentelemetry.sdk.trace import ReadableSpan

    return ReadableSpan(
        name=span.name,
        context=SpanContext(context.trace_id, context.span_id, False, context.trace_flags),
        parent=None,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
