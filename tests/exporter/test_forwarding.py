"""OTLP forwarding: settings, bounded attributes, real receivers, and a receiver down or hung."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import otel_provlog
from otel_provlog import attributes
from otel_provlog.config import Settings
from otel_provlog.exporter import forwarding
from otel_provlog.exporter.forwarding import (
    ForwardingConfig,
    ForwardingHandle,
    ForwardingSpanProcessor,
    attach_forwarding,
    bound_span,
    forwarding_config,
)
from otel_provlog.testing import capture_spans
from tests.otlp_receivers import (
    GrpcReceiver,
    HangingReceiver,
    HttpReceiver,
    attributes_of,
    down_endpoint,
)

PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.mark.parametrize(
    ("endpoint", "environ", "expected"),
    [
        (None, {}, None),
        ("off", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None),
        ("http://tempo:4318", {}, ("http://tempo:4318/v1/traces", "http/protobuf", 2.0)),
        ("http://tempo:4318/v1/traces", {}, ("http://tempo:4318/v1/traces", "http/protobuf", 2.0)),
        ("tempo:4317", {}, ("http://tempo:4317", "grpc", 2.0)),
        ("https://c:443/otlp", {}, ("https://c:443/otlp/v1/traces", "http/protobuf", 2.0)),
        (
            "http://c:4318",
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TIMEOUT": "5"},
            ("http://c:4318", "grpc", 5.0),
        ),
        (
            None,
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "600"},
            ("http://c:4318/v1/traces", "http/protobuf", forwarding.MAX_TIMEOUT_S),
        ),
        (
            None,
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1.5",
            },
            ("http://c:4318/custom", "http/protobuf", 1.5),
        ),
    ],
)
def test_forwarding_config(
    endpoint: str | None, environ: dict[str, str], expected: tuple[str, str, float] | None
) -> None:
    """The endpoint, protocol and timeout come from the settings, then the OTEL variables."""
    config = forwarding_config(Settings(otlp_endpoint=endpoint), environ)
    assert config == (None if expected is None else ForwardingConfig(*expected))


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
        {"OTEL_EXPORTER_OTLP_TIMEOUT": "-1"},
    ],
)
def test_forwarding_config_rejects_bad_values(environ: dict[str, str]) -> None:
    """An unknown protocol or an unreadable timeout is a ValueError at set-up."""
    with pytest.raises(ValueError, match="OTLP"):
        forwarding_config(Settings(otlp_endpoint="http://c:4318"), environ)


def _failed_event_span(info_size: int) -> ReadableSpan:
    with capture_spans() as captured:
        provider = captured.tracer_provider
        with otel_provlog.step("c-1", "Waiting for ssh", total=1, tracer_provider=provider) as step:
            event = step.event(instance_id="i-1", instance_name="w-1", node_group_id="ng")
            with pytest.raises(RuntimeError), event:
                raise RuntimeError("é" * info_size)
    return next(
        s for s in captured.spans() if s.attributes and s.attributes.get(attributes.ERROR_ID)
    )


def test_bound_span_cuts_long_texts_and_keeps_the_error_id() -> None:
    """Info, status message and stacktrace fit Tempo's 2 KB; the error id survives whole."""
    span = _failed_event_span(5000)
    bounded = bound_span(span)
    attrs = dict(bounded.attributes or {})
    error_id = str(attrs[attributes.ERROR_ID])
    assert attrs[attributes.ERROR_ID] == (span.attributes or {})[attributes.ERROR_ID]
    info = str(attrs[attributes.EVENT_INFO])
    assert len(info.encode()) <= forwarding.INFO_LIMIT
    assert info.startswith("éé")
    assert error_id in info
    assert len((bounded.status.description or "").encode()) <= forwarding.INFO_LIMIT
    (exception,) = [e for e in bounded.events if e.name == "exception"]
    stacktrace = str((exception.attributes or {})["exception.stacktrace"])
    assert len(stacktrace.encode()) <= forwarding.STACKTRACE_LIMIT
    assert stacktrace.rstrip().endswith("é")
    assert len(str((exception.attributes or {})["exception.message"]).encode()) <= 2000
    assert bounded.get_span_context() == span.get_span_context()
    assert bounded.parent == span.parent


