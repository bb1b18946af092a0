"""The writer: exact, idempotent and order-independent on every backend."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import OperationalError

from otel_provlog import attributes as attr
from otel_provlog.exporter import store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.interruption import expire_stale_steps
from otel_provlog.exporter.mapping import to_datetime
from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    Operation,
    ProvisionStep,
    RejectedSpan,
    span_row_id,
)
from otel_provlog.exporter.writer import write_batch, write_records

T0 = 1_780_000_000_000_000_000
SECOND = 1_000_000_000


def _run(
    cluster="c-1",
    trace="4bf92f3577b34da6a3ce929d0e0e4736",
    *,
    events=2,
    fail=True,
    operation_marker=False,
):
    """Records of one run, in the order its spans end.

    An operation with plan ["Launch", "Wait"]; step "Launch" with ``events`` good events;
    step "Wait" with ``events`` events of which the last fails (and the step and the
    operation end with ERROR) when ``fail``. With ``operation_marker`` the run begins with
    the operation's ``operation.start`` marker.
    """
    spans = iter(range(1, 10_000))
    clock = iter(range(1, 10_000))
    common = {attr.CLUSTER_ID: cluster, attr.TENANT_ID: "t-1"}

    def record(kind, parent, start, end, attributes, *, error=False, span=None):
        return {
            "v": 1,
            "trace_id": trace,
            "span_id": span or f"{next(spans):016x}",
            "parent_span_id": parent,
            "kind": kind,
            "name": kind,
            "start_ns": T0 + start * SECOND,
            "end_ns": T0 + end * SECOND,
            "status": "error" if error else "unset",
            "status_message": "failed" if error else None,
            "attributes": {attr.SPAN_KIND: kind, **common, **attributes},
            "exception": (
                {"type": "OSError", "message": "no ssh", "stacktrace": "Traceback\nOSError"}
                if error and kind == attr.SPAN_EVENT
                else None
            ),
        }

    operation_id = f"{next(spans):016x}"
    op_start = next(clock)
    operation = {
        attr.CLUSTER_NAME: "hadoop",
        attr.STEP_TYPE: "creating",
        attr.PLAN: ["Launch", "Wait"],
    }
    records = []
    if operation_marker:
        marker_id = f"{0xFFFF:016x}"  # leaves the other spans' ids as they are without it
        records.append(
            record(
                attr.SPAN_OPERATION_START,
                operation_id,
                op_start,
                op_start,
                operation,
                span=marker_id,
            )
        )
    for name in ("Launch", "Wait"):
        step_id = f"{next(spans):016x}"
        failing = fail and name == "Wait"
        described = {attr.STEP_NAME: name, attr.STEP_TYPE: "creating", attr.STEP_TOTAL: events}
        start = next(clock)
        marker = record(attr.SPAN_STEP_START, step_id, start, start, described)
        marker["start_ns"] = marker["end_ns"] = marker["start_ns"] + 5_000  # just after the step
        records.append(marker)
        for n in range(events):
            bad = failing and n == events - 1
            at = next(clock)
            instance = {attr.INSTANCE_ID: f"{name}-{n}", attr.NODE_GROUP_ID: "ng"}
            records.append(record(attr.SPAN_EVENT, step_id, at, at + 1, instance, error=bad))
        end = next(clock) + 1
        step = record(attr.SPAN_STEP, operation_id, start, end, described, error=failing)
        step["span_id"] = step_id
        records.append(step)
    end = next(clock) + 2
    records.append(
        record(attr.SPAN_OPERATION, None, op_start, end, operation, error=fail, span=operation_id)
    )
    return records


def _snapshot(factory):
    """Every row of the four tables, as plain dicts, in primary-key order."""
    tables = {}
    with factory() as session:
        for model in (Cluster, Operation, ProvisionStep, ClusterEvent):
            columns = model.__table__.columns
            rows = session.execute(select(*columns).order_by(model.id)).mappings().all()
            tables[model.__tablename__] = [dict(row) for row in rows]
    return tables


def _empty(factory):
    """Delete every row of the store."""
    with factory.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


def _write(factory, records):
    """Write one batch in its own transaction."""
    with factory.begin() as session:
        return write_records(session, records)


def _steps(factory):
    """The steps of the store by name."""
    with factory() as session:
        return {s.step_name: s for s in session.scalars(select(ProvisionStep))}


def test_an_in_order_run_stores_steps_events_operation_and_status(engine):
    """One run written as it ends gives exact steps, events, links and cluster status."""
    factory = session_factory(engine)
    records = _run()
    result = _write(factory, records)
    assert (result.written, result.duplicates, result.rejected) == (len(records), 0, [])
    steps = _steps(factory)
    launch, wait = steps["Launch"], steps["Wait"]
    operation_id = span_row_id(records[-1]["trace_id"], records[-1]["span_id"])
    assert (launch.status, launch.successful, launch.completed, launch.failed) == (
        "successful",
        True,
        2,
        0,
    )
    assert (wait.status, wait.successful, wait.completed, wait.failed) == ("failed", False, 1, 1)
    assert (launch.position, wait.position) == (0, 1)
    assert launch.operation_id == wait.operation_id == operation_id
    assert launch.total == 2
    assert launch.created_at == launch.started_at == to_datetime(records[3]["start_ns"])
    assert launch.completed_at == to_datetime(records[3]["end_ns"])
    assert launch.duration == (records[3]["end_ns"] - records[3]["start_ns"]) / 1e9
    with factory() as session:
        cluster = session.get(Cluster, "c-1")
        operation = session.get(Operation, operation_id)
        failed = session.scalars(select(ClusterEvent).where(~ClusterEvent.successful)).one()
        assert session.scalar(select(func.count()).select_from(ClusterEvent)) == 4
    assert (cluster.name, cluster.tenant_id, cluster.status) == ("hadoop", "t-1", "Error")
    assert cluster.status_description == "creating failed at step 'Wait'"
    assert (operation.status, operation.successful, operation.plan) == (
        "failed",
        False,
        ["Launch", "Wait"],
    )
    assert (failed.event_info, failed.stacktrace) == ("no ssh", "Traceback\nOSError")
    assert failed.provision_step_id == wait.id


def test_progress_while_the_run_goes_on(engine):
    """Running steps are visible, fail early, end exactly; the cluster follows its operation."""
    factory = session_factory(engine)
    records = _run()
    _write(factory, records[:1])
    assert (_steps(factory)["Launch"].status, _steps(factory)["Launch"].successful) == (
        "running",
        None,
    )
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Creating"
    _write(factory, records[1:7])
    wait = _steps(factory)["Wait"]
    assert (wait.status, wait.successful, wait.completed, wait.failed) == ("running", False, 1, 1)
    _write(factory, records[7:8])
    assert (_steps(factory)["Wait"].status, _steps(factory)["Wait"].completed_at) == (
        "failed",
        to_datetime(records[7]["end_ns"]),
    )
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Creating"
    _write(factory, records[8:])
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Error"


@pytest.mark.parametrize(
    ("step_type", "status"),
    [("creating", "Active"), ("scaling", "Active"), ("deleting", "Deleted")],
)
def test_cluster_status_after_a_successful_operation(engine, step_type, status):
    """A successful operation leaves the cluster Active, or Deleted after deleting it."""
    factory = session_factory(engine)
    records = _run(fail=False)
    for record in records:
        record["attributes"][attr.STEP_TYPE] = step_type
    _write(factory, records[:-1])
    with factory() as session:
        assert session.get(Cluster, "c-1").status == step_type.capitalize()
    _write(factory, records[-1:])
    with factory() as session:
        assert session.get(Cluster, "c-1").status == status
    assert {s.successful for s in _steps(factory).values()} == {True}


def test_replays_and_resplits_change_nothing(engine):
    """Replaying the batch, subsets of it, or other splits leaves every row as it was."""
    factory = session_factory(engine)
    records = _run()
    _write(factory, records)
    expected = _snapshot(factory)
    replay = _write(factory, records)
    assert (replay.written, replay.duplicates) == (0, len(records))
    _write(factory, records[::2])
    _write(factory, records[3:6] + records[3:6])
    for start in range(0, len(records), 4):
        _write(factory, records[start : start + 4])
    assert _snapshot(factory) == expected


@pytest.mark.parametrize("operation_marker", [False, True])
def test_any_order_and_split_gives_the_in_order_result(engine, operation_marker):
    """Permutations of one run, split into random batches with replays, end in one state."""
    factory = session_factory(engine)
    records = _run(operation_marker=operation_marker)
    _write(factory, records)
    expected = _snapshot(factory)
    if operation_marker:  # once the operation ended, its marker leaves no trace
        _empty(factory)
        _write(factory, _run())
        assert _snapshot(factory) == expected
    rng = random.Random(20261124)
    orders = [list(reversed(records))] + [rng.sample(records, len(records)) for _ in range(24)]
    for order in orders:
        _empty(factory)
        position = 0
        while position < len(order):
            size = rng.randint(1, 4)
            batch = order[position : position + size]
            if rng.random() < 0.3:
                batch = batch + rng.sample(order[: position + size], 1)
            _write(factory, batch)
            position += size
        assert _snapshot(factory) == expected, [r["kind"] for r in order]


def test_a_late_marker_does_not_reopen_an_ended_step(engine):
    """The start marker arriving after its step ended changes nothing."""
    factory = session_factory(engine)
    records = _run(fail=False)
    marker = records[0]
    _write(factory, [r for r in records if r is not marker])
    before = _snapshot(factory)
    result = _write(factory, [marker])
    assert (result.written, result.duplicates) == (0, 1)
    assert _snapshot(factory) == before
    assert _steps(factory)["Launch"].status == "successful"


def _operation(factory, records):
    """The stored operation of a run."""
    operation_id = span_row_id(records[-1]["trace_id"], records[-1]["span_id"])
    with factory() as session:
        return session.get(Operation, operation_id)


def test_a_running_operation_is_visible_from_its_markers(engine):
    """Markers, steps and events alone give the cluster, its running operation and plan."""
    factory = session_factory(engine)
    records = _run(operation_marker=True)
    marker = records[0]
    _write(factory, records[:1])
    with factory() as session:
        cluster = session.get(Cluster, "c-1")
        assert (cluster.name, cluster.tenant_id, cluster.status) == ("hadoop", "t-1", "Creating")
    operation = _operation(factory, records)
    assert (operation.status, operation.successful, operation.plan) == (
        "running",
        None,
        ["Launch", "Wait"],
    )
    assert operation.started_at == operation.created_at == to_datetime(marker["start_ns"])
    assert operation.completed_at is None
    _write(factory, records[1:3])  # Launch's marker and first event
    launch = _steps(factory)["Launch"]
    assert (launch.status, launch.operation_id, launch.position) == ("running", operation.id, 0)
    _write(factory, records[3:8])  # Launch ended; Wait's marker and events
    steps = _steps(factory)
    assert {name: (s.operation_id, s.position) for name, s in steps.items()} == {
        "Launch": (operation.id, 0),
        "Wait": (operation.id, 1),
    }
    wait = steps["Wait"]
    assert (wait.status, wait.successful, wait.completed, wait.failed) == ("running", False, 1, 1)
    with factory() as session:
        cluster = session.get(Cluster, "c-1")
        assert (cluster.name, cluster.status) == ("hadoop", "Creating")
    assert _operation(factory, records).status == "running"
    _write(factory, records[8:])
    assert (_operation(factory, records).status, _operation(factory, records).successful) == (
        "failed",
        False,
    )
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Error"


def test_a_step_marker_before_its_operation_marker_is_linked_when_it_comes(engine):
    """A step known from its marker is linked and placed once the operation marker arrives."""
    factory = session_factory(engine)
    records = _run(operation_marker=True)
    _write(factory, records[1:3])
    launch = _steps(factory)["Launch"]
    assert (launch.operation_id, launch.position) == (None, None)
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Creating"
    _write(factory, records[:1])
    launch = _steps(factory)["Launch"]
    assert (launch.operation_id, launch.position) == (_operation(factory, records).id, 0)


def test_a_late_operation_marker_does_not_reopen_the_operation(engine):
    """The operation.start marker arriving after its operation ended changes nothing."""
    factory = session_factory(engine)
    records = _run(fail=False, operation_marker=True)
    _write(factory, records[1:])
    before = _snapshot(factory)
    result = _write(factory, records[:1])
    assert (result.written, result.duplicates) == (0, 1)
    assert _snapshot(factory) == before
    assert _operation(factory, records).status == "successful"
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Active"


def test_a_new_operation_marker_moves_the_cluster_on(engine):
    """After a finished creating run, a scaling marker alone makes the cluster Scaling."""
    factory = session_factory(engine)
    _write(factory, _run(fail=False))
    scaling = _run(trace="5" * 32, fail=False, operation_marker=True)
    for record in scaling:
        shift = 100 * SECOND
        record["start_ns"] += shift
        record["end_ns"] += shift
        record["attributes"][attr.STEP_TYPE] = "scaling"
    _write(factory, scaling[:1])
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Scaling"
    assert _operation(factory, scaling).status == "running"
    _write(factory, scaling[1:])
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Active"


def test_expire_spares_a_running_operation_whose_steps_have_news(engine):
    """A running operation is interrupted only when neither it nor its steps had news."""
    factory = session_factory(engine)
    records = _run(operation_marker=True)
    _write(factory, records[:6])  # the operation's marker, Launch ended, Wait's marker
    wait = _steps(factory)["Wait"]
    assert wait.status == "running"
    with factory.begin() as session:
        now = wait.updated_at + timedelta(seconds=30)
        assert expire_stale_steps(session, now=now, stale_after=60) == 0
    with factory.begin() as session:
        now = wait.updated_at + timedelta(seconds=120)
        assert expire_stale_steps(session, now=now, stale_after=60) == 2
    assert _operation(factory, records).status == "interrupted"
    _write(factory, records[6:])  # the spans still arrive: they end the rows as usual
    assert _operation(factory, records).status == "failed"


def test_an_event_failing_after_its_step_ended_fails_the_step(engine):
    """A failed event arriving late turns an ended, successful step into a failed one."""
    factory = session_factory(engine)
    records = _run()
    late = records[6]
    _write(factory, [r for r in records if r is not late])
    assert (_steps(factory)["Wait"].status, _steps(factory)["Wait"].successful) == (
        "failed",
        False,
    )
    records = _run(fail=False)
    late = records[6]
    late |= {"status": "error"}
    _empty(factory)
    _write(factory, [r for r in records if r is not late])
    assert _steps(factory)["Wait"].successful is True
    _write(factory, [late])
    wait = _steps(factory)["Wait"]
    assert (wait.status, wait.successful, wait.failed) == ("failed", False, 1)


def test_rejected_records_are_stored_once_and_never_harm_the_batch(engine):
    """Unusable records land in rejected_spans once; the rest of the batch is written."""
    factory = session_factory(engine)
    records = _run()
    bad = [
        {**records[1], "trace_id": "nope"},
        {**records[2], "attributes": {attr.SPAN_KIND: "event"}},
        ["not", "a", "record"],
        {**records[3], "payload": "x" * 1_000_000},
    ]
    bad[3]["attributes"] = {**records[3]["attributes"], attr.CLUSTER_ID: None}
    batch = records[:2] + bad + records[2:]
    result = _write(factory, batch)
    assert (result.written, len(result.rejected)) == (len(records), 4)
    again = _write(factory, batch)
    assert (again.written, again.duplicates, len(again.rejected)) == (0, len(records), 4)
    with factory() as session:
        stored = session.scalars(select(RejectedSpan).order_by(RejectedSpan.reason)).all()
    assert len(stored) == 4
    assert {row.trace_id for row in stored} >= {"nope", None}
    assert all(len(row.payload) <= 64 * 1024 for row in stored)
    assert _snapshot(factory)["provision_steps"][0]["completed"] in (1, 2)


def test_hostile_strings_are_stored_on_every_backend(engine):
    """NUL bytes, lone surrogates and megabyte values in every text field are stored cleaned."""
    factory = session_factory(engine)
    records = _run()
    hostile = "a\x00b\ud800c" + "z" * 1_000_000
    for record in records:
        attributes = record["attributes"]
        for key in (attr.TENANT_ID, attr.STEP_NAME, attr.INSTANCE_ID, attr.NODE_GROUP_ID):
            if key in attributes:
                attributes[key] = hostile
        attributes[attr.CLUSTER_NAME] = hostile
        attributes[attr.INSTANCE_NAME] = hostile
        if record["exception"]:
            record["exception"]["stacktrace"] = hostile
    result = _write(factory, records)
    assert (result.written, result.rejected) == (len(records), [])
    with factory() as session:
        cluster = session.get(Cluster, "c-1")
        event = session.scalars(select(ClusterEvent).where(~ClusterEvent.successful)).one()
        step = session.scalars(select(ProvisionStep)).first()
    assert cluster.name.startswith("ab\ufffdc")
    assert len(cluster.name) <= 255
    assert step.step_name.startswith("ab\ufffdc")
    assert event.stacktrace.startswith("ab\ufffdc")
    assert len(event.stacktrace) <= 64 * 1024


def test_expire_interrupts_silent_steps_and_a_late_span_still_ends_them(engine):
    """Steps without news become interrupted with their cluster in Error; the span wins later."""
    factory = session_factory(engine)
    records = _run(fail=False)
    _write(factory, records[:5])
    launch_end = to_datetime(records[3]["end_ns"])
    now = to_datetime(records[4]["end_ns"]) + timedelta(hours=7)
    with factory.begin() as session:
        assert expire_stale_steps(session, now=now, stale_after=8 * 3600) == 0
    with factory.begin() as session:
        assert expire_stale_steps(session, now=now, stale_after=6 * 3600) == 1
    steps = _steps(factory)
    assert (steps["Wait"].status, steps["Wait"].successful, steps["Wait"].completed_at) == (
        "interrupted",
        False,
        now,
    )
    assert (steps["Launch"].status, steps["Launch"].completed_at) == ("successful", launch_end)
    with factory() as session:
        cluster = session.get(Cluster, "c-1")
    assert (cluster.status, cluster.status_description) == (
        "Error",
        "interrupted at step 'Wait': no news for 21600 s",
    )
    _write(factory, records[5:])
    assert (_steps(factory)["Wait"].status, _steps(factory)["Wait"].successful) == (
        "successful",
        True,
    )
    with factory() as session:
        assert session.get(Cluster, "c-1").status == "Active"


class Flaky:
    """A session factory whose first ``fail_times`` transactions raise ``error`` at commit."""

    def __init__(self, factory, fail_times, error):
        self.factory, self.fail_times, self.error, self.failures = factory, fail_times, error, 0

    @contextmanager
    def begin(self):
        """Run the transaction, then fail it while failures are left."""
        with self.factory.begin() as session:
            yield session
            if self.failures < self.fail_times:
                self.failures += 1
                raise self.error


def test_write_batch_retries_busy_transactions_then_gives_up(engine):
    """A deadlock is retried; after the last attempt the error is raised, nothing set aside."""
    factory = session_factory(engine)
    deadlock = OperationalError("INSERT", {}, Exception(1213, "Deadlock found"))
    records = _run()
    result = write_batch(Flaky(factory, 2, deadlock), records, attempts=3)
    assert (result.written, result.retried, result.rejected) == (len(records), 2 * len(records), [])
    flaky = Flaky(factory, 5, deadlock)
    with pytest.raises(OperationalError):
        write_batch(flaky, records, attempts=2)
    assert flaky.failures == 2
    with pytest.raises(ValueError, match="attempts"):
        write_batch(factory, records, attempts=0)


def test_an_unavailable_database_raises_at_once(engine):
    """A refused connection is no reason to split the batch or set records aside: it raises."""
    factory = session_factory(engine)
    down = OperationalError("INSERT", {}, Exception(2003, "Can't connect to server"))
    flaky = Flaky(factory, 5, down)
    with pytest.raises(OperationalError):
        write_batch(flaky, _run(), attempts=5)
    assert flaky.failures == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(RejectedSpan)) == 0


def test_a_lost_unique_key_race_is_retried_and_counted_once(engine, monkeypatch):
    """A row another writer stored first makes a real IntegrityError: one retry, counted."""
    factory = session_factory(engine)
    records = _run()
    first = write_batch(factory, records[: len(records) // 2])  # the other writer's commit
    assert first.retried == 0
    real = store.insert_missing
    raced: list[str] = []

    def racing(session, model, rows, key):
        if model is Cluster and not raced:  # the other writer committed in between
            raced.append(model.__tablename__)
            session.execute(insert(model.__table__), rows)
        return real(session, model, rows, key)

    monkeypatch.setattr(store, "insert_missing", racing)
    result = write_batch(factory, records)
    assert raced == ["clusters"]
    assert result.retried == len(records)
    assert result.written + result.duplicates == len(records)
    assert first.written + result.written == len(records)
    raced_state = _snapshot(factory)
    _empty(factory)
    _write(factory, records)
    assert raced_state == _snapshot(factory)  # nothing stored twice


def test_concurrent_writers_of_overlapping_batches_keep_counts_exact(engine):
    """Six threads writing the same runs in different orders and splits leave exact counts."""
    factory = session_factory(engine)
    records = []
    for n in range(3):
        records += _run(f"c-{n}", f"{n + 1:032x}", events=12)
    errors = []

    def writer(seed):
        rng = random.Random(seed)
        order = rng.sample(records, len(records))
        try:
            for start in range(0, len(order), 7):
                write_batch(factory, order[start : start + 7], attempts=10)
        except Exception as error:  # reported below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    concurrent = _snapshot(factory)
    _empty(factory)
    _write(factory, records)
    assert concurrent == _snapshot(factory)
    steps = concurrent["provision_steps"]
    assert sorted((s["completed"], s["failed"]) for s in steps) == [(11, 1)] * 3 + [(12, 0)] * 3


WRITER = """
import json, random, sys
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.writer import write_batch

url, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = json.load(open(path))
order = random.Random(seed).sample(records, len(records))
engine = create_store_engine(url)
factory = session_factory(engine)
for start in range(0, len(order), 9):
    write_batch(factory, order[start : start + 9], attempts=10)
engine.dispose()
"""


def test_writer_processes_of_overlapping_batches_keep_counts_exact(engine, database_url, tmp_path):
    """Three processes writing the same runs in their own orders leave the in-order state."""
    factory = session_factory(engine)
    records = []
    for n in range(2):
        records += _run(f"c-{n}", f"{n + 1:032x}", events=10)
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, str(path), str(seed)], cwd=tmp_path
        )
        for seed in range(3)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0]
    concurrent = _snapshot(factory)
    _empty(factory)
    _write(factory, records)
    assert concurrent == _snapshot(factory)


POISON = {  # a value as sent, and the backends whose database (or driver) refuses it
    "lone surrogate": ("web\udc80", {"sqlite", "postgresql", "mariadb"}),
    "NUL byte": ("web\x00x", {"postgresql"}),
    "overlong": ("w" * 300, {"postgresql", "mariadb"}),
}


def _stored_without(factory, records, poisoned):
    """The store's rows after writing ``records`` but the ``poisoned`` ones, once emptied."""
    _empty(factory)
    _write(factory, [r for r in records if all(r is not p for p in poisoned)])
    return _snapshot(factory)


