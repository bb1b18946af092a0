"""Writers' data access: idempotent inserts and exact counts on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from otel_provlog.exporter import queries, store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import (
    Cluster,
    ClusterEvent,
    ClusterStatus,
    ProvisionStep,
    span_row_id,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)


def _seed_step(session, span_id="1000000000000000", created_at=T0, name="Launching instances"):
    store.ensure_clusters(session, {"c-1": {"name": "hadoop", "tenant_id": "t-1"}}, at=T0)
    row = {
        "id": span_row_id(TRACE, span_id),
        "cluster_id": "c-1",
        "trace_id": TRACE,
        "span_id": span_id,
        "step_name": name,
        "step_type": "creating",
        "total": 4,
        "created_at": created_at,
        "updated_at": created_at,
        "started_at": created_at,
    }
    store.insert_missing(session, ProvisionStep, [row], ["trace_id", "span_id"])
    return row["id"]


def _event(step_id, n, *, successful=True, at=T0):
    span_id = f"{n:016x}"
    return {
        "id": span_row_id(TRACE, span_id),
        "cluster_id": "c-1",
        "provision_step_id": step_id,
        "instance_id": f"i-{n}",
        "instance_name": f"worker-{n}",
        "node_group_id": "ng-1",
        "successful": successful,
        "event_info": None if successful else "boom",
        "trace_id": TRACE,
        "span_id": span_id,
        "created_at": at + timedelta(seconds=n),
        "updated_at": at + timedelta(seconds=n),
    }


def test_insert_missing_skips_stored_and_repeated_keys(engine):
    """Only rows with new keys are inserted, and a key repeated in one batch goes in once."""
    factory = session_factory(engine)
    with factory.begin() as session:
        step_id = _seed_step(session)
        first = store.insert_missing(
            session,
            ProvisionStep,
            [
                {"id": step_id, "cluster_id": "c-1", "trace_id": TRACE, "span_id": "1" + "0" * 15},
                {"id": "x", "cluster_id": "c-1", "trace_id": TRACE, "span_id": "2" * 16},
                {"id": "y", "cluster_id": "c-1", "trace_id": TRACE, "span_id": "2" * 16},
            ],
            ["trace_id", "span_id"],
        )
    assert [row["id"] for row in first] == ["x"]
    with factory() as session:
        assert len(session.scalars(select(ProvisionStep)).all()) == 2


def test_add_events_counts_exactly_under_replay(engine):
    """Replaying a batch of events inserts nothing and leaves the step's counts exact."""
    factory = session_factory(engine)
    with factory.begin() as session:
        step_id = _seed_step(session)
    batch = [_event(step_id, 1), _event(step_id, 2), _event(step_id, 3, successful=False)]
    for _ in range(3):
        with factory.begin() as session:
            store.add_events(session, batch)
    with factory() as session:
        step = session.get(ProvisionStep, step_id)
        assert (step.completed, step.failed, step.successful) == (2, 1, False)
        assert len(queries.list_events(session, "c-1", step_id=step_id)) == 3
        assert step.updated_at == T0 + timedelta(seconds=3)


def test_late_older_event_does_not_move_updated_at_back(engine):
    """An event arriving late with an older time still counts, and updated_at never goes back."""
    factory = session_factory(engine)
    with factory.begin() as session:
        step_id = _seed_step(session)
        store.add_events(session, [_event(step_id, 5)])
    with factory.begin() as session:
        store.add_events(session, [_event(step_id, 1)])
    with factory() as session:
        step = session.get(ProvisionStep, step_id)
    assert step.completed == 2
    assert step.updated_at == T0 + timedelta(seconds=5)
    assert step.successful is None


def test_ensure_clusters_creates_then_fills_in(engine):
    """A cluster is created on first sight and later spans fill in its name and tenant."""
    factory = session_factory(engine)
    with factory.begin() as session:
        store.ensure_clusters(session, {"c-2": {}}, at=T0)
    with factory.begin() as session:
        store.ensure_clusters(session, {"c-2": {"name": "spark", "tenant_id": "t-9"}}, at=T0)
        store.ensure_clusters(session, {"c-2": {"name": None}}, at=T0)
    with factory() as session:
        cluster = session.get(Cluster, "c-2")
    assert (cluster.name, cluster.tenant_id, cluster.status) == (
        "spark",
        "t-9",
        ClusterStatus.UNKNOWN,
    )


def test_set_cluster_status(engine):
    """The cluster's status and description change together."""
    factory = session_factory(engine)
    with factory.begin() as session:
        store.ensure_clusters(session, {"c-3": {}}, at=T0)
        store.set_cluster_status(session, "c-3", ClusterStatus.ERROR, description="step failed")
    with factory() as session:
        cluster = session.get(Cluster, "c-3")
    assert (cluster.status, cluster.status_description) == ("Error", "step failed")


