"""Reads never write, and the cluster GET costs O(steps), never O(events)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import DBAPIError

from otel_provlog.exporter.models import Base, Cluster

LATER = timedelta(minutes=5)
READS = [
    "/v1.1/t-1/clusters",
    "/v1.1/t-1/clusters/c-1",
    "/v1.1/t-1/clusters/c-1?show_progress=true",
    "/v1.1/t-1/clusters/c-1/progress",
    "/v2/clusters",
    "/v2/clusters/c-1?show_progress=true",
    "/v2/clusters/c-1/steps",
    "/v2/clusters/c-1/events",
    "/v2/clusters/c-1/failures",
    "/healthz",
]


@contextmanager
def _statements(app):
    engine = app.extensions["provlog"]["engine"]
    seen: list[str] = []

    def _record(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _record)


def _snapshot(seed):
    with seed.sessions() as session:
        return {
            table.name: sorted(map(repr, session.execute(select(table)).all()))
            for table in Base.metadata.sorted_tables
        }


def _seed_cluster(seed, events: int) -> None:
    seed.cluster()
    operation = seed.operation(plan=["Launching instances", "Waiting for ssh", "Configure"])
    done = seed.step(name="Launching instances", total=events, operation_id=operation)
    seed.events(done, events, failed=1)
    seed.end_step(done, seconds=30, successful=False)
    running = seed.step(
        name="Waiting for ssh", total=events, operation_id=operation, at=seed.t0 + LATER
    )
    seed.events(running, events // 2, at=seed.t0 + LATER)


@pytest.mark.parametrize("path", ["/v1.1/t-1/clusters/c-1", "/v2/clusters/c-1"])
def test_cluster_get_never_reads_events(app, client, seed, path):
    """Without show_progress, no statement of the cluster GET touches cluster_events."""
    _seed_cluster(seed, 20)
    with _statements(app) as seen:
        assert client.get(path).status_code == 200
    assert seen
    assert not [s for s in seen if "cluster_events" in s]


def test_cluster_get_statement_count_does_not_grow_with_events(app, client, seed):
    """The cluster GET runs as many statements for 10 events as for 200."""
    _seed_cluster(seed, 10)
    with _statements(app) as few:
        client.get("/v1.1/t-1/clusters/c-1")
    step = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]["provisioning_progress"][1]
    seed.events(step["id"], 190, at=seed.t0 + LATER)
    with _statements(app) as many:
        body = client.get("/v1.1/t-1/clusters/c-1").get_json()
    assert len(many) == len(few)
    assert body["cluster"]["provisioning_progress"][1]["completed"] == 195


def test_reads_change_nothing(app, client, seed):
    """Every GET leaves the store exactly as it was and sends only reads."""
    _seed_cluster(seed, 6)
    before = _snapshot(seed)
    with _statements(app) as seen:
        for path in READS:
            assert client.get(path).status_code == 200, path
    assert _snapshot(seed) == before
    writes = [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []


def test_the_reader_engine_cannot_write(app):
    """The API's engine refuses writes at the database."""
    engine = app.extensions["provlog"]["engine"]
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(insert(Cluster).values(id="c-x", status="Unknown"))


def test_cluster_get_estimates_from_history_and_rate(client, seed):
    """Steps carry estimates: the running one from rate and history, the operation too."""
    seed.cluster("c-0")
    earlier = seed.step("c-0", name="Waiting for ssh", total=10)
    seed.end_step(earlier, seconds=100)
    config = seed.step("c-0", name="Configure", total=1, at=seed.t0 + timedelta(minutes=3))
    seed.end_step(config, seconds=40)
    _seed_cluster(seed, 10)
    cluster = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]
    launching, waiting = cluster["provisioning_progress"]
    assert launching["estimate"]["basis"] == "ended"
    assert launching["estimate"]["actual_duration"] == 30.0
    assert waiting["estimate"]["basis"] == "rate+history"
    assert waiting["estimate"]["expected_duration"] == 100.0
    operation = cluster["operation"]["estimate"]
    assert operation["steps_left"] == 1
    assert operation["unknown_steps"] == 0
    assert operation["seconds_left"] >= 40.0
