"""Query and path parameters: strict, validated, and a 400 (never a 500) when wrong.

Every endpoint names the parameters it accepts; any other one is refused the way Sahara's
v2 API refuses it (``INVALID_PARAMS_ON_REQUEST``). The pagination parameters ``marker``,
``limit`` and ``sort_by`` are accepted everywhere a list is returned.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from flask import request

from otel_provlog.api.errors import ApiError
from otel_provlog.config import FALSE_WORDS, TRUE_WORDS
from otel_provlog.exporter.mapping import clean_id
from otel_provlog.exporter.queries import Sort

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PAGINATION",
    "boolean",
    "check_allowed",
    "choices",
    "id_text",
    "limit",
    "marker",
    "path_id",
    "sahara_flag",
    "sort_by",
    "step_id",
    "text",
    "timestamp",
    "tristate",
]

DEFAULT_PAGE_SIZE: Final = 100
"""Rows in a page when the request gives no ``limit``."""
MAX_PAGE_SIZE: Final = 1000
"""The hard maximum page size: a larger ``limit`` is cut down to it."""
MAX_ID_LENGTH: Final = 255
"""Longest id or text a parameter may carry (the store's longest id column)."""
PAGINATION: Final = ("marker", "limit", "sort_by")
"""Parameters every list accepts (Sahara's pagination parameters)."""

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_NULL: Final = frozenset({"null", "none"})
_EARLIEST: Final = datetime(1000, 1, 1, tzinfo=UTC)


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, name="INVALID_PARAMS_ON_REQUEST")


def _bad_value(name: str, message: str) -> ApiError:
    return ApiError(400, f"'{name}' {message}", name="VALIDATION_ERROR")


def check_allowed(endpoint: str, allowed: Sequence[str], *, paginated: bool = True) -> None:
    """Refuse the request if it carries a query parameter ``endpoint`` does not accept."""
    pagination = list(PAGINATION) if paginated else []
    for name in request.args:
        if name not in allowed and name not in pagination:
            raise _invalid(
                f"The only valid params for {endpoint} are {list(allowed)} and {pagination}"
            )


def _clean(name: str, value: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not value or len(value) > max_length or _CONTROL.search(value):
        raise _bad_value(name, f"must be 1 to {max_length} printable characters")
    return value


def _identity(name: str, value: str) -> str:
    found = clean_id(_clean(name, value))
    if found is None:
        raise _bad_value(name, f"must be 1 to {MAX_ID_LENGTH} printable characters")
    return found


def path_id(name: str, value: str) -> str:
    """Return a path id as the store keeps ids (see :func:`clean_id`); a 400 if unprintable.

    It must be 1 to 255 printable characters; surrounding whitespace goes, the Unicode form
    becomes NFC and the case stays, exactly as when spans are stored.
    """
    return _identity(name, value)


def id_text(name: str) -> str | None:
    """Return the query parameter ``name`` as an id, like :func:`path_id`, or None."""
    value = request.args.get(name)
    return None if value is None else _identity(name, value)


def text(name: str) -> str | None:
    """Return the query parameter ``name`` (printable, at most 255 characters), or None."""
    value = request.args.get(name)
    return None if value is None else _clean(name, value)


def step_id(name: str) -> str | None:
    """Return the query parameter ``name`` if it is a step id (a UUID), or None."""
    value = text(name)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad_value(name, "must be a step id (a UUID)") from None


def choices(name: str, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    """Return every value of ``name`` (repeated or comma separated), each from ``allowed``."""
    values: list[str] = []
    for raw in request.args.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    known = None if allowed is None else tuple(allowed)
    values = [_identity(name, value) for value in values]
    for value in values:
        if known is not None and value not in known:
            raise _bad_value(name, f"must be one of {list(known)}, got {value!r}")
    return tuple(values)


def boolean(name: str) -> bool | None:
    """Return the query parameter ``name`` as a bool (true/false, 1/0...), or None."""
    value = request.args.get(name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise _bad_value(name, "must be true or false")


def tristate(name: str) -> tuple[bool, bool | None]:
    """Return (given, value) for a true/false/null parameter such as ``successful``."""
    value = request.args.get(name)
    if value is None:
        return False, None
    if value.strip().lower() in _NULL:
        return True, None
    return True, boolean(name)


def sahara_flag(name: str) -> bool:
    """Read a flag the way Sahara does: true when it reads ``true`` in any case."""
    return request.args.get(name, "false").strip().lower() == "true"


def timestamp(name: str) -> datetime | None:
    """Return the ISO 8601 query parameter ``name`` as an aware UTC datetime, or None.

    A value without an offset is taken to be UTC.
    """
    value = text(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_value(name, "must be an ISO 8601 timestamp") from None
    try:
        found = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise _bad_value(name, "is out of range") from None
    # Every backend stores years 1000 to 9999; earlier bounds select the same rows.
    return max(found, _EARLIEST)


def limit() -> int:
    """Return the page size: ``limit`` (a positive integer) cut to :data:`MAX_PAGE_SIZE`."""
    value = request.args.get("limit")
    if value is None:
        return DEFAULT_PAGE_SIZE
    digits = value.strip()
    significant = digits.lstrip("0")
    if not digits.isascii() or not digits.isdigit() or not significant:
        raise ApiError(400, "'limit' must be positive integer", name="VALIDATION_ERROR")
    if len(significant) > len(str(MAX_PAGE_SIZE)):
        return MAX_PAGE_SIZE
    return min(int(significant), MAX_PAGE_SIZE)


def marker() -> str | None:
    """Return the ``marker`` (the id of the last row already seen), or None."""
    return text("marker")


def sort_by(keys: Sequence[str]) -> Sort:
    """Return the order ``sort_by`` asks for: a key, descending with a leading ``-``."""
    value = request.args.get("sort_by")
    if value is None:
        return Sort()
    descending = value.startswith("-")
    key = value[1:] if descending else value
    if key not in keys:
        raise _bad_value("sort_by", f"must be one of {list(keys)}, optionally with a '-'")
    return Sort(key=key, descending=descending)
