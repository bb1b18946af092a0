"""Row ids: the one rule that names a stored step, event or operation after its span.

The store, the API and the instrumentation all derive the id of a row from the span it was
made from, so every writer in every process computes the same id without asking the
database, and the id a step reports (``Step.id``, Sahara's ``add_provisioning_step``) is
the id the REST API serves.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

__all__ = ["span_row_id"]

_ROW_ID_NAMESPACE: Final = uuid.UUID("6f0c3a56-2f0e-4b8e-9a43-4f7d2b1c9e10")
_NAMESPACE_BYTES: Final = _ROW_ID_NAMESPACE.bytes


def span_row_id(trace_id: str, span_id: str) -> str:
    """Return the row id of the span ``(trace_id, span_id)``: a UUID, the same everywhere.

    Both ids are lower-case hex (32 and 16 digits), as OpenTelemetry prints them.
    """
    # uuid.uuid5(_ROW_ID_NAMESPACE, name), spelled out: the drain names every row it
    # writes, and the UUID object in between cost more than the hash.
    digest = bytearray(
        hashlib.sha1(
            _NAMESPACE_BYTES + f"{trace_id}-{span_id}".encode(), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
