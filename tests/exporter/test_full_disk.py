"""A spool on a real full filesystem (a small tmpfs or ext4 mounted per test).

Events go first, the spans of steps and operations survive; the drain stores, checkpoints
and frees space while the disk stays full; a step whose end was lost ends interrupted.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

import otel_provlog
from otel_provlog import attributes as attr
from otel_provlog.cli.commands import provlog
from otel_provlog.exporter import spool
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.drain import Drain
from otel_provlog.exporter.models import Cluster, ClusterEvent, ClusterOperation, ProvisionStep
from otel_provlog.exporter.pipeline import StorePath, configure
from otel_provlog.exporter.processor import SpoolSpanProcessor
from otel_provlog.exporter.records import SpanRecord, decode_record, encode_record
from otel_provlog.exporter.writer import WriteResult

DISK_BYTES = 4 * 1024 * 1024


def _mount(kind: str, path: Path, image: Path) -> subprocess.CompletedProcess[str]:
    if kind == "tmpfs":
        options = f"size={DISK_BYTES},mode=0700"
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
        return subprocess.run(command, capture_output=True, text=True, check=False)
    with image.open("wb") as handle:
        handle.truncate(DISK_BYTES)
    made = subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(image)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        return made
    command = ["mount", "-t", "ext4", "-o", "loop", str(image), str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture(params=["tmpfs", "ext4"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem mounted for the test: a tmpfs, or ext4 on a loop device.

    Skipped, saying why, where mounting is impossible (it needs root).
    """
    path = tmp_path / "disk"
    path.mkdir()
    if shutil.which("mount") is None or shutil.which("mkfs.ext4") is None:
        pytest.skip("no mount or mkfs.ext4 command: a real full filesystem cannot be made here")
    made = _mount(request.param, path, tmp_path / "disk.img")
    if made.returncode != 0:
        pytest.skip(f"mounting a {request.param} needs root here: {made.stderr.strip()}")
    if request.param == "ext4":
        os.chmod(path, 0o700)
        shutil.rmtree(path / "lost+found", ignore_errors=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(autouse=True)
def _short_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry a full spool after 50 ms instead of a second."""
    monkeypatch.setattr(spool, "RETRY_AFTER_FAILURE", 0.05)


def _fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte with one file; return it."""
    path = directory / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):
            while True:
                try:
                    os.write(fd, b"x" * size)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def _free(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def _spooled(directory: Path) -> list[SpanRecord]:
    lines: list[bytes] = []
    for segment in spool.list_segments(directory):
        lines += spool.read_lines(segment.path, 0, 1_000_000)[0]
    return [decode_record(line) for line in lines]


def _provider(processor: SpoolSpanProcessor) -> tuple[TracerProvider, InMemorySpanExporter]:
    ended = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(ended))
    return provider, ended


def _ended_ids(ended: InMemorySpanExporter) -> dict[str, set[str]]:
    """Span ids of the ended provisioning spans, by kind."""
    found: dict[str, set[str]] = {}
    for span in ended.get_finished_spans():
        kind = str((span.attributes or {}).get(attr.SPAN_KIND))
        found.setdefault(kind, set()).add(format(span.get_span_context().span_id, "016x"))
    return found


def _drain_all(drain: Drain) -> None:
    for _ in range(10_000):
        if drain.drain_once() == 0:
            return
    raise AssertionError("the drain never ran out of records")


