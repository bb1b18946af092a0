"""OTLP/HTTP ingest: ``POST /v1/traces`` feeds the store through the idempotent writer.

Point any OpenTelemetry SDK's OTLP/HTTP exporter, or an OpenTelemetry Collector's
``otlphttp`` exporter, at the API (``endpoint: http://provlog:8080``; the exporter adds
``/v1/traces``)::

    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://provlog:8080/v1/traces
    OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Bearer <writer token>"

- bodies: ``application/x-protobuf`` or ``application/json`` (the OTLP JSON encoding),
  optionally ``Content-Encoding: gzip``; anything else is a 415, an unreadable body a 400;
- only spans carrying ``provisioning.span`` are stored (:mod:`otel_provlog.attributes`),
  the rest is accepted and skipped; a span sent twice is stored once;
- the answer is an ``ExportTraceServiceResponse`` in the request's encoding, whose
  ``partial_success`` counts the spans that could not be used and says why;
- when authentication is on, the credential needs the ``writer`` (or ``admin``) role; a
  writer of one tenant writes for that tenant only, by the rules of
  :mod:`otel_provlog.exporter.ownership` (its spans get its tenant; spans naming another
  tenant, or reaching another tenant's clusters, traces or rows, are rejected as partial
  success);
- a span the database refuses (a value no cleaning caught) is set aside in
  ``rejected_spans`` and counted in ``partial_success`` with the database's reason; the
  other spans are stored;
- only when the store does not answer (or stays busy), a 503 with ``Retry-After``, which
  OTLP exporters retry.

Errors are JSON in the API's usual shape (:mod:`otel_provlog.api.errors`). The writer
engine is made on the first request, from ``PROVLOG_DATABASE_URL``, and kept in
``app.extensions["provlog_ingest"]["engine"]``.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Mapping
from typing import Any, Final

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.api.auth import require_write
from otel_provlog.api.errors import ApiError

__all__ = ["MAX_BODY_BYTES", "PROTOBUF", "blueprint", "openapi_paths"]

logger = logging.getLogger(__name__)

PROTOBUF: Final = "application/x-protobuf"
"""The content type of protobuf-encoded OTLP bodies."""
JSON: Final = "application/json"
"""The content type of OTLP JSON bodies."""
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
"""The largest body accepted once decompressed."""
_EXTENSION: Final = "provlog_ingest"
_LOCK: Final = threading.Lock()

blueprint = Blueprint("ingest", __name__)


def _sessions() -> sessionmaker[Session]:
    """Return the writer session factory of this app, made on first use."""
    extensions = current_app.extensions
    if _EXTENSION not in extensions:
        from otel_provlog.exporter.database import create_store_engine, session_factory

        with _LOCK:
            if _EXTENSION not in extensions:
                engine = create_store_engine(current_app.config["PROVLOG_DATABASE_URL"])
                extensions[_EXTENSION] = {"engine": engine, "sessions": session_factory(engine)}
    sessions: sessionmaker[Session] = extensions[_EXTENSION]["sessions"]
    return sessions


def _body() -> bytes:
    data = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "deflate"):
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(data, MAX_BODY_BYTES + 1)
    except zlib.error as error:
        raise ApiError(400, f"The body is not valid {encoding}: {error}") from None
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"The decompressed body exceeds {MAX_BODY_BYTES} bytes")
    return body


def _span_id(record: object) -> str:
    return str(record.get("span_id") or "?") if isinstance(record, Mapping) else "?"


def _response(rejected: int, message: str, *, as_json: bool) -> Response:
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = message
    if as_json:
        return Response(json_format.MessageToJson(answer, indent=None), mimetype=JSON)
    return Response(answer.SerializeToString(), mimetype=PROTOBUF)


@blueprint.post("/v1/traces")
def export_traces() -> Response:
    """Store the provisioning spans of one OTLP ``ExportTraceServiceRequest``."""
    from otel_provlog.exporter.otlp_ingest import (
        OtlpPayloadError,
        records_from_json,
        records_from_protobuf,
    )
    from otel_provlog.exporter.writer import write_batch

    principal = require_write()
    content_type = (request.mimetype or "").lower()
    if content_type not in (PROTOBUF, JSON):
        raise ApiError(415, f"Send {PROTOBUF} or {JSON}, not {content_type or 'no type'!r}")
    as_json = content_type == JSON
    body = _body()
    try:
        result = records_from_json(body) if as_json else records_from_protobuf(body)
    except OtlpPayloadError as error:
        raise ApiError(400, str(error)) from None
    reasons = list(result.rejected)
    try:
        records = result.records
        scope = principal.tenant_scope
        written = write_batch(_sessions(), records, scope=scope) if records else None
    except SQLAlchemyError:
        logger.exception("OTLP ingest: the store does not answer")
        raise ApiError(
            503, "The store does not answer; retry later", headers={"Retry-After": "5"}
        ) from None
    if written is not None:
        reasons.extend(f"span {_span_id(item.record)}: {item.reason}" for item in written.rejected)
    return _response(len(reasons), "; ".join(reasons[:20]), as_json=as_json)


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI 3.0 path item of ``POST /v1/traces``, for the API's document."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "/v1/traces": {
            "post": {
                "summary": "Store the provisioning spans of an OTLP/HTTP trace export",
                "tags": ["ingest"],
                "operationId": "ingest.export_traces",
                "requestBody": {
                    "required": True,
                    "content": {PROTOBUF: binary, JSON: {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "An ExportTraceServiceResponse (partial_success lists "
                        "the spans that could not be used)",
                        "content": {PROTOBUF: binary, JSON: {"schema": {"type": "object"}}},
                    },
                    "400": {"description": "The body is no ExportTraceServiceRequest"},
                    "401": {"description": "Authentication required"},
                    "403": {"description": "The credential may not write"},
                    "413": {"description": "The body is too large"},
                    "415": {"description": "Unsupported content type or encoding"},
                    "503": {"description": "The store does not answer; retry later"},
                },
            }
        }
    }
