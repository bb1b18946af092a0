"""Errors as JSON, in Sahara's shape, for every failure a request can meet.

Every error body is ``{"error_code": <HTTP status>, "error_name": <NAME>, "error_message":
<text>, "request_id": <id>}``. A store that does not answer (connection refused or lost,
locked, schema missing) is a 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``, logged in
one line. An unexpected exception becomes a 500 whose body carries the request id and an
``error_id`` that is also written, with the traceback, to the log; the traceback itself
never leaves the server.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Final

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from otel_provlog.exporter.database_errors import Failure, classify

__all__ = [
    "REQUEST_ID_HEADER",
    "ApiError",
    "error_response",
    "install_error_handlers",
    "log_unexpected",
    "not_found",
    "request_id",
]

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER: Final = "X-Request-Id"
"""Header carrying the request id, taken from the caller when well formed."""
OPENSTACK_REQUEST_ID_HEADER: Final = "X-Openstack-Request-Id"
"""The same id under the name OpenStack services use."""
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_NAMES: Final = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_SERVER_ERROR",
    501: "NOT_IMPLEMENTED_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An error the API reports on purpose: an HTTP status, a name and a message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        name: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.name = name or _NAMES.get(status, "ERROR")
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def not_found(**what: str) -> ApiError:
    """Return the 404 of a missing object, worded like Sahara's ("Object with ... not found")."""
    return ApiError(404, f"Object with {what!r} not found", name="NOT_FOUND")


def request_id() -> str:
    """Return the id of the current request: the caller's ``X-Request-Id`` or a new one."""
    found: str | None = g.get("request_id")
    if found is None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        found = given if _REQUEST_ID.match(given) else f"req-{uuid.uuid4()}"
        g.request_id = found
    return found


def error_response(status: int, name: str, message: str, **extra: Any) -> Response:
    """Return the JSON error response every failure uses."""
    body = {
        "error_code": status,
        "error_name": name,
        "error_message": message,
        "request_id": request_id(),
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    return response


def _on_api_error(error: ApiError) -> Response:
    response = error_response(error.status, error.name, error.message, **error.extra)
    response.headers.update(error.headers)
    return response


def _on_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    response = error_response(
        status, _NAMES.get(status, "HTTP_ERROR"), error.description or error.name
    )
    if status == 405 and error.response is None:
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def log_unexpected(error: Exception) -> str:
    """Log an unexpected exception with its traceback; return the error id it is logged under."""
    error_id = str(uuid.uuid4())
    logger.error(
        "unexpected error: error_id=%s request_id=%s %s %s",
        error_id,
        request_id(),
        request.method,
        request.path,
        exc_info=error,
    )
    return error_id


def _on_unexpected(error: Exception) -> Response:
    error_id = log_unexpected(error)
    return error_response(
        500,
        "INTERNAL_SERVER_ERROR",
        f"Internal Server Error (error id {error_id})",
        error_id=error_id,
    )


def _on_database_error(error: SQLAlchemyError) -> Response:
    if classify(error) not in (Failure.UNAVAILABLE, Failure.BUSY):
        return _on_unexpected(error)
    logger.warning(
        "the store does not answer: request_id=%s %s %s: %s",
        request_id(),
        request.method,
        request.path,
        " ".join(str(getattr(error, "orig", None) or error).split()),
    )
    response = error_response(503, "SERVICE_UNAVAILABLE", "The store does not answer")
    response.headers["Retry-After"] = "5"
    return response


def _add_request_id(response: Response) -> Response:
    identifier = request_id()
    response.headers[REQUEST_ID_HEADER] = identifier
    response.headers[OPENSTACK_REQUEST_ID_HEADER] = identifier
    return response


def install_error_handlers(app: Flask) -> None:
    """Make every error of ``app`` a JSON body and tag every response with its request id."""
    app.register_error_handler(ApiError, _on_api_error)
    app.register_error_handler(HTTPException, _on_http_exception)
    app.register_error_handler(SQLAlchemyError, _on_database_error)
    app.register_error_handler(Exception, _on_unexpected)
    app.after_request(_add_request_id)