def test_a_full_disk_drops_events_first_and_the_drain_frees_it(database_url, disk):
    """Events are dropped, step and operation ends kept; the drain stores and frees the disk."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    directory = disk / "spool"
    empty = _free(disk)
    writer = spool.SpoolWriter(directory, segment_bytes=64 * 1024)
    processor = SpoolSpanProcessor(writer, shutdown_timeout_millis=0)
    provider, ended = _provider(processor)
    operation = otel_provlog.operation(cluster, "creating", tracer_provider=provider)
    with (
        operation,
        otel_provlog.step(cluster, "Launching", total=3000, tracer_provider=provider) as step,
    ):
        for n in range(200):
            step.add_success(instance_id=f"i-{n}")
        filler = _fill(disk)
        for n in range(200, 3000):
            step.add_success(instance_id=f"i-{n}")
    ids = _ended_ids(ended)
    spooled = _spooled(directory)
    kinds = [record["kind"] for record in spooled]
    assert sorted(set(kinds)) == ["event", "operation", "operation.start", "step", "step.start"]
    assert processor.held == 0
    assert processor.dropped_kinds == {"event": processor.dropped}
    assert kinds.count("event") + processor.dropped == 3000
    assert kinds.count("event") >= 200
    assert processor.dropped > 2000

    drain = Drain(directory, database_url, upgrade=False)
    try:
        _drain_all(drain)  # the filler still takes every byte it can
        for segment in spool.list_segments(directory):  # checkpoints rewritten in place
            assert spool.read_checkpoint(segment) == segment.path.stat().st_size
        engine = create_store_engine(database_url)
        try:
            with session_factory(engine)() as session:
                events = set(session.scalars(select(ClusterEvent.span_id)))
                step_row = session.execute(
                    select(ProvisionStep.span_id, ProvisionStep.status, ProvisionStep.completed)
                ).one()
                operation_row = session.execute(
                    select(ClusterOperation.span_id, ClusterOperation.status)
                ).one()
        finally:
            engine.dispose()
        spooled_events = {r["span_id"] for r in spooled if r["kind"] == "event"}
        assert events == spooled_events
        assert events <= ids["event"]
        assert len(ids["event"] - events) == processor.dropped
        assert tuple(step_row) == (*ids["step"], "successful", len(events))
        assert tuple(operation_row) == (*ids["operation"], "successful")

        processor.shutdown()  # the writer leaves: its last segment is closed
        _drain_all(drain)
        assert sorted(os.listdir(directory)) == []
        assert _free(disk) > 0
        assert filler.exists()
        filler.unlink()
        assert _free(disk) >= empty - 64 * 1024  # the spool directory's own blocks
    finally:
        drain.close()


def test_events_are_taken_again_once_the_drain_freed_space(disk):
    """After the reserve was spent, events wait for room for a new reserve, then flow again."""
    directory = disk / "spool"
    writer = spool.SpoolWriter(directory, reserve_bytes=256 * 1024)
    writer.append(b"event 0\n")
    filler = _fill(disk)
    with pytest.raises(OSError, match="No space"):
        writer.append(b"x" * 8192 + b"\n")
    writer.append(b"step end\n" * 1000, priority=True)  # takes the reserve
    assert writer.full
    time.sleep(0.06)
    with pytest.raises(OSError, match="only steps"):
        writer.append(b"event 1\n")
    filler.unlink()  # the drain freed space
    time.sleep(0.06)
    writer.append(b"event 2\n")
    assert not writer.full
    assert (directory / f"{writer.writer}.reserve").stat().st_blocks * 512 >= 256 * 1024
    lines = [
        line for s in spool.list_segments(directory) for line in s.path.read_bytes().splitlines()
    ]
    assert lines.count(b"step end") == 1000
    assert [line for line in lines if line.startswith(b"event")] == [b"event 0", b"event 2"]
    writer.close()
    assert not (directory / f"{writer.writer}.reserve").exists()


class _CountingStore:
    """Stands in for write_batch: counts how often each span id was written."""

    def __init__(self) -> None:
        self.writes: dict[str, int] = {}

    def __call__(self, factory: object, records: list[SpanRecord]) -> WriteResult:
        for record in records:
            self.writes[record["span_id"]] = self.writes.get(record["span_id"], 0) + 1
        return WriteResult(written=len(records))


def _event_line(n: int) -> bytes:
    record: SpanRecord = {
        "v": 1,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": f"{n + 1:016x}",
        "parent_span_id": "00f067aa0ba902b7",
        "kind": "event",
        "name": "event",
        "start_ns": n,
        "end_ns": n + 1,
        "status": "ok",
        "status_message": None,
        "attributes": {attr.SPAN_KIND: "event", attr.CLUSTER_ID: "c-1"},
        "exception": None,
    }
    return encode_record(record)


def test_a_checkpoint_that_cannot_be_written_never_replays_a_batch(tmp_path, disk):
    """Without room for checkpoints the drain still moves on, deletes segments, frees space."""
    directory = disk / "spool"
    writer = spool.SpoolWriter(directory, reserve_bytes=0)
    for n in range(100):
        writer.append(_event_line(n))
    (segment,) = spool.list_segments(directory)
    segment.checkpoint_path.unlink()  # as an older version left it
    filler = _fill(disk)
    store = _CountingStore()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    drain = Drain(directory, url, upgrade=False, write=store, batch_records=7)
    _drain_all(drain)
    for _ in range(5):
        assert drain.drain_once() == 0
    assert store.writes == {f"{n + 1:016x}": 1 for n in range(100)}
    assert spool.read_checkpoint(segment) == 0  # it could not be written
    writer.close()
    assert drain.drain_once() == 0
    assert sorted(os.listdir(directory)) == []
    assert store.writes == {f"{n + 1:016x}": 1 for n in range(100)}
    assert _free(disk) > 0
    assert filler.exists()


def test_checkpoints_are_rewritten_in_place_on_a_full_disk(disk):
    """A segment's checkpoint, allocated with it, moves forward when not one byte is free."""
    directory = disk / "spool"
    writer = spool.SpoolWriter(directory, reserve_bytes=0)
    writer.append(b"one\n")
    (segment,) = spool.list_segments(directory)
    _fill(disk)
    for offset in (4, 123_456, 98_765_432_101):
        spool.write_checkpoint(segment, offset)
        assert spool.read_checkpoint(segment) == offset
    assert _free(disk) == 0
    writer.close()


