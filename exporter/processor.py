"""The span processor of the store path: ended provisioning spans into the local spool.

:class:`SpoolSpanProcessor` does as little as possible on the instrumented thread: per
ended span, :func:`~otel_provlog.exporter.records.spool_line` (its record as one JSON
line) and one ``os.write``. It never talks to the database and never raises into
``span.end()``: every failure is counted and logged, at most once a minute per kind. A drain
(:mod:`otel_provlog.exporter.drain`) moves the spool into the store.

When the spool's filesystem is full, events are dropped first: the spans of steps and
operations and their markers are appended with ``priority`` (they take the writer's
reserved space), and those that still cannot be written are held in memory (at most
:data:`HELD_LIMIT`) and written as soon as the spool takes records again: at the next
span, ``force_flush`` or ``shutdown``. Dropped spans are counted by kind.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_provlog.attributes import SPAN_EVENT, SPAN_KINDS
from otel_provlog.exporter import spool
from otel_provlog.exporter.records import spool_line

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT_MILLIS",
    "DEFAULT_SHUTDOWN_TIMEOUT_MILLIS",
    "HELD_LIMIT",
    "PRIORITY_KINDS",
    "Counters",
    "RateLimitedLog",
    "SpoolSpanProcessor",
]

DEFAULT_SHUTDOWN_TIMEOUT_MILLIS: Final = 5_000
"""How long shutdown waits for the store before leaving the rest in the spool."""
DEFAULT_FLUSH_TIMEOUT_MILLIS: Final = 30_000
"""How long ``force_flush`` waits for the store by default."""
HELD_LIMIT: Final = 4096
"""Most step and operation spans held in memory while the spool is full (the oldest go)."""
PRIORITY_KINDS: Final = SPAN_KINDS - {SPAN_EVENT}
"""Kinds of span kept before events when the spool is full: steps, operations, markers."""
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
    the spool (it could not be written, or the processor was shut down), and
    ``dropped_kinds`` the same by span kind (``event``, ``step``, ``step.start``...);
    ``held``: step and operation spans waiting in memory for room in the spool.
    ``written``, ``duplicates``, ``rejected``, ``retried`` and ``batches`` are the
    drain's: records stored, records the store already had, records it refused as invalid,
    records written again after a failed attempt (a conflict with another writer, or the
    database down; a batch tried three times adds its size twice), and batches stored.
    A drain counts only those; :meth:`plus` adds two drains' counts.
    """

    appended: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retried: int = 0
    held: int = 0
    dropped_kinds: dict[str, int] = field(default_factory=dict)
    batches: int = 0

    def plus(self, other: Counters) -> Counters:
        """Return the sum of both counts (the dropped kinds merged)."""
        kinds = dict(self.dropped_kinds)
        for kind, count in other.dropped_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
        return Counters(
            appended=self.appended + other.appended,
            written=self.written + other.written,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            dropped=self.dropped + other.dropped,
            retried=self.retried + other.retried,
            held=self.held + other.held,
            dropped_kinds=kinds,
            batches=self.batches + other.batches,
        )


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
        self.dropped_kinds: dict[str, int] = {}
        """The same, by span kind."""
        self.shutdown_timeout_millis = shutdown_timeout_millis
        self.on_shutdown = on_shutdown
        """Called once at shutdown with the seconds left, to stop the drain."""
        self._log = RateLimitedLog()
        self._shut = False
        self._shutdown_lock = threading.Lock()
        self._held: deque[tuple[str, bytes]] = deque()
        self._held_lock = threading.Lock()
        self._held_retry_at = 0.0

    @property
    def held(self) -> int:
        """Step and operation spans waiting in memory for room in the spool."""
        return len(self._held)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Do nothing: spans are recorded when they end."""

    def on_end(self, span: ReadableSpan) -> None:
        """Append the span to the spool when it belongs to the event log; never raises."""
        kind = SPAN_EVENT
        try:
            found = spool_line(span)
            if found is None:
                return
            kind = found[0] if found[0] in SPAN_KINDS else "other"
            if self._shut:
                self._drop(kind)
                return
            priority = kind in PRIORITY_KINDS
            line = found[1]
            if self._held:
                self._write_held(force=priority)
            try:
                self.writer.append(line, priority=priority)
            except OSError:
                if not priority:
                    raise
                self._hold(kind, line)
                self._log.exception("hold", "otel_provlog: spool full; a step span waits in memory")
        except Exception:
            self._drop(kind)
            self._log.exception("on_end", "otel_provlog: a span could not be spooled")

    def _drop(self, kind: str, count: int = 1) -> None:
        with self._shutdown_lock:
            self.dropped += count
            self.dropped_kinds[kind] = self.dropped_kinds.get(kind, 0) + count

    def _hold(self, kind: str, line: bytes) -> None:
        with self._held_lock:
            self._held.append((kind, line))
            lost = self._held.popleft() if len(self._held) > HELD_LIMIT else None
            self._held_retry_at = time.monotonic() + spool.RETRY_AFTER_FAILURE
        if lost is not None:
            self._drop(lost[0])

    def _write_held(self, *, force: bool) -> bool:
        """Append the held spans, oldest first, until one fails; True when none is left.

        Without ``force`` it tries at most once per :data:`spool.RETRY_AFTER_FAILURE`.
        """
        with self._held_lock:
            if not force and time.monotonic() < self._held_retry_at:
                return not self._held
            while self._held:
                try:
                    self.writer.append(self._held[0][1], priority=True)
                except OSError:
                    self._held_retry_at = time.monotonic() + spool.RETRY_AFTER_FAILURE
                    return False
                self._held.popleft()
            return True

    def _drop_held(self) -> None:
        with self._held_lock:
            lost = list(self._held)
            self._held.clear()
        for kind, _ in lost:
            self._drop(kind)
        if lost:
            logger.warning(
                "otel_provlog: the spool stayed full; %d step and operation span(s) lost",
                len(lost),
            )

    def force_flush(self, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
        """Wait until every span this process ended so far is in the store.

        Also waits for spans left in the spool by dead processes (crashed earlier with the
        same settings), which a drain adopts. Returns False when the time ran out.
        """
        try:
            deadline = time.monotonic() + max(timeout_millis, 0) / 1000.0
            return self._wait_held(deadline) and self._wait_stored(deadline)
        except Exception:
            self._log.exception("flush", "otel_provlog: force_flush failed")
            return False

    def _wait_held(self, deadline: float) -> bool:
        """Try to spool the held spans until ``deadline``; True when none is left."""
        force = True
        while not self._write_held(force=force):
            if time.monotonic() >= deadline:
                return False
            force = False  # then once per spool.RETRY_AFTER_FAILURE
            time.sleep(min(_POLL_SECONDS * 5, max(deadline - time.monotonic(), 0.0)))
        return True

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
            if not self._wait_held(deadline):
                self._drop_held()
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
