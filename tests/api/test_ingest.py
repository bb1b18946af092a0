"""POST /v1/traces: OTLP/HTTP protobuf and JSON into the store, idempotent, with auth."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import func, select
from werkzeug.serving import make_server

import otel_provlog
from otel_provlog.api import ingest
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.models import Cluster, ClusterEvent, ProvisionStep, RejectedSpan
from otel_provlog.testing import capture_spans

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _with_ingest(app: Any) -> Iterator[Any]:
    if "ingest" not in app.blueprints:
        app.register_blueprint(ingest.blueprint)
    yield app
    made = app.extensions.get("provlog_ingest")
    if made is not None:
        made["engine"].dispose()


@pytest.fixture
def ingest_app(app: Any) -> Iterator[Any]:
    """The API app (auth none) serving the ingest endpoint."""
    yield from _with_ingest(app)


@pytest.fixture
def ingest_token_app(token_app: Any) -> Iterator[Any]:
    """The API app with token auth serving the ingest endpoint."""
    yield from _with_ingest(token_app)


def _spans(cluster: str = "c-1", tenant: str = "t-1", events: int = 3) -> list[ReadableSpan]:
    with capture_spans() as captured:
        provider = captured.tracer_provider
        with (
            otel_provlog.operation(cluster, "creating", tenant_id=tenant, tracer_provider=provider),
            otel_provlog.step(
                cluster, "Launching", total=events, tenant_id=tenant, tracer_provider=provider
            ) as step,
        ):
            for number in range(events - 1):
                step.add_success(instance_id=f"i-{number}")
            with pytest.raises(OSError, match="down"), step.event(instance_id="i-last"):
                raise OSError("down")
    return captured.spans()


def _counts(url: str) -> tuple[int, int, int, int]:
    engine = create_store_engine(url, writer=False)
    try:
        with session_factory(engine)() as session:
            clusters = session.scalar(select(func.count()).select_from(Cluster))
            events = session.scalar(select(func.count()).select_from(ClusterEvent))
            completed, failed = session.execute(
                select(func.sum(ProvisionStep.completed), func.sum(ProvisionStep.failed))
            ).one()
            return (clusters or 0, events or 0, completed or 0, failed or 0)
    finally:
        engine.dispose()


def test_protobuf_spans_are_stored_once(ingest_app: Any, database_url: str) -> None:
    """A protobuf export is stored; sending it again changes nothing."""
    client = ingest_app.test_client()
    body = encode_spans(_spans()).SerializeToString()
    for _ in range(2):
        response = client.post("/v1/traces", data=body, headers=PROTOBUF)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/x-protobuf"
        answer = ExportTraceServiceResponse()
        answer.ParseFromString(response.get_data())
        assert answer.partial_success.rejected_spans == 0
        assert _counts(database_url) == (1, 3, 2, 1)


def test_json_and_gzip_bodies(ingest_app: Any, database_url: str, otlp_json: Any) -> None:
    """OTLP JSON and gzip-compressed protobuf bodies are read too."""
    client = ingest_app.test_client()
    response = client.post(
        "/v1/traces",
        data=json.dumps(otlp_json(encode_spans(_spans("c-1")))).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {}
    compressed = gzip.compress(encode_spans(_spans("c-2")).SerializeToString())
    response = client.post(
        "/v1/traces", data=compressed, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _counts(database_url) == (2, 6, 4, 2)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "text/plain"}, b"hello", 415),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400),
        (PROTOBUF, b"\xff\xff\xff garbage", 400),
        ({"Content-Type": "application/json"}, b"[1]", 400),
    ],
)
def test_bad_requests_get_json_errors(
    ingest_app: Any, headers: dict[str, str], body: bytes, status: int
) -> None:
    """Wrong types, encodings and bodies are refused with the API's JSON errors."""
    response = ingest_app.test_client().post("/v1/traces", data=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()
    assert error["error_code"] == status
    assert error["error_message"]


def test_unusable_spans_are_partial_success(ingest_app: Any, otlp_json: Any) -> None:
    """A span with unusable ids is counted in partial_success; the others are stored."""
    data = otlp_json(encode_spans(_spans()))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "00" * 16
    response = ingest_app.test_client().post(
        "/v1/traces", data=json.dumps(data), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    partial = response.get_json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert "trace_id" in partial["errorMessage"]


def test_writing_needs_a_writer_credential(
    ingest_token_app: Any, bearer: Any, database_url: str
) -> None:
    """Without a token 401, a reader 403, a writer 200; other tenants' spans are refused."""
    client = ingest_token_app.test_client()
    body = encode_spans(_spans()).SerializeToString()
    assert client.post("/v1/traces", data=body, headers=PROTOBUF).status_code == 401
    response = client.post("/v1/traces", data=body, headers={**PROTOBUF, **bearer("reader")})
    assert response.status_code == 403
    response = client.post("/v1/traces", data=body, headers={**PROTOBUF, **bearer("writer")})
    assert response.status_code == 200
    assert _counts(database_url) == (1, 3, 2, 1)
    other = encode_spans(_spans("c-1", tenant="t-2")).SerializeToString()
    response = client.post("/v1/traces", data=other, headers={**PROTOBUF, **bearer("writer")})
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.get_data())
    assert answer.partial_success.rejected_spans == 7  # with the operation.start marker
    assert "another tenant" in answer.partial_success.error_message
    assert _counts(database_url) == (1, 3, 2, 1)


_CLIENT_SCRIPT = """
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

assert "otel_provlog" not in sys.modules
provider = TracerProvider(resource=Resource.create({"service.name": "remote-agent"}))
exporter = OTLPSpanExporter(
    endpoint=sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]},
    compression=Compression.Gzip, timeout=10,
)
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("remote")
base = {"provisioning.cluster.id": "c-remote", "provisioning.tenant.id": "t-1"}
with tracer.start_as_current_span("scaling", attributes={
        **base, "provisioning.span": "operation", "provisioning.step.type": "scaling",
        "provisioning.cluster.name": "remote"}):
    step_attrs = {**base, "provisioning.span": "step", "provisioning.step.name": "Waiting",
                  "provisioning.step.type": "scaling", "provisioning.step.total": 4}
    with tracer.start_as_current_span("Waiting", attributes=step_attrs):
        tracer.start_span("Waiting started", attributes={
            **step_attrs, "provisioning.span": "step.start"}).end()
        for n in range(4):
            with tracer.start_as_current_span("instance event", attributes={
                    "provisioning.span": "event", "provisioning.cluster.id": "c-remote",
                    "provisioning.instance.id": f"i-{n}", "provisioning.node_group.id": "ng"}):
                pass
    tracer.start_span("unrelated").end()
assert provider.force_flush(15000)
provider.shutdown()
assert "otel_provlog" not in sys.modules
print("sent")
"""


def test_the_real_otlp_http_exporter_feeds_the_store(
    ingest_token_app: Any, database_url: str, tmp_path: Path
) -> None:
    """opentelemetry-exporter-otlp-proto-http in another process writes through the API."""
    server = make_server("127.0.0.1", 0, ingest_token_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(_CLIENT_SCRIPT))
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                str(script),
                f"http://127.0.0.1:{server.server_port}/v1/traces",
                "writer-secret",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent"
    assert _counts(database_url) == (1, 4, 4, 0)


def _json_post(client: Any, data: dict[str, Any]) -> Any:
    return client.post(
        "/v1/traces", data=json.dumps(data), headers={"Content-Type": "application/json"}
    )


def test_a_span_the_database_refuses_is_partial_success(
    ingest_app: Any, refusing_store: str, otlp_json: Any
) -> None:
    """One event the database refuses: 200, counted with the database's reason; rest stored."""
    from tests.conftest import REFUSED_INSTANCE

    data = otlp_json(encode_spans(_spans(events=4)))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for span in spans:
        for item in span["attributes"]:
            if item["key"] == "provisioning.instance.id" and item["value"]["stringValue"] == "i-1":
                item["value"]["stringValue"] = REFUSED_INSTANCE
    client = ingest_app.test_client()
    for _ in range(2):  # a replay stores nothing twice and sets the span aside once
        response = _json_post(client, data)
        assert response.status_code == 200, response.get_data(as_text=True)
        partial = response.get_json()["partialSuccess"]
        assert int(partial["rejectedSpans"]) == 1
        assert "refused by the database" in partial["errorMessage"]
        assert _counts(refusing_store) == (1, 3, 2, 1)
    engine = create_store_engine(refusing_store, writer=False)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(RejectedSpan)) == 1
    engine.dispose()


