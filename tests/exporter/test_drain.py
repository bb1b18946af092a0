"""The drain: batches, checkpoints, retries, adoption of dead writers, one drain per spool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from otel_provlog.exporter import spool
from otel_provlog.exporter.drain import Drain, DrainOutcome
from otel_provlog.exporter.records import encode_record
from otel_provlog.exporter.writer import WriteResult

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

KILLED_WRITER = """
import sys, time
from pathlib import Path
from otel_provlog.exporter.spool import SpoolWriter
writer = SpoolWriter(Path(sys.argv[1]), segment_bytes=4096)
for n in range(int(sys.argv[2])):
    writer.append(sys.stdin.buffer.readline())
print("ready", flush=True)
time.sleep(60)
"""


def _record(n: int) -> dict:
    return {
        "v": 1,
        "trace_id": TRACE,
        "span_id": f"{n:016x}",
        "parent_span_id": None,
        "kind": "event",
        "name": "instance event",
        "start_ns": n,
        "end_ns": n + 1,
        "status": "ok",
        "status_message": None,
        "attributes": {"provisioning.span": "event", "provisioning.cluster.id": "c-1"},
        "exception": None,
    }


def _line(n: int) -> bytes:
    return encode_record(_record(n))


class FakeStore:
    """Stands in for write_batch: idempotent on span ids, and can be told to fail."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.batches: list[int] = []
        self.failures = 0

    def __call__(self, factory, records):
        """Store the records, or fail while failures are left."""
        self.batches.append(len(records))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        written = duplicates = 0
        for record in records:
            if record["span_id"] in self.rows:
                duplicates += 1
            else:
                self.rows[record["span_id"]] = record["end_ns"]
                written += 1
        return WriteResult(written=written, duplicates=duplicates)


def _drain(tmp_path, store, **options):
    options.setdefault("upgrade", False)
    return Drain(tmp_path / "spool", f"sqlite:///{tmp_path / 'x.db'}", write=store, **options)


def test_drain_stores_in_bounded_batches_and_deletes_closed_segments(tmp_path):
    """2,500 records go in batches of at most 1,000; stored closed segments disappear."""
    writer = spool.SpoolWriter(tmp_path / "spool", segment_bytes=64 * 1024)
    for n in range(2500):
        writer.append(_line(n))
    store = FakeStore()
    drain = _drain(tmp_path, store)
    while drain.drain_once():
        pass
    assert store.batches == [1000, 1000, 500]
    assert len(store.rows) == 2500
    assert len(spool.list_segments(tmp_path / "spool")) == 1  # the open one stays
    writer.close()
    assert drain.pending()
    assert drain.drain_once() == 0
    assert not drain.pending()
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == []
    assert (drain.counters.written, drain.counters.duplicates) == (2500, 0)


def test_a_failed_write_moves_nothing_and_a_replay_is_harmless(tmp_path):
    """Nothing advances when the store fails; replaying a lost checkpoint only counts duplicates."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    for n in range(10):
        writer.append(_line(n))
    store = FakeStore()
    store.failures = 1
    drain = _drain(tmp_path, store)
    with pytest.raises(ConnectionError):
        drain.drain_once()
    (segment,) = spool.list_segments(tmp_path / "spool")
    assert spool.read_checkpoint(segment) == 0
    assert drain.drain_once() == 10
    assert spool.read_checkpoint(segment) == segment.path.stat().st_size
    segment.checkpoint_path.unlink()  # as if the checkpoint never reached the disk
    again = _drain(tmp_path, store)
    assert again.drain_once() == 10
    assert (again.counters.written, again.counters.duplicates) == (0, 10)
    assert len(store.rows) == 10
    writer.close()


def test_a_batch_tried_again_counts_as_retried_and_nothing_twice(tmp_path):
    """Every attempt after a failed one counts its records; rejects and writes count once."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    for n in range(10):
        writer.append(_line(n))
    writer.append(b"garbage\n")
    store = FakeStore()
    store.failures = 2
    reports = []
    drain = _drain(tmp_path, store, on_batch=lambda c: reports.append(c.retried))
    with pytest.raises(ConnectionError):
        drain.drain_once()
    assert (drain.counters.retried, drain.counters.rejected) == (0, 0)
    with pytest.raises(ConnectionError):
        drain.drain_once()
    assert drain.counters.retried == 10
    for n in range(10, 15):  # new records join the batch: not retried
        writer.append(_line(n))
    assert drain.drain_once() == 16
    assert store.batches == [10, 10, 15]
    counters = drain.counters
    assert (counters.written, counters.duplicates, counters.rejected) == (15, 0, 1)
    assert (counters.retried, counters.batches) == (20, 1)
    assert reports == [0, 10, 20]  # reported after failures too
    writer.append(_line(15))
    assert drain.drain_once() == 1
    assert drain.counters.retried == 20
    writer.close()


