"""Span records: the small JSON form an ended provisioning span takes on its way to the store.

A span processor turns each ended span into a :class:`SpanRecord` with
:func:`record_from_span` (on the instrumented thread, so it is cheap), appends it to the
local spool as one line with :func:`encode_record`, and the drain reads it back with
:func:`decode_record` before :mod:`otel_provlog.exporter.writer` stores it.

The wire format, version 1 (one JSON object per line, UTF-8, ending in a newline)::

    {"v": 1,
     "trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | null,
     "kind": "operation" | "operation.start" | "step" | "step.start" | "event",
     "name": "<span name>", "start_ns": <int>, "end_ns": <int>,
     "status": "unset" | "ok" | "error", "status_message": "<text>" | null,
     "attributes": {"provisioning.<key>": <value>, ...},
     "exception": {"type": "...", "message": "...", "stacktrace": "..."} | null}

``attributes`` holds only the ``provisioning.*`` attributes of the span, values as the span
carried them (sequences become JSON arrays). ``exception`` comes from the span's first
``exception`` event. Readers must ignore keys they do not know; a change that old readers
cannot ignore takes a new ``v``.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any, Final, TypedDict, cast

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import StatusCode

from otel_provlog.attributes import PREFIX, SPAN_KIND

__all__ = [
    "RECORD_VERSION",
    "ExceptionRecord",
    "SpanRecord",
    "decode_record",
    "encode_record",
    "record_from_span",
    "spool_line",
]

RECORD_VERSION: Final = 1
"""The value of ``"v"`` in records of the current format."""

_STATUS: Final = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
_REQUIRED: Final = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "name",
    "start_ns",
    "end_ns",
    "status",
    "status_message",
    "attributes",
    "exception",
)


class ExceptionRecord(TypedDict):
    """The exception a span recorded (its first ``exception`` event)."""

    type: str
    message: str
    stacktrace: str


class SpanRecord(TypedDict):
    """One ended provisioning span, as the spool stores it (see the module docstring)."""

    v: int
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str
    name: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    exception: ExceptionRecord | None


def _attributes(source: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, value in source.items():
        if key.startswith(PREFIX):
            attributes[key] = list(value) if isinstance(value, tuple) else value
    return attributes


def _exception(span: ReadableSpan) -> ExceptionRecord | None:
    for event in span.events:
        if event.name == "exception":
            found = event.attributes or {}
            return {
                "type": str(found.get(EXCEPTION_TYPE, "")),
                "message": str(found.get(EXCEPTION_MESSAGE, "")),
                "stacktrace": str(found.get(EXCEPTION_STACKTRACE, "")),
            }
    return None


def record_from_span(span: ReadableSpan) -> SpanRecord | None:
    """Return the record of an ended span, or None when it is no provisioning span.

    A provisioning span carries the ``provisioning.span`` attribute. Only the
    ``provisioning.*`` attributes are kept; nothing is validated here (the writer cleans
    and, if need be, rejects the record), so the instrumented thread pays little.
    """
    source = span.attributes
    if not source:
        return None
    kind = source.get(SPAN_KIND)
    if kind is None:
        return None
    context = span.get_span_context()
    parent = span.parent
    start_ns = span.start_time or 0
    status = span.status
    return {
        "v": RECORD_VERSION,
        "trace_id": format(context.trace_id, "032x") if context else "",
        "span_id": format(context.span_id, "016x") if context else "",
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "kind": str(kind),
        "name": span.name,
        "start_ns": start_ns,
        "end_ns": span.end_time or start_ns,
        "status": _STATUS.get(status.status_code, "unset"),
        "status_message": status.description,
        "attributes": _attributes(source),
        "exception": _exception(span),
    }


def spool_line(span: ReadableSpan) -> tuple[str, bytes] | None:
    """Return the kind and the spool line of an ended span, or None when it is no provisioning span.

    The line is ``encode_record(record_from_span(span))``, written straight from the span:
    this runs on the instrumented thread for every span, and the record in between cost
    as much again as the line.
    """
    source = span.attributes
    if not source:
        return None
    kind = source.get(SPAN_KIND)
    if kind is None:
        return None
    kind = str(kind)
    context = span.get_span_context()
    parent = span.parent
    start_ns = span.start_time or 0
    status = span.status
    exception = _exception(span)
    line = "".join(
        (
            '{"v":1,"trace_id":"',
            format(context.trace_id, "032x") if context else "",
            '","span_id":"',
            format(context.span_id, "016x") if context else "",
            f'","parent_span_id":"{parent.span_id:016x}",'
            if parent
            else '","parent_span_id":null,',
            '"kind":',
            _string(kind),
            ',"name":',
            _string(str(span.name)),
            ',"start_ns":',
            str(start_ns),
            ',"end_ns":',
            str(span.end_time or start_ns),
            ',"status":"',
            _STATUS.get(status.status_code, "unset"),
            '","status_message":',
            "null" if status.description is None else _string(str(status.description)),
            ',"attributes":',
            _ENCODER.encode(_attributes(source)),
            ',"exception":',
            "null" if exception is None else _ENCODER.encode(exception),
            "}\n",
        )
    )
    return kind, line.encode("ascii")


def _fallback(value: object) -> object:
    """Let values JSON cannot write (a hand-made record's) travel as their text."""
    return str(value)


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=_fallback)
_DECODER: Final = json.JSONDecoder()
_string: Final = encode_basestring_ascii
"""A str as a JSON string in ASCII, quotes included (the json module's C function)."""


def encode_record(record: SpanRecord) -> bytes:
    """Return ``record`` as one line of JSON (ASCII, so any string survives) and a newline."""
    return _ENCODER.encode(record).encode("ascii") + b"\n"


def decode_record(line: bytes) -> SpanRecord:
    """Read one line written by :func:`encode_record` back into a record.

    Only the shape is checked (a JSON object of version 1 with every key); values are
    cleaned, or the record rejected, by the writer.

    Raises:
        ValueError: for a line that is not such a record (torn write, other version, garbage).
    """
    try:
        data = _DECODER.decode(line.decode("ascii"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not a JSON span record: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a span record: a JSON {type(data).__name__}, not an object")
    if data.get("v") != RECORD_VERSION:
        raise ValueError(f"unknown span record version {data.get('v')!r}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ValueError(f"span record lacks {', '.join(missing)}")
    return cast(SpanRecord, data)
