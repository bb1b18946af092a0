"""The spool: per-process segments, rotation, locks, checkpoints and bounded reads."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_provlog.config import load_settings
from otel_provlog.exporter import spool

WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from otel_provlog.exporter.spool import SpoolWriter
writer = SpoolWriter(Path(sys.argv[1]))
writer.append(b'{"n": 1}\\n')
print(writer.writer, flush=True)
time.sleep(60)
"""


def test_append_rotates_by_size_and_reads_back_complete_lines(tmp_path):
    """Records land in numbered segments of one writer, and read back line by line."""
    writer = spool.SpoolWriter(tmp_path, segment_bytes=18)
    for n in range(6):
        writer.append(b'{"n": %d}\n' % n)
    segments = spool.list_segments(tmp_path)
    assert [s.seq for s in segments] == [1, 2, 3]
    assert {s.writer for s in segments} == {writer.writer}
    lines = []
    for segment in segments:
        read, end = spool.read_lines(segment.path, 0, 100)
        assert end == segment.path.stat().st_size
        lines += read
    assert lines == [b'{"n": %d}\n' % n for n in range(6)]
    assert writer.appended == 6
    writer.close()


def test_read_lines_stops_at_max_lines_and_leaves_partial_lines(tmp_path):
    """A read returns at most max_lines whole lines and the offset just past them."""
    path = tmp_path / "w.00000001.seg"
    path.write_bytes(b"a\nbb\nccc\ndddd")
    assert spool.read_lines(path, 0, 2) == ([b"a\n", b"bb\n"], 5)
    assert spool.read_lines(path, 5, 10) == ([b"ccc\n"], 9)
    assert spool.read_lines(path, 9, 10) == ([], 9)


def test_read_lines_handles_lines_longer_than_a_chunk(tmp_path):
    """A line spanning several read chunks comes back whole."""
    path = tmp_path / "w.00000001.seg"
    big = b"x" * (3 * 1024 * 1024) + b"\n"
    path.write_bytes(big + b"y\n")
    assert spool.read_lines(path, 0, 5) == ([big, b"y\n"], len(big) + 2)


def test_writer_lock_tells_live_from_dead(tmp_path):
    """A writer is alive while it holds its lock, dead after close."""
    writer = spool.SpoolWriter(tmp_path)
    writer.append(b"{}\n")
    assert spool.is_writer_alive(tmp_path, writer.writer)
    writer.close()
    assert not spool.is_writer_alive(tmp_path, writer.writer)
    with pytest.raises(OSError, match="closed"):
        writer.append(b"{}\n")


def test_a_killed_writer_process_is_seen_dead(tmp_path):
    """The lock of a process killed with SIGKILL is free at once; its line is on disk."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(tmp_path / "spool")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        name = child.stdout.readline().decode().strip()
        assert spool.is_writer_alive(tmp_path / "spool", name)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    assert not spool.is_writer_alive(tmp_path / "spool", name)
    (segment,) = spool.list_segments(tmp_path / "spool")
    assert segment.path.read_bytes() == b'{"n": 1}\n'


def test_forked_child_writes_segments_of_its_own(tmp_path):
    """After fork, the child appends under a writer name of its own."""
    writer = spool.SpoolWriter(tmp_path)
    writer.append(b"parent\n")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            writer.append(b"child\n")
            os._exit(0 if writer.writer else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writers = {s.writer for s in spool.list_segments(tmp_path)}
    assert len(writers) == 2
    assert writer.writer in writers
    assert spool.is_writer_alive(tmp_path, writer.writer)
    writer.close()


def test_checkpoints_round_trip_and_delete(tmp_path):
    """A checkpoint records an offset atomically; deleting a segment removes both files."""
    writer = spool.SpoolWriter(tmp_path)
    writer.append(b"{}\n")
    (segment,) = spool.list_segments(tmp_path)
    assert spool.read_checkpoint(segment) == 0
    assert not spool.is_stored(segment, 3)
    spool.write_checkpoint(segment, 3)
    assert spool.read_checkpoint(segment) == 3
    assert spool.is_stored(segment, 3)
    writer.close()
    spool.delete_segment(segment)
    assert sorted(p.name for p in tmp_path.iterdir()) == [writer.writer + ".lock"]
    assert spool.is_stored(segment, 3)


def test_default_spool_dir_is_per_store(tmp_path, monkeypatch):
    """Each database URL has its own spool under XDG_STATE_HOME; PROVLOG_SPOOL_DIR wins."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    one = spool.default_spool_dir("sqlite:///a.db")
    assert one.parent == tmp_path / "otel-provlog" / "spool"
    assert one != spool.default_spool_dir("sqlite:///b.db")
    assert spool.spool_dir_for(load_settings({}, database_url="sqlite:///a.db")) == one
    chosen = load_settings({"PROVLOG_SPOOL_DIR": str(tmp_path / "s")})
    assert spool.spool_dir_for(chosen) == Path(tmp_path / "s")


