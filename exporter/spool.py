"""The spool: a durable, local, append-only queue of ended spans waiting for the store.

Layout of a spool directory (one per store, see :func:`spool_dir_for`)::

    <writer>.lock                 held (flock) by the writing process for its whole life
    <writer>.<seq>.seg            segments: one encoded record per line, appended with O_APPEND
    <writer>.<seq>.seg.offset     checkpoint: bytes of the segment already stored
    <writer>.reserve              disk space the writer holds back for steps and operations
    drain.lock                    held (flock) by the one drain working on this spool

``<writer>`` is ``<pid>-<random>``, never reused. A writer appends to its newest segment
only and rotates to the next ``<seq>`` by size. A segment is *closed* once a newer segment
of its writer exists or once its writer is dead (its lock file can be locked by someone
else): a closed segment receives no more bytes, so the drain may discard a trailing partial
line and delete it once everything before that is stored.

Durability: each record is one ``os.write`` on an ``O_APPEND`` descriptor, without
``fsync``. A killed process (even ``kill -9``) loses nothing the kernel accepted; a power
loss or kernel crash may lose the last seconds the page cache had not written back. A
checkpoint lost that way only replays records, which the store ignores as duplicates.

A full filesystem: the writer allocates each segment's checkpoint file together with the
segment, and the drain rewrites it in place (one small ``pwrite`` within those bytes, with
a checksum), so moving a checkpoint needs no new block even when the disk is full. Each
writer also holds ``reserve_bytes`` of allocated space in ``<writer>.reserve``: when the
disk fills, events fail (the caller counts them dropped) while step and operation spans
(``priority`` appends) get the reserve's space; events are taken again once the reserve
could be allocated anew, i.e. once the drain freed space.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from otel_provlog.config import Settings

__all__ = [
    "DEFAULT_RESERVE_BYTES",
    "DEFAULT_SEGMENT_BYTES",
    "DRAIN_LOCK",
    "Segment",
    "SpoolWriter",
    "absolute_database_url",
    "default_spool_dir",
    "delete_segment",
    "is_stored",
    "is_writer_alive",
    "list_segments",
    "prepare_checkpoint",
    "read_checkpoint",
    "read_lines",
    "remove_writer_lock",
    "spool_dir_for",
    "try_lock",
    "write_checkpoint",
]

DEFAULT_SEGMENT_BYTES: Final = 16 * 1024 * 1024
"""Size after which a writer starts a new segment."""
DRAIN_LOCK: Final = "drain.lock"
"""Name of the lock file the active drain of a spool holds."""
SEGMENT_SUFFIX: Final = ".seg"
CHECKPOINT_SUFFIX: Final = ".offset"
LOCK_SUFFIX: Final = ".lock"
RESERVE_SUFFIX: Final = ".reserve"
DEFAULT_RESERVE_BYTES: Final = 256 * 1024
"""Disk space each writer holds back for step and operation spans (about 500 records)."""
CHECKPOINT_BYTES: Final = 32
"""Bytes allocated for a checkpoint: ``<20 digits> <crc32 in 8 hex digits>\\n`` fits."""
_READ_CHUNK: Final = 1024 * 1024
RETRY_AFTER_FAILURE: Final = 1.0
"""Seconds a writer fails fast after the spool could not be written (disk full...)."""


def absolute_database_url(database_url: str) -> str:
    """Make a relative SQLite path absolute: a drain may not share our working directory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return database_url
    assert database is not None
    if database.startswith("file:") or os.path.isabs(database):
        return database_url
    return url.set(database=os.path.abspath(database)).render_as_string(hide_password=False)


def default_spool_dir(database_url: str) -> Path:
    """Return the default spool directory of the store at ``database_url``.

    ``$XDG_STATE_HOME/otel-provlog/spool/<hash>`` (``~/.local/state`` when unset), where
    ``<hash>`` is a short digest of the URL (relative SQLite paths made absolute first,
    see :func:`absolute_database_url`): each store has a spool of its own, and every
    process configured with the same store on this machine shares it.
    """
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(absolute_database_url(database_url).encode("utf-8")).hexdigest()[:16]
    return Path(state) / "otel-provlog" / "spool" / digest


def spool_dir_for(settings: Settings) -> Path:
    """Return the spool directory the settings name: ``spool_dir`` or the default one."""
    if settings.spool_dir:
        return Path(settings.spool_dir).expanduser()
    return default_spool_dir(settings.database_url)