def _set_aside(factory):
    """The (span id, reason) of every rejected_spans row."""
    with factory() as session:
        return sorted(session.execute(select(RejectedSpan.span_id, RejectedSpan.reason)).all())


@pytest.mark.parametrize("kind", sorted(POISON))
def test_a_value_the_database_refuses_is_set_aside_and_the_rest_stored(
    engine, backend, uncleaned_text, kind
):
    """One record the backend refuses goes to rejected_spans; every other one is stored."""
    factory = session_factory(engine)
    records = _run(events=3)
    value, refusing = POISON[kind]
    poisoned = records[2]  # an event of the first step
    poisoned["attributes"][attr.INSTANCE_NAME] = value
    result = write_batch(factory, records)
    stored = _snapshot(factory)
    if backend not in refusing:
        assert (result.written, result.rejected) == (len(records), [])
        return
    assert result.written == len(records) - 1
    (rejected,) = result.rejected
    assert rejected.record is poisoned
    assert rejected.reason.startswith("refused by the database: ")
    assert _set_aside(factory) == [(poisoned["span_id"], rejected.reason)]
    steps = {step["step_name"]: step for step in stored["provision_steps"]}
    assert (steps["Launch"]["completed"], steps["Wait"]["completed"]) == (2, 2)
    again = write_batch(factory, records)  # a replay stores nothing twice
    assert (again.written, again.duplicates, len(again.rejected)) == (0, len(records) - 1, 1)
    assert _snapshot(factory) == stored
    assert _set_aside(factory) == [(poisoned["span_id"], rejected.reason)]
    assert stored == _stored_without(factory, records, [poisoned])