def test_ingest_answers_503_only_while_the_database_is_down(
    database_url: str, unreachable_url: str
) -> None:
    """A store that does not answer is a 503 with Retry-After; nothing is set aside."""
    from tests.api.conftest import make_app

    app = make_app(database_url)
    app.config["PROVLOG_DATABASE_URL"] = unreachable_url
    served = _with_ingest(app)
    try:
        response = (
            next(served)
            .test_client()
            .post("/v1/traces", data=encode_spans(_spans()).SerializeToString(), headers=PROTOBUF)
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.get_json()["error_code"] == 503
    finally:
        next(served, None)
        app.extensions["provlog"]["engine"].dispose()
    assert _counts(database_url) == (0, 0, 0, 0)


def test_ids_that_differ_by_spaces_or_unicode_form_are_one_case_keeps_them_apart(
    ingest_app: Any, database_url: str
) -> None:
    """'c1', ' c1 ' and 'c1' with a NUL are one cluster, 'C1' another, NFC and NFD 'é' one."""
    client = ingest_app.test_client()
    sent = ["c1", "c1 ", " c1", "c\x001", "C1", "caf\u00e9", "cafe\u0301"]
    for cluster in sent:
        body = encode_spans(_spans(cluster, tenant=" t-1 ", events=1)).SerializeToString()
        response = client.post("/v1/traces", data=body, headers=PROTOBUF)
        assert response.status_code == 200, response.get_data(as_text=True)
    listed = client.get("/v2/clusters?limit=100").get_json()["clusters"]
    assert sorted(cluster["id"] for cluster in listed) == sorted(["c1", "C1", "caf\u00e9"])
    assert {cluster["project_id"] for cluster in listed} == {"t-1"}
    for asked, found in [
        ("c1", "c1"),
        ("c1%20", "c1"),
        ("%20c1", "c1"),
        ("C1", "C1"),
        ("caf%C3%A9", "caf\u00e9"),
        ("cafe%CC%81", "caf\u00e9"),
    ]:
        response = client.get(f"/v2/clusters/{asked}")
        assert response.status_code == 200, asked
        assert response.get_json()["cluster"]["id"] == found
        response = client.get(f"/v1.1/%20t-1/clusters/{asked}")
        assert response.get_json()["cluster"]["id"] == found
    assert client.get("/v2/clusters/c2").status_code == 404
    assert client.get("/v2/clusters/c1%00").status_code == 400
    events = client.get("/v2/clusters/c1/events?instance_id=%20i-last%20").get_json()["events"]
    assert len(events) == 4  # one from each of the four runs sent as c1


def _kind(span: dict[str, Any]) -> str:
    return next(
        a["value"]["stringValue"] for a in span["attributes"] if a["key"] == "provisioning.span"
    )


def _json_spans(otlp_json: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    data = otlp_json(encode_spans(_spans(*args, **kwargs)))
    spans: list[dict[str, Any]] = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    return spans


def _set(span: dict[str, Any], key: str, value: str | None) -> dict[str, Any]:
    """Set (or, with None, remove) a string attribute of an OTLP JSON span."""
    kept = [a for a in span["attributes"] if a["key"] != key]
    if value is not None:
        kept.append({"key": key, "value": {"stringValue": value}})
    return {**span, "attributes": kept}


def _rows_of(url: str, clusters: list[str]) -> dict[str, list[dict[str, Any]]]:
    engine = create_store_engine(url, writer=False)
    try:
        with session_factory(engine)() as session:
            found: dict[str, list[dict[str, Any]]] = {}
            for model in (Cluster, ProvisionStep, ClusterEvent):
                column = model.id if model is Cluster else model.cluster_id
                query = select(*model.__table__.columns).where(column.in_(clusters))
                rows = session.execute(query.order_by(model.id)).mappings()
                found[model.__tablename__] = [dict(row) for row in rows]
            return found
    finally:
        engine.dispose()


def _post_json(client: Any, spans: list[dict[str, Any]], headers: dict[str, str]) -> Any:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    response = client.post(
        "/v1/traces", data=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_tenants_writer_cannot_reach_another_tenants_rows(
    ingest_token_app: Any, bearer: Any, database_url: str, otlp_json: Any
) -> None:
    """Cleaned ids, borrowed trace and span ids, a cluster without tenant: all rejected."""
    client = ingest_token_app.test_client()
    theirs = _json_spans(otlp_json, "c-2", tenant="t-2")
    free = [_set(s, "provisioning.tenant.id", None) for s in _json_spans(otlp_json, "c-free")]
    for spans in (theirs, free):
        assert _post_json(client, spans, bearer("admin")) == {}
    before = _rows_of(database_url, ["c-2", "c-free"])
    step = next(s for s in theirs if _kind(s) == "step")
    event = next(s for s in _json_spans(otlp_json, "c-1") if _kind(s) == "event")
    hostile = [
        _set(s, "provisioning.cluster.id", "c-2\u0000")
        for s in _json_spans(otlp_json, "c-9")
        if _kind(s) == "event"
    ]
    hostile += [
        {**event, "traceId": step["traceId"], "parentSpanId": step["spanId"]},
        {
            **_set(_set(step, "provisioning.cluster.id", "c-1"), "provisioning.tenant.id", None),
            "status": {"code": 2},
        },
        _set(_set(event, "provisioning.cluster.id", "c-free"), "provisioning.span", "event"),
    ]
    mine = [_set(s, "provisioning.tenant.id", None) for s in _json_spans(otlp_json, "c-1")]
    partial = _post_json(client, [*hostile, *mine], bearer("writer"))["partialSuccess"]
    assert int(partial["rejectedSpans"]) == len(hostile)
    message = partial["errorMessage"]
    assert message.count("belongs to another tenant") == 3
    assert message.count("stored under another cluster") == 2
    assert "cluster 'c-free' has no tenant" in message
    assert _rows_of(database_url, ["c-2", "c-free"]) == before
    assert _counts(database_url) == (3, 9, 6, 3)
    mine_read = client.get("/v2/clusters/c-1", headers=bearer("reader"))
    assert mine_read.get_json()["cluster"]["project_id"] == "t-1"
    assert client.get("/v2/clusters/c-free/events", headers=bearer("reader")).status_code == 404
