"""The spool span processor: cheap, never raising, flushing and shutting down in bounded time."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_provlog import attributes as attr
from otel_provlog.exporter import processor as processor_module
from otel_provlog.exporter import spool
from otel_provlog.exporter.drain import Drain
from otel_provlog.exporter.processor import SpoolSpanProcessor
from otel_provlog.exporter.records import decode_record
from otel_provlog.exporter.writer import WriteResult

STEP = {
    attr.SPAN_KIND: attr.SPAN_STEP,
    attr.CLUSTER_ID: "c-1",
    attr.TENANT_ID: "t-1",
    attr.STEP_NAME: "Launching instances",
    attr.STEP_TYPE: "creating",
    attr.STEP_TOTAL: 2,
}


def _event(n: int) -> dict[str, object]:
    return {
        attr.SPAN_KIND: attr.SPAN_EVENT,
        attr.CLUSTER_ID: "c-1",
        attr.NODE_GROUP_ID: "ng-1",
        attr.INSTANCE_ID: f"i-{n}",
        attr.INSTANCE_NAME: f"worker-{n}",
    }


def _setup(directory, **options):
    processor = SpoolSpanProcessor(spool.SpoolWriter(directory), **options)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    return processor, provider.get_tracer("test")


def _spooled(directory):
    lines = []
    for segment in spool.list_segments(directory):
        lines += spool.read_lines(segment.path, 0, 10_000)[0]
    return [decode_record(line) for line in lines]


def _store(factory, records):
    return WriteResult(written=len(records))


def test_provisioning_spans_are_spooled_and_others_ignored(tmp_path):
    """Step, marker and event spans are appended as they end; other spans are not."""
    processor, tracer = _setup(tmp_path)
    with tracer.start_as_current_span("Launching instances", attributes=STEP):
        tracer.start_span("started", attributes={**STEP, attr.SPAN_KIND: "step.start"}).end()
        assert [r["kind"] for r in _spooled(tmp_path)] == ["step.start"]
        with tracer.start_as_current_span("GET /", attributes={"http.method": "GET"}):
            pass
        with tracer.start_as_current_span("instance event", attributes=_event(1)):
            pass
    assert [r["kind"] for r in _spooled(tmp_path)] == ["step.start", "event", "step"]
    assert processor.writer.appended == 3
    assert processor.dropped == 0


def test_a_failing_processor_never_reaches_the_caller(tmp_path, monkeypatch, caplog):
    """An error while recording is counted and logged once; the program's own error wins."""

    def broken(span):
        raise RuntimeError("recording bug")

    monkeypatch.setattr(processor_module, "spool_line", broken)
    processor, tracer = _setup(tmp_path)
    with caplog.at_level(logging.ERROR, logger="otel_provlog.exporter"):
        for n in range(50):
            with tracer.start_as_current_span("e", attributes=_event(n)):
                pass
        with (
            pytest.raises(KeyError, match="the program's own"),
            tracer.start_as_current_span("e", attributes=_event(99)),
        ):
            raise KeyError("the program's own")
    assert processor.dropped == 51
    assert len([r for r in caplog.records if "could not be spooled" in r.getMessage()]) == 1


def test_an_unwritable_spool_drops_and_never_raises(tmp_path, caplog):
    """When the spool cannot be written spans are counted as dropped, not raised."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    processor, tracer = _setup(blocker / "spool")
    with caplog.at_level(logging.ERROR, logger="otel_provlog.exporter"):
        for n in range(20):
            with tracer.start_as_current_span("e", attributes=_event(n)):
                pass
    assert (processor.dropped, processor.writer.appended) == (20, 0)
    assert len(caplog.records) == 1


def test_step_spans_wait_in_memory_and_the_oldest_go_first(tmp_path, monkeypatch, caplog):
    """Step spans the spool refuses are held, up to HELD_LIMIT; shutdown counts what is left."""
    monkeypatch.setattr(processor_module, "HELD_LIMIT", 2)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    processor, tracer = _setup(blocker / "spool", shutdown_timeout_millis=50)
    for name in ("one", "two", "three"):
        with tracer.start_as_current_span(name, attributes=STEP):
            pass
    assert processor.held == 2
    assert processor.dropped_kinds == {"step": 1}
    with caplog.at_level(logging.WARNING, logger="otel_provlog.exporter"):
        processor.shutdown()
    assert (processor.held, processor.dropped, processor.dropped_kinds) == (0, 3, {"step": 3})
    assert any("2 step and operation span(s) lost" in r.getMessage() for r in caplog.records)


def test_force_flush_waits_for_the_store(tmp_path):
    """force_flush is False while nothing drains, True once a drain stored everything."""
    processor, tracer = _setup(tmp_path / "spool")
    for n in range(5):
        with tracer.start_as_current_span("e", attributes=_event(n)):
            pass
    started = time.monotonic()
    assert processor.force_flush(timeout_millis=100) is False
    assert 0.09 < time.monotonic() - started < 1
    drain = Drain(tmp_path / "spool", "sqlite://", upgrade=False, write=_store)
    assert drain.drain_once() == 5
    assert processor.force_flush(timeout_millis=100) is True


def test_force_flush_waits_for_spans_of_dead_writers(tmp_path):
    """Segments left by a dead process count as unflushed until a drain stores them."""
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "1-dead.00000001.seg").write_bytes(b"{}\n")
    processor, _ = _setup(directory)
    assert processor.force_flush(timeout_millis=50) is False
    Drain(directory, "sqlite://", upgrade=False, write=_store).drain_once()
    assert processor.force_flush(timeout_millis=50) is True


def test_shutdown_is_bounded_and_leaves_the_rest_spooled(tmp_path):
    """Without a working drain, shutdown returns after its timeout; the spans stay on disk."""
    stopped = []
    processor, tracer = _setup(tmp_path, shutdown_timeout_millis=300)
    processor.on_shutdown = stopped.append
    for n in range(3):
        with tracer.start_as_current_span("e", attributes=_event(n)):
            pass
    started = time.monotonic()
    processor.shutdown()
    assert 0.25 < time.monotonic() - started < 1.5
    assert stopped == [0.0]
    processor.shutdown()  # idempotent
    with tracer.start_as_current_span("late", attributes=_event(9)):
        pass
    assert processor.dropped == 1
    assert len(_spooled(tmp_path)) == 3
    assert not spool.is_writer_alive(tmp_path, processor.writer.writer)


def test_bad_arguments_raise_at_setup(tmp_path):
    """Constructor arguments are checked at set-up, not at run time."""
    with pytest.raises(ValueError, match="negative"):
        SpoolSpanProcessor(spool.SpoolWriter(tmp_path), shutdown_timeout_millis=-1)
    with pytest.raises(ValueError, match="positive"):
        spool.SpoolWriter(tmp_path, segment_bytes=0)
