"""Which steps and operations each spool writer started and has not ended (yet).

The drain notes every record it stores: a ``step.start`` or ``operation.start`` marker
opens its step or operation for the writer (the process) that spooled it, the step or
operation span itself closes it. Once that writer is dead and all its segments are
stored, nothing more can come from it: what it left open lost its end (the process died,
or its end span was dropped from a full spool), and the drain marks it interrupted at
once instead of waiting ``PROVLOG_STALE_AFTER``. A record whose marker was stored by an
earlier drain is not known here; staleness still ends that one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_provlog import attributes as attr
from otel_provlog._ids import span_row_id

__all__ = ["OpenSpans"]

_HEX: Final = frozenset("0123456789abcdef")
_OPENS: Final = {
    attr.SPAN_STEP_START: attr.SPAN_STEP,
    attr.SPAN_OPERATION_START: attr.SPAN_OPERATION,
}
_ENDS: Final = frozenset(_OPENS.values())


def _hex(value: object, length: int) -> str | None:
    if not isinstance(value, str) or len(value) != length:
        return None
    text = value.lower()
    return text if set(text) <= _HEX and text.strip("0") else None


class OpenSpans:
    """Per writer, the row ids of the steps and operations it opened and did not end."""

    def __init__(self) -> None:
        self._open: dict[str, dict[str, str]] = {}

    def note(self, writer: str, record: Mapping[str, Any]) -> None:
        """Take one stored record of ``writer`` into account."""
        kind = record.get("kind")
        if kind not in _OPENS and kind not in _ENDS:
            return
        trace_id = _hex(record.get("trace_id"), 32)
        span_key = "parent_span_id" if kind in _OPENS else "span_id"
        span_id = _hex(record.get(span_key), 16)
        if trace_id is None or span_id is None:
            return
        row_id = span_row_id(trace_id, span_id)
        if kind in _OPENS:
            self._open.setdefault(writer, {})[row_id] = _OPENS[kind]
        elif writer in self._open:
            self._open[writer].pop(row_id, None)

    def close(self, writer: str) -> dict[str, str]:
        """Forget ``writer`` and return what it left open: row id -> ``step``/``operation``."""
        return self._open.pop(writer, {})