def test_a_step_whose_end_was_lost_is_interrupted_at_once(database_url, disk):
    """Ends that never reached the spool are counted; the drain interrupts their step."""
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    directory = disk / "spool"
    writer = spool.SpoolWriter(directory, segment_bytes=1, reserve_bytes=0)  # a file per span
    processor = SpoolSpanProcessor(writer, shutdown_timeout_millis=100)
    provider, ended = _provider(processor)
    operation = otel_provlog.operation(cluster, "creating", tracer_provider=provider)
    with (
        operation,
        otel_provlog.step(cluster, "Launching", total=5, tracer_provider=provider) as step,
    ):
        step.add_success(instance_id="i-0")
        _fill(disk)
        step.add_success(instance_id="i-1")
    assert processor.held == 2  # the step and the operation wait in memory
    assert processor.dropped_kinds == {"event": 1}
    processor.shutdown()  # the disk is still full: they are lost
    assert processor.dropped_kinds == {"event": 1, "step": 1, "operation": 1}
    assert processor.held == 0

    drain = Drain(directory, database_url, upgrade=False, stale_after=None)
    try:
        _drain_all(drain)
    finally:
        drain.close()
    engine = create_store_engine(database_url)
    try:
        with session_factory(engine)() as session:
            step_row = session.execute(
                select(ProvisionStep.status, ProvisionStep.successful, ProvisionStep.completed)
            ).one()
            operation_row = session.execute(
                select(ClusterOperation.status, ClusterOperation.successful)
            ).one()
            cluster_row = session.execute(select(Cluster.status, Cluster.status_description)).one()
            events = set(session.scalars(select(ClusterEvent.span_id)))
    finally:
        engine.dispose()
    assert tuple(step_row) == ("interrupted", False, 1)
    assert tuple(operation_row) == ("interrupted", False)
    assert cluster_row[0] == "Error"
    assert "its process ended first" in cluster_row[1]
    assert len(events) == 1
    assert events <= _ended_ids(ended)["event"]


def test_held_ends_reach_the_spool_when_space_returns(disk):
    """A step end held in memory is written as soon as the spool takes records again."""
    directory = disk / "spool"
    writer = spool.SpoolWriter(directory, segment_bytes=1, reserve_bytes=0)  # a file per span
    processor = SpoolSpanProcessor(writer, shutdown_timeout_millis=0)
    provider, ended = _provider(processor)
    with otel_provlog.step("c-1", "Launching", total=2, tracer_provider=provider) as step:
        filler = _fill(disk)
        step.add_success(instance_id="i-0")
    assert (processor.held, processor.dropped_kinds) == (1, {"event": 1})
    filler.unlink()
    time.sleep(0.06)
    with otel_provlog.step("c-1", "Configuring", total=1, tracer_provider=provider) as step:
        step.add_success(instance_id="i-1")
    assert processor.held == 0
    spooled = {(r["kind"], r["span_id"]) for r in _spooled(directory)}
    ids = _ended_ids(ended)
    assert {span for kind, span in spooled if kind == "step"} == ids["step"]
    spooled_events = {span for kind, span in spooled if kind == "event"}
    assert len(spooled_events) == 1
    assert spooled_events < ids["event"]
    processor.shutdown()


def test_dropped_spans_show_by_kind_in_provlog_stats(database_url, disk):
    """The handle's counters and ``provlog stats`` tell which kinds of span were dropped."""
    provider = TracerProvider(shutdown_on_exit=False)
    directory = disk / "spool"
    handle = configure(
        tracer_provider=provider,
        database_url=database_url,
        spool_dir=str(directory),
        drain="none",
        segment_bytes=1,  # a file per span: nothing fits in a segment's last page
    )
    assert isinstance(handle, StorePath)
    with otel_provlog.step("c-1", "Launching", total=50, tracer_provider=provider) as step:
        filler = _fill(disk)
        for n in range(50):
            step.add_success(instance_id=f"i-{n}")
    counters = handle.counters()
    assert (counters.dropped, counters.dropped_kinds, counters.held) == (50, {"event": 50}, 0)
    assert counters.appended == 2  # the step's marker and its end
    filler.unlink()  # room for the stats file
    handle.shutdown(timeout_millis=0)
    arguments = ["stats", "--database-url", database_url, "--spool-dir", str(directory)]
    result = CliRunner().invoke(provlog, [*arguments, "-f", "json"])
    assert result.exit_code == 0, result.output
    (process,) = json.loads(result.output)["processes"]
    assert process["dropped"] == {"event": 50}
    assert (process["store"]["dropped"], process["store"]["held"]) == (50, 0)
    result = CliRunner().invoke(provlog, arguments)
    assert "dropped     event 50" in result.output
