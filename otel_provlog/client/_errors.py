"""The client's exceptions: what went wrong, with the API's own words and request id."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "ApiError",
    "NotFoundError",
    "ProvlogError",
    "UnavailableError",
    "UnreachableError",
    "error_from_response",
]

REQUEST_ID_HEADER: Final = "X-Request-Id"
"""The header the API tags every response with (see ``otel_provlog.api.errors``)."""
UNAVAILABLE_STATUSES: Final = frozenset({502, 503, 504})
"""Statuses meaning the API, or the store behind it, does not answer now."""


class ProvlogError(Exception):
    """Base of every error the client raises."""


class UnreachableError(ProvlogError):
    """The API (offline: the store) could not be reached, or did not answer in time."""


class ApiError(ProvlogError):
    """The API answered with an error: its HTTP status, ``error_name`` and message."""

    def __init__(
        self, status: int, error_name: str, error_message: str, request_id: str | None = None
    ) -> None:
        self.status = status
        self.error_name = error_name
        self.error_message = error_message
        self.request_id = request_id
        suffix = f", request {request_id}" if request_id else ""
        super().__init__(f"{error_name}: {error_message} (HTTP {status}{suffix})")


class NotFoundError(ApiError):
    """What was asked for does not exist, or belongs to another tenant (a 404)."""


class UnavailableError(ApiError, UnreachableError):
    """The API answered 502, 503 or 504 on every try: it, or its store, does not answer."""


def error_from_response(status: int, body: Any, headers: Any, reason: str = "") -> ApiError:
    """Return the exception for an error response (its JSON body when it has one)."""
    body = body if isinstance(body, dict) else {}
    name = str(body.get("error_name") or f"HTTP_{status}")
    message = str(body.get("error_message") or reason or "no message")
    request_id = body.get("request_id") or headers.get(REQUEST_ID_HEADER)
    kind: type[ApiError] = ApiError
    if status == 404:
        kind = NotFoundError
    elif status in UNAVAILABLE_STATUSES:
        kind = UnavailableError
    return kind(status, name, message, str(request_id) if request_id else None)
