"""Telling database errors apart, on real errors of every backend."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from otel_provlog.exporter.database_errors import Failure, classify, reason

NOW = "2026-01-01 00:00:00"


def _failure(engine, statement, **params):
    """The error running ``statement`` raises in a transaction of ``engine``."""
    with pytest.raises((DBAPIError, UnicodeError)) as caught, engine.begin() as connection:
        connection.execute(text(statement), params)
    return caught.value


INSERT_CLUSTER = (
    "INSERT INTO clusters (id, status, created_at, updated_at) VALUES (:id, 'Unknown', :now, :now)"
)


def _add_cluster(engine, cluster_id):
    with engine.begin() as connection:
        connection.execute(text(INSERT_CLUSTER), {"id": cluster_id, "now": NOW})


def _insert_cluster(engine, cluster_id):
    """The error inserting the cluster ``cluster_id`` raises."""
    return _failure(engine, INSERT_CLUSTER, id=cluster_id, now=NOW)


def test_values_the_backend_refuses_are_refused(engine, backend):
    """Lone surrogates everywhere, NUL bytes on PostgreSQL, overlong ids on the servers."""
    cases = {"lone surrogate": "c\udc80"}
    if backend == "postgresql":
        cases["NUL byte"] = "c\x00"
    if backend != "sqlite":
        cases["overlong"] = "c" * 300
    for what, value in cases.items():
        error = _insert_cluster(engine, value)
        assert classify(error) is Failure.REFUSED, what
        assert reason(error).startswith("refused by the database: ")
        assert "INSERT" not in reason(error)


def test_broken_constraints_are_conflicts(engine):
    """A duplicate key or a missing parent row is a conflict: a race, or the data if it lasts."""
    _add_cluster(engine, "c-1")
    assert classify(_insert_cluster(engine, "c-1")) is Failure.CONFLICT
    orphan = _failure(
        engine,
        "INSERT INTO cluster_operations (id, cluster_id, step_type, status, created_at,"
        " updated_at, trace_id, span_id) VALUES ('o', 'nope', 'creating', 'running', :now,"
        " :now, 't', 's')",
        now=NOW,
    )
    assert classify(orphan) is Failure.CONFLICT


def test_a_missing_table_or_server_is_unavailable(engine, unreachable_url):
    """What no data can fix is the database being unavailable."""
    assert classify(_failure(engine, "SELECT * FROM no_such_table")) is Failure.UNAVAILABLE
    nowhere = create_engine(unreachable_url)
    assert classify(_failure(nowhere, "SELECT 1")) is Failure.UNAVAILABLE
    nowhere.dispose()


def test_a_lock_held_too_long_is_busy(engine, database_url, backend):
    """A lock another transaction holds past the wait limit is busy: tried again later."""
    _add_cluster(engine, "c-1")
    impatient = {
        "sqlite": "PRAGMA busy_timeout = 0",
        "postgresql": "SET lock_timeout = '50ms'",
        "mariadb": "SET SESSION innodb_lock_wait_timeout = 1",
    }[backend]
    other = create_engine(database_url)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE clusters SET name = 'held' WHERE id = 'c-1'"))
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with other.begin() as connection:
            connection.execute(text(impatient))
            with pytest.raises(DBAPIError) as caught:
                connection.execute(text("UPDATE clusters SET name = 'mine' WHERE id = 'c-1'"))
    finally:
        release.set()
        holder.join(30)
        other.dispose()
    assert classify(caught.value) is Failure.BUSY


def test_program_faults_are_no_database_errors():
    """A fault of the program is left to propagate."""
    assert classify(KeyError("x")) is None
    assert classify(UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates")) is Failure.REFUSED


def test_a_check_the_data_fails_is_refused(engine, refusing_store):
    """A check constraint (a trigger on SQLite) says no to the data itself, not to a race."""
    from tests.conftest import REFUSED_INSTANCE

    with engine.begin() as connection:
        _add_parents(connection)
    error = _failure(
        engine,
        "INSERT INTO cluster_events (id, cluster_id, provision_step_id, instance_id,"
        " successful, created_at, updated_at, trace_id, span_id) VALUES ('e', 'c-1', 's-1',"
        " :instance, true, :now, :now, 't', 'e')",
        instance=REFUSED_INSTANCE,
        now=NOW,
    )
    assert classify(error) is Failure.REFUSED


def _add_parents(connection):
    connection.execute(
        text(
            "INSERT INTO clusters (id, status, created_at, updated_at)"
            " VALUES ('c-1', 'Unknown', :now, :now)"
        ),
        {"now": NOW},
    )
    connection.execute(
        text(
            "INSERT INTO provision_steps (id, cluster_id, step_name, completed, failed, status,"
            " created_at, updated_at, trace_id, span_id) VALUES ('s-1', 'c-1', '', 0, 0,"
            " 'running', :now, :now, 't', 's')"
        ),
        {"now": NOW},
    )