@dataclass(frozen=True, order=True, slots=True)
class Segment:
    """One segment file of a spool: the ``seq``-th segment of ``writer``."""

    writer: str
    seq: int
    path: Path

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint file next to the segment."""
        return self.path.with_name(self.path.name + CHECKPOINT_SUFFIX)


def _segment_path(directory: Path, writer: str, seq: int) -> Path:
    return directory / f"{writer}.{seq:08d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[Segment]:
    """Return the segments in ``directory``, ordered by writer then sequence number."""
    found: list[Segment] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(SEGMENT_SUFFIX):
            continue
        writer, _, seq = name[: -len(SEGMENT_SUFFIX)].rpartition(".")
        if writer and seq.isdigit():
            found.append(Segment(writer, int(seq), directory / name))
    found.sort()
    return found


def try_lock(path: Path) -> int | None:
    """Take an exclusive ``flock`` on ``path`` without waiting; return its descriptor.

    Returns None when another open file holds the lock (in any process, this one too).
    Closing the descriptor releases the lock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def is_writer_alive(directory: Path, writer: str) -> bool:
    """Tell whether the process writing as ``writer`` still holds its lock."""
    path = directory / (writer + LOCK_SUFFIX)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def remove_writer_lock(directory: Path, writer: str) -> None:
    """Delete the lock file (and the reserve) of a dead writer that has no segments left."""
    for suffix in (RESERVE_SUFFIX, LOCK_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            (directory / (writer + suffix)).unlink()


def _checkpoint_line(offset: int) -> bytes:
    digits = b"%020d" % offset
    return digits + b" %08x\n" % zlib.crc32(digits)


def read_checkpoint(segment: Segment) -> int:
    """Return how many bytes of ``segment`` are stored (0 without a readable checkpoint).

    A checkpoint caught half rewritten fails its checksum and reads as 0: the caller
    then assumes less is stored than is, never more.
    """
    try:
        data = segment.checkpoint_path.read_bytes().rstrip(b"\0 \n")
    except FileNotFoundError:
        return 0
    digits, _, checksum = data.partition(b" ")
    try:
        if checksum and int(checksum, 16) != zlib.crc32(digits):
            return 0
        return int(digits or b"0")  # an older checkpoint is the bare number
    except ValueError:
        return 0


def prepare_checkpoint(segment: Segment) -> None:
    """Allocate the checkpoint file of a new segment, so rewriting it needs no new block.

    Raises:
        OSError: the space could not be allocated (the disk is full).
    """
    fd = os.open(segment.checkpoint_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.posix_fallocate(fd, 0, CHECKPOINT_BYTES)
    finally:
        os.close(fd)


def write_checkpoint(segment: Segment, offset: int) -> None:
    """Record that the first ``offset`` bytes of ``segment`` are stored.

    The checkpoint is rewritten in place, in bytes :func:`prepare_checkpoint` allocated,
    so this works on a full disk; a checkpoint lost or torn only replays records.

    Raises:
        OSError: it could not be written (e.g. a full disk and no allocated checkpoint).
    """
    line = _checkpoint_line(offset)
    fd = os.open(segment.checkpoint_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.pwrite(fd, line, 0) != len(line):
            raise OSError(errno.ENOSPC, "the checkpoint was cut short", str(segment.path))
    finally:
        os.close(fd)


def delete_segment(segment: Segment) -> None:
    """Delete a fully stored segment, then its checkpoint."""
    for path in (segment.path, segment.checkpoint_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_lines(path: Path, offset: int, max_lines: int) -> tuple[list[bytes], int]:
    r"""Read up to ``max_lines`` complete lines of ``path`` from ``offset``.

    Returns the lines (each still ending in ``b"\\n"``) and the offset just past the last
    one. A line not yet complete is left for later; memory stays bounded by ``max_lines``
    lines whatever the file's size.
    """
    lines: list[bytes] = []
    pending = b""
    with path.open("rb") as handle:
        handle.seek(offset)
        while len(lines) < max_lines:
            chunk = handle.read(_READ_CHUNK)
            if not chunk:
                break
            data = pending + chunk
            start = 0
            while len(lines) < max_lines:
                end = data.find(b"\n", start)
                if end < 0:
                    break
                lines.append(data[start : end + 1])
                start = end + 1
            pending = data[start:]
    return lines, offset + sum(len(line) for line in lines)


class SpoolWriter:
    """Appends encoded records to this process's segments in a spool directory.

    Thread-safe and fork-aware (a forked child starts segments of its own). Every failure
    raises :class:`OSError` to the caller, which counts and logs it; the next append after
    a failure starts a new segment, so a torn line never runs into the next record.

    Args:
        directory: the spool directory.
        segment_bytes: size after which a new segment starts.
        reserve_bytes: disk space held back for ``priority`` appends (0: none); see the
            module docstring.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        if segment_bytes <= 0:
            raise ValueError(f"segment_bytes must be positive, got {segment_bytes}")
        if reserve_bytes < 0:
            raise ValueError(f"reserve_bytes cannot be negative, got {reserve_bytes}")
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.reserve_bytes = reserve_bytes
        self._lock = threading.Lock()
        self._pid = -1
        self._writer = ""
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._seq = 0
        self._size = 0
        self._closed = False
        self._retry_at = 0.0
        self._reserved = False
        self.appended = 0
        """Records appended by this process so far."""

    @property
    def writer(self) -> str:
        """The name this process writes under (empty before the first append)."""
        return self._writer

    @property
    def full(self) -> bool:
        """True while the reserve is spent or missing: only ``priority`` appends are tried."""
        return not self._reserved and self.reserve_bytes > 0 and self._pid == os.getpid()

    def _start_writer(self) -> None:
        self._release()
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        pid = os.getpid()
        writer = f"{pid}-{secrets.token_hex(4)}"
        final = self.directory / (writer + LOCK_SUFFIX)
        temporary = self.directory / f".{writer}{LOCK_SUFFIX}.tmp"
        fd = try_lock(temporary)
        if fd is None:  # pragma: no cover - a fresh random name is never locked
            raise OSError(errno.EAGAIN, "could not lock a new writer lock file", str(temporary))
        os.replace(temporary, final)  # the lock file appears already locked
        self._pid, self._writer, self._lock_fd, self._seq = pid, writer, fd, 0
        self._reserved = False
        self._reserve()

    def _reserve_path(self) -> Path:
        return self.directory / (self._writer + RESERVE_SUFFIX)

    def _reserve(self) -> bool:
        """Allocate the reserve file; True when it is in place (or none is wanted)."""
        if self._reserved or self.reserve_bytes == 0:
            return True
        path = self._reserve_path()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()  # a partial allocation holds space nobody may use
            return False
        self._reserved = True
        return True

    def _spend_reserve(self) -> bool:
        """Free the reserve's space for a priority record; False when there was none."""
        if not self._reserved:
            return False
        self._reserved = False
        with contextlib.suppress(OSError):
            self._reserve_path().unlink()
        return True

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._seq += 1
        path = _segment_path(self.directory, self._writer, self._seq)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o600)
        self._size = os.fstat(self._fd).st_size
        # Without it the drain's checkpoint may fail on a full disk; it copes.
        with contextlib.suppress(OSError):
            prepare_checkpoint(Segment(self._writer, self._seq, path))

    def _write(self, line: bytes) -> int:
        """Write ``line`` at the end of the current segment; on failure close the segment."""
        try:
            if self._pid != os.getpid():
                self._start_writer()  # first use, or a forked child: segments of our own
            if self._fd is None:
                self._open_segment()
            fd = self._fd
            assert fd is not None
            written = os.write(fd, line)
            while written < len(line):
                written += os.write(fd, line[written:])
        except OSError:
            # A torn line stays at the end of a closed segment: the next write starts anew.
            self._open_segment_later()
            raise
        return written

    def append(self, line: bytes, *, priority: bool = False) -> None:
        r"""Append one encoded record (a line ending in ``b"\n"``).

        After a failure, appends fail fast for :data:`RETRY_AFTER_FAILURE` seconds, so a
        full disk is not hammered once per span. A ``priority`` record (the span of a step
        or an operation, their markers) is always tried, and on a full disk takes the
        writer's reserve; other records are refused while the reserve is spent, until it
        can be allocated again.

        Raises:
            OSError: the spool could not be written (the record is not in it).
        """
        with self._lock:
            if self._closed:
                raise OSError(errno.EBADF, "the spool writer is closed")
            now = time.monotonic()
            if not priority:
                if self._retry_at and now < self._retry_at:
                    raise OSError(errno.EAGAIN, "the spool failed lately; trying again shortly")
                if self.full and not self._reserve():
                    self._retry_at = now + RETRY_AFTER_FAILURE
                    raise OSError(errno.ENOSPC, "the spool is full: only steps are kept")
            try:
                written = self._write(line)
            except OSError as error:
                if not (priority and error.errno == errno.ENOSPC and self._spend_reserve()):
                    self._retry_at = now + RETRY_AFTER_FAILURE
                    raise
                try:
                    written = self._write(line)
                except OSError:
                    self._retry_at = now + RETRY_AFTER_FAILURE
                    raise
            self._retry_at = 0.0
            self._size += written
            self.appended += 1
            if self._size >= self.segment_bytes:
                self._open_segment_later()

    def _open_segment_later(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

    def position(self) -> tuple[str, int, int]:
        """Return ``(writer, seq, size)``: everything appended so far lies before that point.

        Segments of ``writer`` numbered below ``seq`` are complete; segment ``seq`` holds
        ``size`` bytes (``seq`` is 0 before the first append).
        """
        with self._lock:
            if self._pid != os.getpid():
                return "", 0, 0
            if self._fd is None:
                return self._writer, self._seq + 1, 0
            return self._writer, self._seq, self._size

    def close(self) -> None:
        """Stop appending and release the writer lock: the drain may finish our segments."""
        with self._lock:
            self._closed = True
            if self._pid == os.getpid():
                self._spend_reserve()
                self._release()

    def _release(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._lock_fd = None


def is_stored(segment: Segment, size: int) -> bool:
    """Tell whether the first ``size`` bytes of ``segment`` are in the store."""
    if not segment.path.exists():
        return True
    return read_checkpoint(segment) >= size