def test_queries_order_steps_and_pick_the_current_one(engine):
    """Steps come oldest first, the current step is the newest, and tenants are scoped."""
    factory = session_factory(engine)
    with factory.begin() as session:
        second = _seed_step(session, "2" * 16, T0 + timedelta(minutes=5), "Waiting for ssh")
        first = _seed_step(session, "1" * 16, T0, "Launching instances")
    with factory() as session:
        assert [s.id for s in queries.list_steps(session, "c-1")] == [first, second]
        assert queries.current_step(session, "c-1").id == second
        assert queries.get_cluster(session, "c-1", tenant_id="t-1") is not None
        assert queries.get_cluster(session, "c-1", tenant_id="t-2") is None
        assert queries.current_step(session, "missing") is None


def test_merge_clusters_widens_the_time_range_and_fills_names(engine):
    """created_at only moves back, updated_at only forward; given names fill in."""
    factory = session_factory(engine)
    later = T0 + timedelta(minutes=5)
    with factory.begin() as session:
        store.merge_clusters(
            session,
            {"c-4": {"name": None, "tenant_id": "t-1", "first_at": later, "last_at": later}},
        )
    with factory.begin() as session:
        store.merge_clusters(
            session, {"c-4": {"name": "hdp", "tenant_id": None, "first_at": T0, "last_at": T0}}
        )
    with factory() as session:
        cluster = session.get(Cluster, "c-4")
    assert (cluster.name, cluster.tenant_id) == ("hdp", "t-1")
    assert (cluster.created_at, cluster.updated_at) == (T0, later)


def test_a_failed_event_fails_a_step_that_already_ended(engine):
    """add_events turns an ended successful step failed; a running one stays running."""
    factory = session_factory(engine)
    with factory.begin() as session:
        ended = _seed_step(session, "1" * 16)
        running = _seed_step(session, "2" * 16)
        session.execute(
            update(ProvisionStep)
            .where(ProvisionStep.id == ended)
            .values(status="successful", successful=True)
        )
    with factory.begin() as session:
        store.add_events(
            session, [_event(ended, 1, successful=False), _event(running, 2, successful=False)]
        )
    with factory() as session:
        assert (
            session.get(ProvisionStep, ended).status,
            session.get(ProvisionStep, ended).successful,
        ) == ("failed", False)
        assert (
            session.get(ProvisionStep, running).status,
            session.get(ProvisionStep, running).successful,
        ) == ("running", False)


def _full_event(step_id, n, *, at):
    """An event row giving every column, as the drain's mapping makes them."""
    row = _event(step_id, n, successful=n % 3 != 0, at=at)
    return row | {
        "stacktrace": None if row["successful"] else "Traceback: é ✓",
        "error_id": None if row["successful"] else f"err-{n}",
        "error_fingerprint": None,
        "error_pattern": None,
        "started_at": at,
    }


@pytest.mark.parametrize("count", [3, 200])
def test_insert_rows_stores_what_sqlalchemy_would(engine, count):
    """Full rows go to the driver (``COPY`` on PostgreSQL from 64 rows) with the same values.

    Times keep their microseconds and come back as UTC, whatever zone they were given in;
    booleans, None and non-ASCII text survive; rows missing a column still get its default.
    """
    factory = session_factory(engine)
    elsewhere = timezone(timedelta(hours=-5))
    at = T0.astimezone(elsewhere)
    with factory.begin() as session:
        step_id = _seed_step(session)
        rows = [_full_event(step_id, n, at=at) for n in range(count)]
        store.insert_rows(session, ClusterEvent.__table__, rows)
        partial = {k: v for k, v in _full_event(step_id, count, at=at).items() if k != "stacktrace"}
        store.insert_rows(session, ClusterEvent.__table__, [partial])
    with factory() as session:
        stored = {e.id: e for e in session.scalars(select(ClusterEvent))}
    assert len(stored) == count + 1
    for row in rows:
        event = stored[row["id"]]
        assert event.created_at == row["created_at"]
        assert event.created_at.tzinfo == UTC
        assert event.started_at == T0
        assert event.successful is row["successful"]
        assert (event.stacktrace, event.error_id) == (row["stacktrace"], row["error_id"])
        assert event.error_fingerprint is None
    assert stored[partial["id"]].stacktrace is None


def test_insert_rows_raises_the_database_refusal_as_sqlalchemy_does(engine):
    """A row the database refuses raises :class:`IntegrityError`, for the writer to isolate."""
    factory = session_factory(engine)
    with factory.begin() as session:
        step_id = _seed_step(session)
    for count in (3, 200):
        rows = [_full_event("no-such-step", n, at=T0) for n in range(count)]
        with pytest.raises(IntegrityError), factory.begin() as session:
            store.insert_rows(session, ClusterEvent.__table__, rows)
    with factory() as session:
        assert session.scalars(select(ClusterEvent)).all() == []
        assert session.get(ProvisionStep, step_id) is not None
