"""The drain: moves spooled span records into the store, exactly once in effect.

One drain at a time works on a spool (it holds ``drain.lock``); others wait for the lock.
A pass reads complete lines from every segment with unstored bytes (up to
``batch_records``), stores them with :func:`~otel_provlog.exporter.writer.write_batch` in
one transaction, and only then moves each segment's checkpoint forward. A crash between
the two replays the batch, which the store ignores (it is idempotent on the span ids):
at-least-once delivery, exactly-once effect. Writers are taken in turn, so one
process's backlog does not hold back another's fresh events. Closed segments (see
:mod:`otel_provlog.exporter.spool`) are deleted once stored; the segments of a dead
process are adopted like any other.

When the database is unavailable the drain backs off (0.1 s doubling to ``backoff_max``)
and retries; the spool keeps growing on disk meanwhile, and memory stays bounded by one
batch. A record the database refuses for its data never stops it: the writer sets it aside
in ``rejected_spans`` (counted as ``rejected``) and stores the rest of its batch.
Records are counted as ``retried`` each time they are written again after a failed
attempt, whether :func:`~otel_provlog.exporter.writer.write_batch` retried a conflict
(counted once the batch is stored) or the drain came back to a batch the database failed
(counted as it tries again).
The drain also marks steps interrupted that stayed silent past ``stale_after``, and, at
once, the steps and operations a dead process started and never ended in the spool (its
end was lost: see :mod:`otel_provlog.exporter.open_spans`).

A checkpoint that cannot be written (a full disk) never holds the drain back: it goes by
the offsets it keeps in memory, deletes the segments it finished (freeing their space)
and writes the checkpoint again on the next pass.

Run it as ``provlog drain`` (a sidecar), or let ``otel_provlog.configure()`` start it
(:mod:`otel_provlog.exporter.drain_runners`).
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from opentelemetry import context as otel_context
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.exporter import spool
from otel_provlog.exporter.interruption import expire_stale_steps, interrupt_unended
from otel_provlog.exporter.open_spans import OpenSpans
from otel_provlog.exporter.processor import Counters, RateLimitedLog
from otel_provlog.exporter.records import SpanRecord, decode_record
from otel_provlog.exporter.writer import WriteResult, write_batch

__all__ = [
    "DEFAULT_BATCH_RECORDS",
    "DEFAULT_LINGER",
    "Drain",
    "DrainOutcome",
]

DEFAULT_BATCH_RECORDS: Final = 1000
"""Most records stored in one transaction."""
DEFAULT_POLL_INTERVAL: Final = 0.05
"""Seconds between looks at an idle spool."""
DEFAULT_BACKOFF_MAX: Final = 5.0
"""Longest wait between two attempts while the database fails."""
DEFAULT_LINGER: Final = 60.0
"""Seconds a finishing drain keeps trying a failing database before it leaves."""
DRAIN_CACHE_MIB: Final = 48
"""SQLite page cache of the drain's connection: the index pages a large store writes into."""
_LOCK_POLL: Final = 0.2

logger = logging.getLogger("otel_provlog.exporter.drain")

WriteBatch = Callable[[sessionmaker[Session], list[SpanRecord]], WriteResult]
"""The shape of :func:`~otel_provlog.exporter.writer.write_batch`."""


class DrainOutcome(enum.Enum):
    """Why :meth:`Drain.run` returned."""

    STORED = "stored"
    """Asked to finish, it stored every spooled record."""
    LOCKED = "locked"
    """Asked to finish, it found another drain holding the spool."""
    FAILING = "failing"
    """Asked to finish, it could store nothing for ``linger`` seconds; records are left."""
    STOPPED = "stopped"
    """``abort`` was set."""