def test_torn_tail_of_a_dead_writer_and_garbage_lines_are_skipped(tmp_path):
    """A dead writer's torn last line is dropped, a garbage line is rejected, the rest stored."""
    directory = tmp_path / "spool"
    directory.mkdir()
    (directory / "123-dead.00000001.seg").write_bytes(_line(1) + b"garbage\n" + _line(2) + b'{"v"')
    store = FakeStore()
    drain = _drain(tmp_path, store)
    assert drain.drain_once() == 3
    assert sorted(store.rows) == [f"{1:016x}", f"{2:016x}"]
    assert drain.counters.rejected == 1
    assert list(directory.iterdir()) == []


def test_segments_of_a_killed_process_are_adopted(tmp_path):
    """Records of a process killed with SIGKILL are stored by the next drain, once."""
    directory = tmp_path / "spool"
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(directory), "300"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(b"".join(_line(n) for n in range(300)))
            child.stdin.flush()
            assert child.stdout.readline() == b"ready\n"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert len(spool.list_segments(directory)) > 1
    store = FakeStore()
    drain = _drain(tmp_path, store)
    while drain.drain_once():
        pass
    assert len(store.rows) == 300
    assert drain.counters.duplicates == 0
    assert list(directory.iterdir()) == []


def test_one_drain_per_spool(tmp_path):
    """While one drain holds the spool another finishing drain leaves without storing."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    writer.append(_line(1))
    holder = spool.try_lock(tmp_path / "spool" / spool.DRAIN_LOCK)
    assert holder is not None
    store = FakeStore()
    finish = threading.Event()
    finish.set()
    started = time.monotonic()
    _drain(tmp_path, store).run(finish=finish, linger=5)
    assert time.monotonic() - started < 2
    assert store.rows == {}
    os.close(holder)
    _drain(tmp_path, store).run(finish=finish, linger=5)
    assert len(store.rows) == 1
    writer.close()


def test_run_backs_off_while_the_store_fails_then_stores_everything_once(tmp_path):
    """A drain thread retries a failing store and stores every record once it is back."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    store = FakeStore()
    store.failures = 3
    drain = _drain(tmp_path, store, backoff_max=0.2, poll_interval=0.01)
    finish = threading.Event()
    thread = threading.Thread(target=drain.run, kwargs={"finish": finish, "linger": 10})
    thread.start()
    for n in range(200):
        writer.append(_line(n))
        time.sleep(0.001)
    writer.close()
    finish.set()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert len(store.rows) == 200
    assert drain.counters.written == 200
    assert sum(store.batches) >= 200
    assert list((tmp_path / "spool").glob("*.seg")) == []


def test_a_finishing_drain_gives_up_after_its_linger(tmp_path):
    """With the store down for good, a finishing drain leaves after linger; records stay."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    writer.append(_line(1))
    writer.close()
    store = FakeStore()
    store.failures = 10**6
    finish = threading.Event()
    finish.set()
    started = time.monotonic()
    outcome = _drain(tmp_path, store, backoff_max=0.1).run(finish=finish, linger=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert outcome is DrainOutcome.FAILING
    assert len(spool.list_segments(tmp_path / "spool")) == 1


class SlowStore(FakeStore):
    """A FakeStore whose every batch takes ``pause`` seconds (a busy database)."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    def __call__(self, factory, records):
        """Store the records after a pause."""
        time.sleep(self.pause)
        return super().__call__(factory, records)


