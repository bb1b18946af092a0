"""Bounds on what leaves for OTLP receivers: long texts cut, the error id kept whole.

Full tracebacks stay in SQL. A span sent out keeps ``provisioning.event.error_id`` and
carries a bounded event info, status message and exception stacktrace (Tempo truncates
attributes over 2 KB); each cut says where the full text is::

    exporter = BoundedSpanExporter(OTLPSpanExporter(...))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from otel_provlog import attributes

__all__ = ["ATTRIBUTE_LIMIT", "INFO_LIMIT", "STACKTRACE_LIMIT", "BoundedSpanExporter", "bound_span"]

INFO_LIMIT: Final = 1024
"""Bytes (UTF-8) of ``provisioning.event.info`` and the status message sent out."""
STACKTRACE_LIMIT: Final = 2000
"""Bytes of an exception's ``exception.stacktrace`` sent out (its last frames are kept)."""
ATTRIBUTE_LIMIT: Final = 2000
"""Bytes of any other string attribute sent out."""


def _cut(text: str, limit: int, *, keep_tail: bool = False, note: str = "") -> str:
    """Return ``text`` within ``limit`` UTF-8 bytes, marking what was cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    marker = f" [... {len(data) - limit} bytes cut{note}] "
    room = max(limit - len(marker.encode()), 0)
    if keep_tail:
        kept = data[len(data) - room :].decode("utf-8", "ignore")
        return marker.lstrip() + kept
    return data[:room].decode("utf-8", "ignore") + marker.rstrip()


def _bound_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return _cut(value, limit)
    if isinstance(value, tuple | list) and any(isinstance(item, str) for item in value):
        return tuple(_cut(item, limit) if isinstance(item, str) else item for item in value)
    return value


def _bound_attributes(source: Mapping[str, Any] | None, note: str) -> dict[str, Any] | None:
    if not source:
        return None
    bounded: dict[str, Any] = {}
    changed = False
    for key, value in source.items():
        if key == attributes.EVENT_INFO and isinstance(value, str):
            new = _cut(value, INFO_LIMIT, note=note)
        elif key == attributes.EXCEPTION_STACKTRACE and isinstance(value, str):
            new = _cut(value, STACKTRACE_LIMIT, keep_tail=True, note=note)
        else:
            new = _bound_value(value, ATTRIBUTE_LIMIT)
        changed = changed or new is not value
        bounded[key] = new
    return bounded if changed else None


def bound_span(span: ReadableSpan) -> ReadableSpan:
    """Return ``span`` with its long texts cut (the same object when nothing is too long).

    ``provisioning.event.info`` and the status message keep their first :data:`INFO_LIMIT`
    bytes, an exception's stacktrace its last :data:`STACKTRACE_LIMIT` bytes, any other
    string :data:`ATTRIBUTE_LIMIT` bytes; each cut says where the full text is (the event
    log, under the span's ``provisioning.event.error_id``).
    """
    error_id = (span.attributes or {}).get(attributes.ERROR_ID)
    note = f"; full text in the event log, error_id {error_id}" if error_id else ""
    new_attributes = _bound_attributes(span.attributes, note)
    new_events: list[Event] = []
    events_changed = False
    for event in span.events:
        bounded = _bound_attributes(event.attributes, note)
        if bounded is None:
            new_events.append(event)
        else:
            events_changed = True
            new_events.append(Event(event.name, bounded, event.timestamp))
    status = span.status
    description = status.description
    new_description = _cut(description, INFO_LIMIT) if description else description
    if new_attributes is None and not events_changed and new_description is description:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=new_attributes if new_attributes is not None else span.attributes,
        events=new_events,
        links=span.links,
        kind=span.kind,
        status=Status(status.status_code, new_description),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class BoundedSpanExporter(SpanExporter):
    """A span exporter that cuts long texts (:func:`bound_span`) before the real one sends."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        """The exporter that sends."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` with their long texts cut."""
        return self.exporter.export([bound_span(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the real exporter down (it stops retrying at once)."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the real exporter."""
        return self.exporter.force_flush(timeout_millis)