class Drain:
    """Stores the records of one spool directory; see the module docstring.

    Args:
        spool_dir: the spool to drain.
        database_url: the store; the engine is made on first use.
        upgrade: bring the schema to the newest revision before the first write.
        stale_after: seconds after which silent running steps are interrupted (None: never).
        write: the batch writer (``write_batch`` by default; tests pass their own).
        on_batch: called after every stored batch and every failed attempt (e.g. to report
            the counters).
    """

    def __init__(
        self,
        spool_dir: Path,
        database_url: str,
        *,
        upgrade: bool = True,
        stale_after: float | None = None,
        batch_records: int = DEFAULT_BATCH_RECORDS,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        write: WriteBatch | None = None,
        on_batch: Callable[[Counters], None] | None = None,
    ) -> None:
        if batch_records <= 0:
            raise ValueError(f"batch_records must be positive, got {batch_records}")
        self.spool_dir = spool_dir
        self.database_url = database_url
        self.upgrade = upgrade
        self.stale_after = stale_after
        self.batch_records = batch_records
        self.poll_interval = poll_interval
        self.backoff_max = backoff_max
        self.counters = Counters()
        self._write = write
        self._on_batch = on_batch
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._offsets: dict[Path, int] = {}
        self._attempted: dict[Path, int] = {}  # end of the bytes a failed batch held
        self._unsaved: dict[Path, tuple[spool.Segment, int]] = {}  # checkpoints to write
        self._open_spans = OpenSpans()
        self._unended: dict[str, str] = {}  # rows of dead writers to interrupt
        self._next_unended = 0.0
        self._dead: set[str] = set()
        self._next_expiry = 0.0
        self._turn = 0
        self._log = RateLimitedLog(logger, interval=30.0)

    # -- the store ---------------------------------------------------------------------

    def _session_factory(self) -> sessionmaker[Session]:
        if self._factory is None:
            from otel_provlog.exporter import migrate
            from otel_provlog.exporter.database import create_store_engine, session_factory

            engine = create_store_engine(self.database_url, sqlite_cache_mib=DRAIN_CACHE_MIB)
            try:
                if self.upgrade:
                    migrate.upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine, self._factory = engine, session_factory(engine)
        return self._factory

    def _write_batch(self, records: list[SpanRecord]) -> WriteResult:
        write = write_batch if self._write is None else self._write
        return write(self._session_factory(), records)

    def _expire_stale(self) -> None:
        if self.stale_after is None or time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + min(60.0, max(1.0, self.stale_after / 10))
        with self._session_factory().begin() as session:
            expired = expire_stale_steps(
                session, now=datetime.now(UTC), stale_after=self.stale_after
            )
        if expired:
            logger.info("otel_provlog: %d silent step(s) marked interrupted", expired)

    def _interrupt_unended(self) -> None:
        """Interrupt what dead writers left open; on failure try again a second later."""
        if not self._unended or time.monotonic() < self._next_unended:
            return
        try:
            with self._session_factory().begin() as session:
                count = interrupt_unended(session, self._unended, now=datetime.now(UTC))
        except Exception:
            self._next_unended = time.monotonic() + 1.0
            self._log.exception("unended", "otel_provlog: interrupting unended steps failed")
            return
        self._unended.clear()
        if count:
            logger.info("otel_provlog: %d step(s) of ended processes marked interrupted", count)

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._factory = None

    # -- the spool ---------------------------------------------------------------------

    def _alive(self, writer: str) -> bool:
        if writer in self._dead:
            return False
        if spool.is_writer_alive(self.spool_dir, writer):
            return True
        self._dead.add(writer)
        return False

    def _offset(self, segment: spool.Segment) -> int:
        offset = self._offsets.get(segment.path)
        if offset is None:
            offset = self._offsets[segment.path] = spool.read_checkpoint(segment)
        return offset

    def pending(self) -> bool:
        """Tell whether some spooled bytes are not stored yet (or a segment awaits removal)."""
        for segment in spool.list_segments(self.spool_dir):
            try:
                size = segment.path.stat().st_size
            except FileNotFoundError:
                continue
            if size > self._offset(segment) or not self._alive(segment.writer):
                return True
        return False

    def drain_once(self) -> int:
        """Store one batch and move the checkpoints; return how many records it held.

        Raises whatever the database raised; nothing moved forward then.
        """
        segments = self._in_turn(spool.list_segments(self.spool_dir))
        newest: dict[str, int] = {}
        for segment in segments:
            newest[segment.writer] = max(newest.get(segment.writer, 0), segment.seq)
        lines: list[bytes] = []
        owners: list[str] = []  # per line: its writer
        again: list[bool] = []  # per line: a failed batch held it already
        moves: list[tuple[spool.Segment, int, bool]] = []
        for segment in segments:
            room = self.batch_records - len(lines)
            if room <= 0:
                break
            closed = segment.seq < newest[segment.writer] or not self._alive(segment.writer)
            offset = self._offset(segment)
            try:
                size = segment.path.stat().st_size
                read, end = (
                    spool.read_lines(segment.path, offset, room) if size > offset else ([], offset)
                )
            except FileNotFoundError:
                self._offsets.pop(segment.path, None)
                self._attempted.pop(segment.path, None)
                self._unsaved.pop(segment.path, None)
                continue
            lines.extend(read)
            owners.extend([segment.writer] * len(read))
            attempted, start = self._attempted.get(segment.path, 0), offset
            for line in read:
                again.append(start < attempted)
                start += len(line)
            if closed and len(read) < room:
                size = segment.path.stat().st_size
                if end < size:
                    logger.warning(
                        "otel_provlog: %s ends in %d bytes of a torn record, skipped",
                        segment.path.name,
                        size - end,
                    )
                    end = size
                moves.append((segment, end, True))
            elif end > offset:
                moves.append((segment, end, False))
        records, record_owners, repeated, unreadable = self._decode(lines, again, owners)
        if records:
            self.counters.retried += repeated
            try:
                result = self._write_batch(records)
            except Exception:
                for segment, end, _ in moves:
                    self._attempted[segment.path] = max(self._attempted.get(segment.path, 0), end)
                self._report()
                raise
            self.counters.written += result.written
            self.counters.duplicates += result.duplicates
            self.counters.rejected += len(result.rejected)
            self.counters.retried += result.retried
        self.counters.rejected += unreadable
        for owner, record in zip(record_owners, records, strict=True):
            self._open_spans.note(owner, record)
        for segment, end, finished in moves:
            if finished:
                spool.delete_segment(segment)
                self._offsets.pop(segment.path, None)
                self._attempted.pop(segment.path, None)
                self._unsaved.pop(segment.path, None)
            else:
                self._offsets[segment.path] = end
                self._unsaved[segment.path] = (segment, end)
                if self._attempted.get(segment.path, 0) <= end:
                    self._attempted.pop(segment.path, None)
        self._save_checkpoints()
        self._forget_dead_writers(segments, moves)
        self._interrupt_unended()
        if lines:
            self.counters.batches += 1
            self._report()
        return len(lines)

    def _save_checkpoints(self) -> None:
        """Write the checkpoints moved in memory; keep those that failed for the next pass.

        The offsets in memory are what the drain goes by: a checkpoint that cannot be
        written (a full disk without its allocated bytes) never makes it store a batch
        again, and closed segments are deleted all the same, which frees space. Only a
        drain started afresh replays from the last checkpoint written.
        """
        for path, (segment, end) in list(self._unsaved.items()):
            try:
                spool.write_checkpoint(segment, end)
            except FileNotFoundError:
                pass  # the segment was deleted meanwhile
            except OSError:
                self._log.exception("checkpoint", f"otel_provlog: checkpoint of {path.name} failed")
                continue
            del self._unsaved[path]

    def _report(self) -> None:
        if self._on_batch is not None:
            try:
                self._on_batch(self.counters)
            except Exception:
                self._log.exception("report", "otel_provlog: reporting the counters failed")

    def _in_turn(self, segments: list[spool.Segment]) -> list[spool.Segment]:
        """Order the writers differently each pass, so one writer's backlog starves no other."""
        writers = sorted({segment.writer for segment in segments})
        if len(writers) < 2:
            return segments
        self._turn = (self._turn + 1) % len(writers)
        rank = {writer: n for n, writer in enumerate(writers[self._turn :] + writers[: self._turn])}
        return sorted(segments, key=lambda segment: (rank[segment.writer], segment.seq))

    def _decode(
        self, lines: Sequence[bytes], again: Sequence[bool], owners: Sequence[str]
    ) -> tuple[list[SpanRecord], list[str], int, int]:
        """Return the records, their writers, how many a failed batch held, the unreadable."""
        records: list[SpanRecord] = []
        record_owners: list[str] = []
        repeated = unreadable = 0
        for line, seen, owner in zip(lines, again, owners, strict=True):
            try:
                records.append(decode_record(line))
            except ValueError:
                unreadable += 1
                if not seen:
                    self._log.exception("decode", "otel_provlog: an unreadable spool line, skipped")
                continue
            record_owners.append(owner)
            repeated += seen
        return records, record_owners, repeated, unreadable

    def _forget_dead_writers(
        self, segments: Sequence[spool.Segment], moves: Sequence[tuple[spool.Segment, int, bool]]
    ) -> None:
        deleted = {segment.path for segment, _, finished in moves if finished}
        left = {segment.writer for segment in segments if segment.path not in deleted}
        for writer in {segment.writer for segment in segments} - left:
            if writer in self._dead:
                spool.remove_writer_lock(self.spool_dir, writer)
                self._dead.discard(writer)
                self._unended.update(self._open_spans.close(writer))

    def _lock(self) -> int | None:
        os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
        fd = spool.try_lock(self.spool_dir / spool.DRAIN_LOCK)
        if fd is not None:
            self.sweep()
        return fd

    def sweep(self) -> None:
        """Remove what dead writers left besides segments: lock files and checkpoints."""
        try:
            names = os.listdir(self.spool_dir)
        except FileNotFoundError:
            return
        writers = {segment.writer for segment in spool.list_segments(self.spool_dir)}
        for name in names:
            path = self.spool_dir / name
            if name.endswith(spool.CHECKPOINT_SUFFIX):
                segment_path = path.with_name(name.removesuffix(spool.CHECKPOINT_SUFFIX))
                if not segment_path.exists():
                    path.unlink(missing_ok=True)
            elif name.endswith(".tmp") and spool.CHECKPOINT_SUFFIX + "." in name:
                path.unlink(missing_ok=True)  # left by an older version on a full disk
            elif name.endswith(spool.RESERVE_SUFFIX):
                writer = name.removesuffix(spool.RESERVE_SUFFIX)
                if not self._alive(writer):
                    path.unlink(missing_ok=True)
            elif name.endswith(spool.LOCK_SUFFIX) and name != spool.DRAIN_LOCK:
                writer = name.removesuffix(spool.LOCK_SUFFIX)
                if writer not in writers and not self._alive(writer):
                    spool.remove_writer_lock(self.spool_dir, writer)
                    self._dead.discard(writer)

    # -- the loop ----------------------------------------------------------------------

    def run(
        self,
        *,
        finish: threading.Event,
        abort: threading.Event | None = None,
        linger: float = DEFAULT_LINGER,
    ) -> DrainOutcome:
        """Drain until asked to finish, then store what is left and return why it left.

        Once ``finish`` is set the drain returns as soon as the spool is stored, when
        another drain holds the spool, or after ``linger`` seconds in which it stored
        nothing because every attempt failed (a drain that keeps storing never gives up).
        ``abort`` returns at once (after the batch in hand). Never raises for database
        failures.

        Returns:
            ``STORED`` when it left because the spool was stored, ``LOCKED`` when another
            drain holds it, ``FAILING`` after ``linger`` seconds of failures, ``STOPPED``
            when ``abort`` was set.
        """
        abort = abort or threading.Event()
        token = otel_context.attach(
            otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
        )
        lock_fd: int | None = None
        finishing_since: float | None = None  # finishing: since then no batch was stored
        delay = 0.0
        outcome = DrainOutcome.STOPPED
        try:
            while not abort.is_set():
                if finish.is_set() and finishing_since is None:
                    finishing_since = time.monotonic()
                if finishing_since is not None and time.monotonic() - finishing_since > linger:
                    logger.warning(
                        "otel_provlog: drain leaves with records still spooled: "
                        "nothing could be stored for %g s",
                        linger,
                    )
                    outcome = DrainOutcome.FAILING
                    break
                try:
                    if lock_fd is None:
                        lock_fd = self._lock()
                        if lock_fd is None:
                            if finishing_since is not None:
                                outcome = DrainOutcome.LOCKED
                                break
                            abort.wait(_LOCK_POLL)
                            continue
                    stored = self.drain_once()
                    self._expire_stale()
                    delay = 0.0
                except Exception:
                    self._log.exception("store", "otel_provlog: storing spooled spans failed")
                    delay = min(max(delay * 2, 0.1), self.backoff_max)
                    abort.wait(delay)
                    continue
                if stored:
                    if finishing_since is not None:
                        finishing_since = time.monotonic()
                    continue
                if finishing_since is not None and not self.pending():
                    outcome = DrainOutcome.STORED
                    break
                abort.wait(self.poll_interval)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
            self.close()
            otel_context.detach(token)
        return outcome