def test_records_a_constraint_refuses_are_isolated_in_a_large_batch(engine, refusing_store):
    """Two events a database constraint refuses, among 204 records: the other 202 are stored."""
    from tests.conftest import REFUSED_INSTANCE

    factory = session_factory(engine)
    records = []
    for n in range(4):
        records += _run(f"c-{n}", f"{n + 1:032x}", events=23)
    poisoned = [records[5], records[150]]
    for record in poisoned:
        assert record["kind"] == attr.SPAN_EVENT
        record["attributes"][attr.INSTANCE_ID] = REFUSED_INSTANCE
    result = write_batch(factory, records)
    assert len(records) == 204
    assert result.written == 202
    assert sorted(id(r.record) for r in result.rejected) == sorted(map(id, poisoned))
    assert [span for span, _ in _set_aside(factory)] == sorted(r["span_id"] for r in poisoned)
    assert all("refused" in reason for _, reason in _set_aside(factory))
    stored = _snapshot(factory)
    assert len(stored["cluster_events"]) == 4 * 2 * 23 - 2
    assert stored == _stored_without(factory, records, poisoned)


def test_the_rejected_row_of_a_refused_record_holds_no_refusable_value(engine, uncleaned_text):
    """The rejected_spans row of a refused record holds no value a backend could refuse."""
    factory = session_factory(engine)
    records = _run(events=1)
    records[1]["attributes"][attr.INSTANCE_NAME] = "\udc80\x00" + "é" * 300
    records[1]["attributes"]["provisioning.extra"] = "\ud800 \x00"
    result = write_batch(factory, records)
    assert [rejected.record for rejected in result.rejected] == [records[1]]
    with factory() as session:
        (row,) = session.scalars(select(RejectedSpan)).all()
    assert row.span_id == records[1]["span_id"]
    assert row.payload.isascii()
    assert json.loads(row.payload)["attributes"]["provisioning.extra"] == "\ud800 \x00"


def test_two_kinds_of_span_under_one_id_give_one_state_in_any_order(engine):
    """A step marker and an operation marker sharing a span id: both rows, whichever came first."""
    factory = session_factory(engine)
    records = _run(operation_marker=True)
    marker = next(r for r in records if r["kind"] == attr.SPAN_OPERATION_START)
    step_marker = next(r for r in records if r["kind"] == attr.SPAN_STEP_START)
    clash = dict(marker, span_id=step_marker["span_id"])
    running = [r for r in records if r["kind"] not in (attr.SPAN_OPERATION, marker["kind"])]
    batch = [*running, clash]  # the operation still runs: only the marker makes its row
    _write(factory, batch)
    expected = _snapshot(factory)
    for order in (list(reversed(batch)), [clash, *batch[:-1]]):
        _empty(factory)
        _write(factory, order)
        assert _snapshot(factory) == expected
    replay = _write(factory, batch)
    assert replay.written == 0