def test_a_finishing_drain_that_keeps_storing_outlasts_its_linger(tmp_path):
    """``linger`` bounds failures only: a long spool stored slowly is stored to the end."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    for n in range(1, 2001):
        writer.append(_line(n))
    writer.close()
    store = SlowStore(pause=0.1)
    finish = threading.Event()
    finish.set()
    started = time.monotonic()
    outcome = _drain(tmp_path, store, batch_records=100).run(finish=finish, linger=0.3)
    assert time.monotonic() - started > 1.5  # 20 batches: far longer than the linger
    assert outcome is DrainOutcome.STORED
    assert len(store.rows) == 2000
    assert spool.list_segments(tmp_path / "spool") == []


def test_a_finishing_drain_counts_its_linger_from_the_last_stored_batch(tmp_path):
    """A database that fails, recovers and fails again: each stored batch restarts the linger."""
    writer = spool.SpoolWriter(tmp_path / "spool")
    for n in range(1, 301):
        writer.append(_line(n))
    writer.close()

    class Flaky(FakeStore):
        def __call__(self, factory, records):
            """Fail twice before every batch it stores."""
            self.failures = 2 if len(self.batches) % 3 == 0 else self.failures
            return super().__call__(factory, records)

    store = Flaky()
    finish = threading.Event()
    finish.set()
    drain = _drain(tmp_path, store, batch_records=100, backoff_max=0.15)
    assert drain.run(finish=finish, linger=0.4) is DrainOutcome.STORED
    assert len(store.rows) == 300


def test_provlog_drain_stores_a_spool_until_empty(database_url, tmp_path):
    """``provlog drain --until-empty`` stores a spool left by others, then leaves."""
    from click.testing import CliRunner
    from sqlalchemy import func, select

    from otel_provlog.cli.commands import provlog
    from otel_provlog.exporter.database import create_store_engine
    from otel_provlog.exporter.models import ClusterEvent, ProvisionStep

    step = dict(_record(1), kind="step", parent_span_id=None)
    step["attributes"] = {
        "provisioning.span": "step",
        "provisioning.cluster.id": "c-cli",
        "provisioning.step.name": "Waiting for ssh",
    }
    writer = spool.SpoolWriter(tmp_path / "spool")
    writer.append(encode_record(step))
    for n in range(2, 12):
        event = dict(_record(n), parent_span_id=f"{1:016x}")
        event["attributes"] = {"provisioning.span": "event", "provisioning.cluster.id": "c-cli"}
        writer.append(encode_record(event))
    writer.close()
    result = CliRunner().invoke(
        provlog,
        ["drain", "--until-empty", "--spool-dir", str(tmp_path / "spool")],
        env={"PROVLOG_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "stored 11, duplicates 0, rejected 0, retried 0" in result.output
    assert "left" not in result.output
    engine = create_store_engine(database_url, writer=False)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ProvisionStep)).scalar() == 1
        assert connection.execute(select(func.count()).select_from(ClusterEvent)).scalar() == 10
    engine.dispose()
    assert [path.name for path in (tmp_path / "spool").iterdir()] == [spool.DRAIN_LOCK]


def test_provlog_drain_until_empty_says_when_spans_are_left(tmp_path):
    """Exit code 5 when the database cannot be written for --linger seconds; nothing is lost."""
    from click.testing import CliRunner

    from otel_provlog.cli.commands import provlog

    writer = spool.SpoolWriter(tmp_path / "spool")
    for n in range(1, 6):
        writer.append(_line(n))
    writer.close()
    unwritable = tmp_path / "no-such-directory" / "store.db"
    result = CliRunner().invoke(
        provlog,
        ["drain", "--until-empty", "--linger", "0.5", "--spool-dir", str(tmp_path / "spool")],
        env={"PROVLOG_DATABASE_URL": f"sqlite:///{unwritable}"},
    )
    assert result.exit_code == 5, result.output
    assert "spans are left in" in result.output
    assert len(spool.list_segments(tmp_path / "spool")) == 1


def test_provlog_drain_until_empty_leaves_a_locked_spool_to_its_drain(tmp_path):
    """Exit code 1 when another drain holds the spool: it is that drain's to store."""
    from click.testing import CliRunner

    from otel_provlog.cli.commands import provlog

    writer = spool.SpoolWriter(tmp_path / "spool")
    writer.append(_line(1))
    writer.close()
    holder = spool.try_lock(tmp_path / "spool" / spool.DRAIN_LOCK)
    assert holder is not None
    try:
        result = CliRunner().invoke(
            provlog,
            ["drain", "--until-empty", "--spool-dir", str(tmp_path / "spool")],
            env={"PROVLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"},
        )
    finally:
        os.close(holder)
    assert result.exit_code == 1, result.output
    assert "another drain holds the spool" in result.output


def test_a_backlog_does_not_starve_other_writers(tmp_path):
    """With one writer far behind, another writer's records still go in the next batches."""
    behind = spool.SpoolWriter(tmp_path / "spool")
    for n in range(5000):
        behind.append(_line(n))
    live = spool.SpoolWriter(tmp_path / "spool")
    for n in range(10):
        live.append(_line(10_000 + n))
    store = FakeStore()
    drain = _drain(tmp_path, store)
    drain.drain_once()
    drain.drain_once()
    assert sum(1 for span_id in store.rows if int(span_id, 16) >= 10_000) == 10
    behind.close()
    live.close()


def test_a_record_the_database_refuses_never_holds_up_the_spool(tmp_path, refusing_store):
    """A refused record is set aside; its batch and all later ones are stored; the spool empties."""
    from sqlalchemy import func, select

    from otel_provlog.exporter.database import create_store_engine, session_factory
    from otel_provlog.exporter.models import ClusterEvent, ProvisionStep, RejectedSpan
    from tests.conftest import REFUSED_INSTANCE

    records = []
    for n in range(1, 36):
        record = _record(n)
        record["start_ns"], record["end_ns"] = n * 10**9, n * 10**9 + 1
        record["parent_span_id"] = "00000000000000ff"
        record["attributes"]["provisioning.instance.id"] = f"i-{n}"
        records.append(record)
    records[2]["attributes"]["provisioning.instance.id"] = REFUSED_INSTANCE
    writer = spool.SpoolWriter(tmp_path / "spool")
    for record in records:
        writer.append(encode_record(record))
    writer.close()
    drain = Drain(tmp_path / "spool", refusing_store, upgrade=False, batch_records=10)
    passes = 0
    while drain.drain_once():
        passes += 1
    drain.close()
    assert passes == 4
    assert spool.list_segments(tmp_path / "spool") == []
    counters = drain.counters
    assert (counters.written, counters.rejected, counters.batches) == (34, 1, 4)
    engine = create_store_engine(refusing_store, writer=False)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(ClusterEvent)) == 34
        assert session.scalar(select(ProvisionStep.completed)) == 34
        refused = session.execute(select(RejectedSpan.span_id, RejectedSpan.reason)).one()
    engine.dispose()
    assert refused.span_id == records[2]["span_id"]
    assert refused.reason.startswith("refused by the database: ")
