"""OTLP trace payloads into span records: pure functions, no database, no web framework.

An OTLP/HTTP request body (an ``ExportTraceServiceRequest`` as protobuf, or in the OTLP
JSON encoding) becomes a list of :class:`~otel_provlog.exporter.records.SpanRecord`, the
same records the local spool carries, so that spans from any SDK or an OpenTelemetry
Collector reach the store through the one idempotent writer::

    from otel_provlog.exporter.otlp_ingest import records_from_protobuf
    result = records_from_protobuf(body)
    write_batch(factory, result.records)

What is converted, per span:

- ids: bytes (protobuf) or hex strings (JSON) into lower-case hex; a span whose trace or
  span id is missing or malformed is rejected (:attr:`IngestResult.rejected`);
- times: ``start_time_unix_nano`` and ``end_time_unix_nano`` (an unset end is the start);
- attributes: only ``provisioning.*`` keys, as Python values (arrays become lists);
  spans without ``provisioning.span`` are not provisioning spans and are skipped
  (:attr:`IngestResult.ignored`), so a Collector may send everything it has;
- status: ``unset``/``ok``/``error`` and its message;
- the first ``exception`` event: its type, message and stacktrace, kept apart.

A body that cannot be read at all raises :class:`OtlpPayloadError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_provlog import attributes as attr
from otel_provlog.attributes import SPAN_KIND
from otel_provlog.exporter.records import RECORD_VERSION, ExceptionRecord, SpanRecord

__all__ = [
    "IngestResult",
    "OtlpPayloadError",
    "decode_json_request",
    "decode_protobuf_request",
    "record_from_otlp_span",
    "records_from_json",
    "records_from_protobuf",
    "records_from_request",
]

_STATUS: Final = {
    Status.STATUS_CODE_UNSET: "unset",
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}
_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_MAX_DEPTH: Final = 8


class OtlpPayloadError(ValueError):
    """A request body that is no readable ``ExportTraceServiceRequest``."""


@dataclass(slots=True)
class IngestResult:
    """The records read from one request, and what was left out."""

    records: list[SpanRecord] = field(default_factory=list)
    """The provisioning spans, as records for the writer."""
    ignored: int = 0
    """Spans without ``provisioning.span``: not ours, skipped without complaint."""
    rejected: list[str] = field(default_factory=list)
    """Why each unusable provisioning span was rejected (one reason per span)."""


def decode_protobuf_request(body: bytes) -> ExportTraceServiceRequest:
    """Read a protobuf ``ExportTraceServiceRequest``.

    Raises:
        OtlpPayloadError: for bytes that are not one.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeWarning, ValueError) as error:
        raise OtlpPayloadError(f"not an OTLP protobuf ExportTraceServiceRequest: {error}") from None
    return request


def _hex_to_base64(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        raise OtlpPayloadError(f"{name}: expected a hex string, got {type(value).__name__}")
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        raise OtlpPayloadError(f"{name}: expected a hex string, got {value[:40]!r}") from None


def _ids_to_base64(spans: Any) -> None:
    """OTLP JSON writes ids as hex, protobuf's JSON mapping expects base64: convert."""
    if not isinstance(spans, list):
        return
    for span in spans:
        if not isinstance(span, dict):
            continue
        for name in _ID_FIELDS:
            if name in span:
                span[name] = _hex_to_base64(span[name], name)
        for link in span.get("links") or []:
            if isinstance(link, dict):
                for name in _ID_FIELDS:
                    if name in link:
                        link[name] = _hex_to_base64(link[name], name)


def _each(data: Mapping[str, Any], *names: str) -> Iterable[Any]:
    for name in names:
        found = data.get(name)
        if isinstance(found, list):
            yield from found


def decode_json_request(body: bytes | str) -> ExportTraceServiceRequest:
    """Read an ``ExportTraceServiceRequest`` in the OTLP JSON encoding (hex ids, camelCase).

    Unknown fields are ignored, as the OTLP specification asks of receivers.

    Raises:
        OtlpPayloadError: for a body that is not such a JSON document.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise OtlpPayloadError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise OtlpPayloadError(f"expected a JSON object, got a {type(data).__name__}")
    for resource_spans in _each(data, "resourceSpans", "resource_spans"):
        if isinstance(resource_spans, dict):
            for scope_spans in _each(resource_spans, "scopeSpans", "scope_spans"):
                if isinstance(scope_spans, dict):
                    _ids_to_base64(scope_spans.get("spans"))
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise OtlpPayloadError(f"not an OTLP JSON ExportTraceServiceRequest: {error}") from None
    return request


def _value(value: AnyValue, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind is None or depth > _MAX_DEPTH:
        return None
    if kind == "array_value":
        return [_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value, depth + 1) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def _hex(data: bytes, size: int, name: str) -> str:
    if len(data) != size or not any(data):
        raise ValueError(
            f"{name} must be {size} bytes, not all zero, got {binascii.hexlify(data)!r}"
        )
    return data.hex()


def _exception(span: Span) -> ExceptionRecord | None:
    for event in span.events:
        if event.name == attr.EXCEPTION_EVENT:
            found = {item.key: _value(item.value) for item in event.attributes}
            return {
                "type": str(found.get(attr.EXCEPTION_TYPE) or ""),
                "message": str(found.get(attr.EXCEPTION_MESSAGE) or ""),
                "stacktrace": str(found.get(attr.EXCEPTION_STACKTRACE) or ""),
            }
    return None


def record_from_otlp_span(span: Span) -> SpanRecord | None:
    """Return the record of one protobuf span, or None when it is no provisioning span.

    Raises:
        ValueError: for a provisioning span whose ids are unusable (the reason).
    """
    attributes: dict[str, Any] = {}
    for item in span.attributes:
        if item.key.startswith(attr.PREFIX):
            attributes[item.key] = _value(item.value)
    kind = attributes.get(SPAN_KIND)
    if kind is None:
        return None
    trace_id = _hex(span.trace_id, 16, "trace_id")
    span_id = _hex(span.span_id, 8, "span_id")
    parent = span.parent_span_id.hex() if any(span.parent_span_id) else None
    if parent is not None and len(parent) != 16:
        raise ValueError(f"parent_span_id must be 8 bytes, got {parent!r}")
    start_ns = int(span.start_time_unix_nano)
    return {
        "v": RECORD_VERSION,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "kind": str(kind),
        "name": span.name,
        "start_ns": start_ns,
        "end_ns": int(span.end_time_unix_nano) or start_ns,
        "status": _STATUS.get(span.status.code, "unset"),
        "status_message": span.status.message or None,
        "attributes": attributes,
        "exception": _exception(span),
    }


def records_from_request(request: ExportTraceServiceRequest) -> IngestResult:
    """Return the records of every provisioning span of ``request`` (see the module docstring)."""
    result = IngestResult()
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    record = record_from_otlp_span(span)
                except ValueError as error:
                    label = span.span_id.hex() or span.name or "?"
                    result.rejected.append(f"span {label}: {error}")
                    continue
                if record is None:
                    result.ignored += 1
                else:
                    result.records.append(record)
    return result


def records_from_protobuf(body: bytes) -> IngestResult:
    """Read a protobuf request body into records.

    Raises:
        OtlpPayloadError: for a body that is no ``ExportTraceServiceRequest``.
    """
    return records_from_request(decode_protobuf_request(body))


def records_from_json(body: bytes | str) -> IngestResult:
    """Read an OTLP JSON request body into records.

    Raises:
        OtlpPayloadError: for a body that is no ``ExportTraceServiceRequest`` in OTLP JSON.
    """
    return records_from_request(decode_json_request(body))