def test_bound_span_leaves_short_spans_alone() -> None:
    """A span with short texts is passed on as the same object."""
    span = _failed_event_span(10)
    assert bound_span(span) is span


def _provider(
    endpoint: str, protocol: str, **options: float
) -> tuple[TracerProvider, ForwardingHandle]:
    provider = TracerProvider()
    handle = attach_forwarding(
        provider,
        Settings(otlp_endpoint=endpoint),
        environ={"OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
        **options,
    )
    assert handle is not None
    return provider, handle


def _provision(provider: TracerProvider, events: int = 3) -> None:
    with (
        otel_provlog.operation("c-1", "creating", tenant_id="t-1", tracer_provider=provider),
        otel_provlog.step("c-1", "Launching", total=events, tracer_provider=provider) as step,
    ):
        for number in range(events - 1):
            step.add_success(instance_id=f"i-{number}", instance_name=f"w-{number}")
        with pytest.raises(ValueError, match="x"), step.event(instance_id="i-last"):
            raise ValueError("x" * 10_000)


@pytest.fixture(params=PROTOCOLS)
def receiver(request: pytest.FixtureRequest) -> Iterator[GrpcReceiver | HttpReceiver]:
    """A real OTLP receiver for each protocol."""
    made = GrpcReceiver() if request.param == "grpc" else HttpReceiver()
    made.protocol = request.param  # type: ignore[attr-defined]
    with made:
        yield made


def test_spans_reach_a_real_receiver(receiver: GrpcReceiver | HttpReceiver) -> None:
    """Every provisioning span arrives over gRPC and HTTP, failures with a bounded info."""
    provider, handle = _provider(receiver.endpoint, receiver.protocol)  # type: ignore[attr-defined]
    tracer = provider.get_tracer("other")
    tracer.start_span("not provisioning").end()
    _provision(provider)
    assert handle.force_flush(5000)
    spans = receiver.wait_for(7, timeout=5)
    kinds = sorted(attributes_of(s)[attributes.SPAN_KIND] for s in spans)
    assert kinds == [
        "event",
        "event",
        "event",
        "operation",
        "operation.start",
        "step",
        "step.start",
    ]
    (failed,) = [s for s in spans if attributes.ERROR_ID in attributes_of(s)]
    assert len(attributes_of(failed)[attributes.EVENT_INFO].encode()) <= forwarding.INFO_LIMIT
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    counts = handle.counts()
    assert (counts.queued, counts.sent, counts.lost, counts.pending) == (7, 7, 0, 0)
    provider.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", ["down", "hanging"])
def test_a_dead_receiver_neither_blocks_nor_hangs(protocol: str, kind: str) -> None:
    """With the receiver down or silent, spans end at once; flush and shutdown are bounded."""
    hanging = HangingReceiver() if kind == "hanging" else None
    endpoint = hanging.endpoint if hanging else down_endpoint()
    try:
        provider, handle = _provider(endpoint, protocol, schedule_delay_millis=50)
        started = time.monotonic()
        _provision(provider, events=50)
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        handle.force_flush(300)
        assert time.monotonic() - started < 1.0
        handle.force_flush(3000)
        _provision(provider, events=50)
        started = time.monotonic()
        assert not handle.force_flush(20_000)  # gives up after one failed export
        assert time.monotonic() - started < 3.0
        started = time.monotonic()
        provider.shutdown()
        assert time.monotonic() - started < forwarding.DEFAULT_SHUTDOWN_TIMEOUT_S + 1.5
        counts = handle.counts()
        assert counts.sent == 0
        assert counts.queued == 108  # two runs of 54 spans: 50 events, 2 markers, step, operation
        assert counts.pending == 0
    finally:
        if hanging:
            hanging.stop()


def test_a_full_queue_drops_and_counts() -> None:
    """When the exporter cannot keep up, spans are dropped and counted, never waited for."""

    class _Slow(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            time.sleep(0.2)
            return SpanExportResult.SUCCESS

    processor = ForwardingSpanProcessor(
        _Slow(), max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=10
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    started = time.monotonic()
    _provision(provider, events=100)
    assert time.monotonic() - started < 1.0
    provider.shutdown()
    counts = processor.counts()
    assert counts.dropped > 0
    assert counts.queued + counts.dropped == 104
    assert counts.sent + counts.failed + counts.dropped >= 104 - counts.queued


_EXIT_SCRIPT = """
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
import otel_provlog
from otel_provlog.config import Settings
from otel_provlog.exporter.forwarding import attach_forwarding

provider = TracerProvider()
trace.set_tracer_provider(provider)
attach_forwarding(provider, Settings(otlp_endpoint=sys.argv[1]),
                  environ={"OTEL_EXPORTER_OTLP_PROTOCOL": sys.argv[2]})
with otel_provlog.step("c-1", "Launching", total=200) as step:
    for number in range(200):
        step.add_success(instance_id=str(number))
print("done", flush=True)
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_process_exits_promptly_while_the_receiver_hangs(protocol: str, tmp_path: Path) -> None:
    """A program forwarding to a receiver that never answers still exits in a few seconds."""
    script = tmp_path / "hang.py"
    script.write_text(textwrap.dedent(_EXIT_SCRIPT))
    with HangingReceiver() as hanging:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script), hanging.endpoint, protocol],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert elapsed < 10, elapsed


def test_full_traceback_in_sql_bounded_one_sent_out(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through configure(), the store keeps the whole failure; the receiver gets it cut."""
    from sqlalchemy import select

    from otel_provlog.exporter.database import create_store_engine, session_factory
    from otel_provlog.exporter.mapping import EVENT_INFO_LIMIT
    from otel_provlog.exporter.models import ClusterEvent
    from otel_provlog.exporter.pipeline import configure

    monkeypatch.chdir(tmp_path)
    provider = TracerProvider()
    with HttpReceiver() as receiver:
        handle = configure(
            tracer_provider=provider,
            drain="thread",
            database_url=database_url,
            spool_dir=str(tmp_path / "spool"),
            otlp_endpoint=receiver.endpoint,
        )
        try:
            _provision(provider, events=2)
            assert handle.force_flush(20_000)
            spans = receiver.wait_for(5, timeout=10)
        finally:
            handle.shutdown()
    (sent,) = [attributes_of(s) for s in spans if attributes.ERROR_ID in attributes_of(s)]
    engine = create_store_engine(database_url, writer=False)
    try:
        with session_factory(engine)() as session:
            stored = session.scalars(
                select(ClusterEvent).where(ClusterEvent.successful.is_(False))
            ).one()
    finally:
        engine.dispose()
    assert stored.error_id == sent[attributes.ERROR_ID]
    assert stored.event_info is not None
    assert stored.event_info.startswith("xxx")
    assert len(stored.event_info) <= EVENT_INFO_LIMIT
    assert stored.stacktrace is not None
    assert len(stored.stacktrace) > 10_000
    assert stored.stacktrace.startswith("Traceback")
    assert len(sent[attributes.EVENT_INFO].encode()) <= forwarding.INFO_LIMIT
    assert stored.error_id in sent[attributes.EVENT_INFO]


_CONFIGURED_SCRIPT = """
import otel_provlog

otel_provlog.configure()
with otel_provlog.step("c-1", "Launching", total=200) as step:
    for number in range(200):
        step.add_success(instance_id=str(number))
print("done", flush=True)
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_configure_stores_everything_and_exits_while_the_receiver_hangs(
    protocol: str, tmp_path: Path
) -> None:
    """With PROVLOG_OTLP_ENDPOINT on a silent receiver, the store gets all, the exit is quick."""
    import os

    from sqlalchemy import create_engine, text

    script = tmp_path / "configured.py"
    script.write_text(textwrap.dedent(_CONFIGURED_SCRIPT))
    database = tmp_path / "store.db"
    with HangingReceiver() as hanging:
        environ = {
            **os.environ,
            "PROVLOG_DATABASE_URL": f"sqlite:///{database}",
            "PROVLOG_SPOOL_DIR": str(tmp_path / "spool"),
            "PROVLOG_OTLP_ENDPOINT": hanging.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert elapsed < 15, elapsed
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT completed FROM provision_steps")).scalar()
    finally:
        engine.dispose()
    assert stored == 200
