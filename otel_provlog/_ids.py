"""Row ids: the one rule that names a stored step, event or operation after its span.

The store, the API and the instrumentation all derive the id of a row from the span it was
made from, so every writer in every process computes the same id without asking the
database, and the id a step reports (``Step.id``, Sahara's ``add_provisioning_step``) is
the id the REST API serves. Operations and steps are named by (trace id, span id) alone,
since their children name them by their parent span id; events, which nothing names, also
by the millisecond they ended, so that their ids grow with time.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

__all__ = ["event_row_id", "span_row_id"]

_ROW_ID_NAMESPACE: Final = uuid.UUID("6f0c3a56-2f0e-4b8e-9a43-4f7d2b1c9e10")
_NAMESPACE_BYTES: Final = _ROW_ID_NAMESPACE.bytes


def _hash(trace_id: str, span_id: str) -> bytearray:
    return bytearray(
        hashlib.sha1(
            _NAMESPACE_BYTES + f"{trace_id}-{span_id}".encode(), usedforsecurity=False
        ).digest()[:16]
    )


def _text(digest: bytearray) -> str:
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def span_row_id(trace_id: str, span_id: str) -> str:
    """Return the row id of the span ``(trace_id, span_id)``: a UUID, the same everywhere.

    Both ids are lower-case hex (32 and 16 digits), as OpenTelemetry prints them.
    """
    # uuid.uuid5(_ROW_ID_NAMESPACE, name), spelled out: the drain names every row it
    # writes, and the UUID object in between cost more than the hash.
    digest = _hash(trace_id, span_id)
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return _text(digest)


_MS: Final = 1_000_000
_TIME_BITS: Final = (1 << 48) - 1


def event_row_id(trace_id: str, span_id: str, end_ns: int) -> str:
    """Return the row id of the event span ``(trace_id, span_id)`` that ended at ``end_ns``.

    A UUID (RFC 9562 version 8) whose first 48 bits are the end in Unix milliseconds, as in
    version 7, and whose other bits are :func:`span_row_id`'s hash: the same span names
    the same row everywhere, and the ids of events grow with time, so storing an event
    appends to the end of the store's indexes instead of touching a random page of them
    (which costs more the more events are stored).
    """
    digest = _hash(trace_id, span_id)
    digest[:6] = ((end_ns // _MS) & _TIME_BITS).to_bytes(6, "big")
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
    return _text(digest)
