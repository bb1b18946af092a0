"""Spans and spool segments as the instrumented process makes them.

Spool segments are written with the project's own :class:`~otel_provlog.exporter.spool.
SpoolWriter` and :func:`~otel_provlog.exporter.records.encode_record`, from records shaped
by :func:`~otel_provlog.exporter.records.record_from_span` on a real SDK span (one template
span, then new ids and times per record), so the drain reads exactly what the span
processor would have spooled, without paying the SDK per event while preparing a run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_provlog import attributes as attr
from otel_provlog.exporter import spool
from otel_provlog.exporter.records import SpanRecord, encode_record, record_from_span

DRAIN_SPAN_BASE: Final = 0x2000_0000_0000
"""Span ids of events made for the drain start here (seeded ones elsewhere)."""


class NoopExporter(SpanExporter):
    """An exporter that does nothing: the baseline's batch processor exports into it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def step_attributes(cluster_id: str, total: int = 0) -> dict[str, str | int]:
    """Attributes of a step span of ``cluster_id``."""
    return {
        attr.SPAN_KIND: attr.SPAN_STEP,
        attr.CLUSTER_ID: cluster_id,
        attr.TENANT_ID: "t-bench",
        attr.STEP_NAME: "Launching instances",
        attr.STEP_TYPE: "creating",
        attr.STEP_TOTAL: total,
    }


def event_attributes(cluster_id: str, n: int) -> dict[str, str]:
    """Attributes of the ``n``-th event span of ``cluster_id``."""
    return {
        attr.SPAN_KIND: attr.SPAN_EVENT,
        attr.CLUSTER_ID: cluster_id,
        attr.NODE_GROUP_ID: f"ng-{n % 3}",
        attr.INSTANCE_ID: f"i-{n}",
        attr.INSTANCE_NAME: f"worker-{n:07d}",
    }


def parent_context(trace_id: str, span_id: str) -> Context:
    """A context whose current span is the given (remote) one: new spans join its trace."""
    context = SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1)
    )
    return trace.set_span_in_context(NonRecordingSpan(context))


def _template() -> SpanRecord:
    kept = _Keep()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("bench")
    with (
        tracer.start_as_current_span("step", attributes=step_attributes("c-x")),
        tracer.start_as_current_span("instance event", attributes=event_attributes("c-x", 0)),
    ):
        pass
    provider.shutdown()
    record = record_from_span(kept.spans[0])
    assert record is not None
    assert record["kind"] == attr.SPAN_EVENT
    return record


_TEMPLATE: SpanRecord | None = None


def event_records(
    cluster_id: str, trace_id: str, step_span: str, first: int, count: int
) -> list[SpanRecord]:
    """Return ``count`` event records of one step, span ids ``first`` on (from the base)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = _template()
    now = time.time_ns()
    records: list[SpanRecord] = []
    for n in range(first, first + count):
        record = SpanRecord(**_TEMPLATE)  # every mutable field is replaced below
        record["trace_id"] = trace_id
        record["span_id"] = f"{DRAIN_SPAN_BASE + n:016x}"
        record["parent_span_id"] = step_span
        record["start_ns"] = now + n * 1000
        record["end_ns"] = now + n * 1000 + 500
        record["attributes"] = dict(event_attributes(cluster_id, n))
        records.append(record)
    return records


def write_spool(directory: Path, records: Sequence[SpanRecord]) -> None:
    """Append the records to a spool as a process that then ended would have left them."""
    writer = spool.SpoolWriter(directory)
    try:
        for record in records:
            writer.append(encode_record(record))
    finally:
        writer.close()