def test_unwritable_spool_raises_oserror_to_the_caller(tmp_path):
    """A spool that cannot be created raises OSError, and the writer keeps trying later."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    writer = spool.SpoolWriter(blocker / "spool")
    with pytest.raises(NotADirectoryError):
        writer.append(b"{}\n")
    assert writer.appended == 0


def test_a_full_disk_fails_fast_then_recovers_in_a_new_segment(tmp_path, monkeypatch):
    """A failed write tears at most one line at a segment's end; appends pause, then resume."""
    writer = spool.SpoolWriter(tmp_path)
    writer.append(b"one\n")
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[:2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "RETRY_AFTER_FAILURE", 0.2)
    monkeypatch.setattr(os, "write", full_disk)
    try:
        with pytest.raises(OSError, match="No space"):
            writer.append(b"two\n")
        with pytest.raises(OSError, match="shortly"):
            writer.append(b"three\n")
    finally:
        monkeypatch.setattr(os, "write", real_write)
    assert len(calls) == 2
    time.sleep(0.25)
    writer.append(b"four\n")
    first, second = spool.list_segments(tmp_path)
    assert first.path.read_bytes() == b"one\ntw"
    assert second.path.read_bytes() == b"four\n"
    assert writer.appended == 2
    writer.close()


def test_checkpoints_read_old_torn_and_allocated_forms(tmp_path):
    """A bare number (older versions) reads as is; a torn or blank checkpoint reads as 0."""
    segment = spool.Segment("w", 1, tmp_path / "w.00000001.seg")
    segment.path.write_bytes(b"")
    spool.prepare_checkpoint(segment)
    assert segment.checkpoint_path.stat().st_size == spool.CHECKPOINT_BYTES
    assert spool.read_checkpoint(segment) == 0
    spool.write_checkpoint(segment, 4321)
    assert spool.read_checkpoint(segment) == 4321
    assert segment.checkpoint_path.stat().st_size == spool.CHECKPOINT_BYTES
    torn = segment.checkpoint_path.read_bytes().replace(b"4321", b"9999")
    segment.checkpoint_path.write_bytes(torn)
    assert spool.read_checkpoint(segment) == 0
    segment.checkpoint_path.write_bytes(b"1234")
    assert spool.read_checkpoint(segment) == 1234


def test_a_writer_holds_a_reserve_and_gives_it_back(tmp_path):
    """The reserve is allocated with the first append and deleted when the writer closes."""
    writer = spool.SpoolWriter(tmp_path, reserve_bytes=64 * 1024)
    writer.append(b"{}\n")
    reserve = tmp_path / f"{writer.writer}.reserve"
    assert reserve.stat().st_blocks * 512 >= 64 * 1024
    assert not writer.full
    writer.close()
    assert not reserve.exists()
    with pytest.raises(ValueError, match="reserve_bytes"):
        spool.SpoolWriter(tmp_path, reserve_bytes=-1)
