"""The span processor of the store path: ended provisioning spans into the local spool.

:class:`SpoolSpanProcessor` does as little as possible on the instrumented thread: per
ended span, :func:`~otel_provlog.exporter.records.record_from_span`, one JSON line and one
``os.write``. It never talks to the database and never raises into ``span.end()``: every
failure is counted and logged, at most once a minute per kind. A drain
(:mod:`otel_provlog.exporter.drain`) moves the spool into the store.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_provlog.exporter import spool
from otel_provlog.exporter.records import encode_record, record_from_span

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT_MILLIS",
    "DEFAULT_SHUTDOWN_TIMEOUT_MILLIS",
    "Counters",
    "RateLimitedLog",
    "SpoolSpanProcessor",
]

DEFAULT_SHUTDOWN_TIMEOUT_MILLIS: Final = 5_000
"""How long shutdown waits for the store before leaving the rest in the spool."""
DEFAULT_FLUSH_TIMEOUT_MILLIS: Final = 30_000
"""How long ``force_flush`` waits for the store by default."""
_POLL_SECONDS: Final = 0.01

logger = logging.getLogger("otel_provlog.exporter")


class RateLimitedLog:
    """Logs a failure at most once per ``interval`` seconds per key, with the count missed."""

    def __init__(self, log: logging.Logger = logger, *, interval: float = 60.0) -> None:
        self._log = log
        self._interval = interval
        self._last: dict[str, float] = {}
        self._missed: dict[str, int] = {}
        self._lock = threading.Lock()

    def exception(self, key: str, message: str) -> None:
        """Log ``message`` with the current exception, unless ``key`` was logged lately."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._missed[key] = self._missed.get(key, 0) + 1
                return
            self._last[key] = now
            missed = self._missed.pop(key, 0)
        suffix = f" ({missed} more since the last report)" if missed else ""
        with contextlib.suppress(Exception):  # a broken logging handler
            self._log.exception("%s%s", message, suffix)


@dataclass(slots=True)
class Counters:
    """What the store path did: records appended, written, duplicate, rejected, dropped, retried.

    ``appended``: records put in the spool by this process. ``dropped``: spans lost before
    the spool (it could not be written, or the processor was shut down). ``written``,
    ``duplicates``, ``rejected`` and ``retried`` are the drain's: records stored, records
    the store already had, records it refused as invalid, and records written again after
    a failed attempt (a conflict with another writer, or the database down).
    """

    appended: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retried: int = 0


class SpoolSpanProcessor(SpanProcessor):
    """Appends every ended provisioning span to the spool; never blocks on the database.

    Args:
        writer: the spool writer of this process.
        on_shutdown: called once at shutdown with the seconds left, to stop the drain.
        shutdown_timeout_millis: how long :meth:`shutdown` waits for the store.
    """

    def __init__(
        self,
        writer: spool.SpoolWriter,
        *,
        on_shutdown: Callable[[float], None] | None = None,
        shutdown_timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS,
    ) -> None:
        if shutdown_timeout_millis < 0:
            raise ValueError("shutdown_timeout_millis cannot be negative")
        self.writer = writer
        self.dropped = 0
        """Provisioning spans that could not be spooled."""
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self.on_shutdown = on_shutdown
        """Called once at shutdown with the seconds left, to stop the drain."""
        self._log = RateLimitedLog()
        self._shut = False
        self._shutdown_lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Do nothing: spans are recorded when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Append the span to the spool when it belongs to the event log; never raises."""
        try:
            record = record_from_span(span)
            if record is None:
                return
            if self._shut:
                self._drop()
                return
            self.writer.append(encode_record(record))
        except Exception:
            self._drop()
            self._log.exception("on_end", "otel_provlog: a span could not be spooled")

    def _drop(self) -> None:
        with self._shutdown_lock:
            self.dropped += 1

    def force_flush(self, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
        """Wait until every span this process ended so far is in the store.

        Also waits for spans left in the spool by dead processes (crashed earlier with the
        same settings), which a drain adopts. Returns False when the time ran out.
        """
        try:
            return self._wait_stored(time.monotonic() + max(timeout_millis, 0) / 1000.0)
        except Exception:
            self._log.exception("flush", "otel_provlog: force_flush failed")
            return False

    def _wait_stored(self, deadline: float) -> bool:
        writer, seq, size = self.writer.position()
        directory = self.writer.directory
        targets: list[tuple[spool.Segment, int]] = []
        for segment in spool.list_segments(directory):
            if segment.writer == writer:
                if segment.seq < seq:
                    targets.append((segment, _size(segment)))
                elif segment.seq == seq:
                    targets.append((segment, size))
            elif not spool.is_writer_alive(directory, segment.writer):
                targets.append((segment, _size(segment)))
        while True:
            targets = [(s, n) for s, n in targets if not spool.is_stored(s, n)]
            if not targets:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)

    def shutdown(self) -> None:
        """Flush for at most ``shutdown_timeout_millis``, then stop; the rest stays spooled.

        Idempotent. What is not stored in time stays in the spool for the next drain.
        """
        with self._shutdown_lock:
            if self._shut:
                return
            self._shut = True
        deadline = time.monotonic() + self.shutdown_timeout_millis / 1000.0
        try:
            self._wait_stored(deadline)
        except Exception:
            self._log.exception("shutdown", "otel_provlog: flushing at shutdown failed")
        try:
            self.writer.close()
        except Exception:
            self._log.exception("shutdown", "otel_provlog: closing the spool failed")
        if self.on_shutdown is not None:
            try:
                self.on_shutdown(max(deadline - time.monotonic(), 0.0))
            except Exception:
                self._log.exception("shutdown", "otel_provlog: stopping the drain failed")


def _size(segment: spool.Segment) -> int:
    try:
        return segment.path.stat().st_size
    except FileNotFoundError:
        return 0
