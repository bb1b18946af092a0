"""The step views' reads: instances done, failed and running, on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from otel_provlog.exporter import step_reads, store
from otel_provlog.exporter.models import span_row_id
from otel_provlog.exporter.step_reads import DONE, FAILED, RUNNING
from tests.api.conftest import Seeder


@pytest.fixture
def seed(database_url: str) -> Any:
    """A seeder writing into the test's store."""
    seeder = Seeder(database_url)
    yield seeder
    seeder.close()


def _events(seed: Seeder, step_id: str, outcomes: list[tuple[str, str, bool, datetime]]) -> None:
    """Store events of a step: (node group, instance id, succeeded, ended at) each."""
    rows = []
    for group, instance, ok, ended in outcomes:
        ids = seed._span_row("c-1")
        rows.append(
            {
                **ids,
                "id": span_row_id(seed.trace, ids["span_id"]),
                "provision_step_id": step_id,
                "node_group_id": group,
                "instance_id": instance,
                "instance_name": f"name-{instance}",
                "successful": ok,
                "started_at": ended - timedelta(seconds=1),
                "created_at": ended,
                "updated_at": ended,
            }
        )
    with seed.sessions.begin() as session:
        store.add_events(session, rows)


def _read(seed: Seeder, step_id: str) -> tuple[step_reads.StepInstances, int]:
    """Read the step's instances; return them and how many queries it took."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            statements.append(args[2])

    event.listen(seed.engine, "before_cursor_execute", count)
    try:
        with seed.sessions() as session:
            found = step_reads.step_instances(session, step_id)
    finally:
        event.remove(seed.engine, "before_cursor_execute", count)
    return found, len(statements)


def _operation(seed: Seeder) -> tuple[str, str]:
    """An operation whose first step ended and whose second step runs (ids of both).

    Step one saw a0..a5 (a5 failed; a4's event ended after step two started); step two
    has a0 done, a2 failed then retried and done, a3 failed.
    """
    t0 = seed.t0
    seed.cluster("c-1")
    operation = seed.operation("c-1")
    first = seed.step("c-1", "Launching", total=6, operation_id=operation)
    groups = {"a0": "masters", "a1": "masters"}
    _events(
        seed,
        first,
        [
            (groups.get(f"a{n}", "workers"), f"a{n}", n != 5, t0 + timedelta(seconds=n + 1))
            for n in range(4)
        ]
        + [("workers", "a5", False, t0 + timedelta(seconds=6))],
    )
    seed.end_step(first, seconds=30, successful=False)
    second_start = t0 + timedelta(seconds=40)
    _events(seed, first, [("workers", "a4", True, t0 + timedelta(seconds=45))])
    second = seed.step("c-1", "Configuring", total=8, operation_id=operation, at=second_start)
    _events(
        seed,
        second,
        [
            ("masters", "a0", True, t0 + timedelta(seconds=50)),
            ("workers", "a2", False, t0 + timedelta(seconds=51)),
            ("workers", "a3", False, t0 + timedelta(seconds=52)),
            ("workers", "a2", True, t0 + timedelta(seconds=53)),
        ],
    )
    return first, second


def test_a_running_step_counts_done_failed_and_running_per_node_group(seed):
    """Instances seen in an earlier step of the operation and not yet in this one run in it."""
    _, second = _operation(seed)
    found, statements = _read(seed, second)
    assert statements == 2
    assert [(c.node_group_id, c.instance_id, c.state) for c in found.cells] == [
        ("masters", "a0", DONE),
        ("masters", "a1", RUNNING),
        ("workers", "a2", DONE),
        ("workers", "a3", FAILED),
        ("workers", "a4", RUNNING),
        ("workers", "a5", RUNNING),
    ]
    assert [(g.node_group_id, g.done, g.failed, g.running) for g in found.node_groups] == [
        ("masters", 1, 0, 1),
        ("workers", 1, 1, 2),
    ]
    assert found.finished == 3
    started = seed.t0 + timedelta(seconds=40)
    assert [(c.instance_id, c.since) for c in found.running] == [
        ("a1", started),
        ("a5", started),
        ("a4", seed.t0 + timedelta(seconds=45)),  # its previous event ended after the start
    ]
    assert found.running[0].instance_name == "name-a1"


def test_nothing_runs_in_an_ended_step_nor_in_an_operations_first_step(seed):
    """An ended step has no running instance; a first step's unseen ones are not guessed."""
    first, second = _operation(seed)
    found, _ = _read(seed, first)
    assert found.running == []
    assert {c.state for c in found.cells} == {DONE, FAILED}
    seed.end_step(second, seconds=20, successful=False)
    ended, _ = _read(seed, second)
    assert ended.running == []
    assert [(g.node_group_id, g.running) for g in ended.node_groups] == [
        ("masters", 0),
        ("workers", 0),
    ]
    seed.trace = "5bf92f3577b34da6a3ce929d0e0e4737"  # a later operation: a trace of its own
    operation = seed.operation("c-1", step_type="scaling", at=seed.t0 + timedelta(minutes=5))
    later = seed.step(
        "c-1", "Launching", total=3, operation_id=operation, at=seed.t0 + timedelta(minutes=5)
    )
    fresh, _ = _read(seed, later)
    assert fresh.cells == []
    assert fresh.running == []


def test_the_reads_take_two_statements_whatever_the_step_size(seed):
    """A 2,000-instance step is read in the same two statements as a small one."""
    t0 = seed.t0
    seed.cluster("c-1")
    operation = seed.operation("c-1")
    first = seed.step("c-1", "Launching", total=2000, operation_id=operation)
    _events(
        seed,
        first,
        [(f"ng-{n % 3}", f"i-{n}", True, t0 + timedelta(seconds=1)) for n in range(2000)],
    )
    seed.end_step(first, seconds=10)
    second = seed.step(
        "c-1", "Configuring", total=2000, operation_id=operation, at=t0 + timedelta(seconds=20)
    )
    _events(
        seed,
        second,
        [(f"ng-{n % 3}", f"i-{n}", n % 7 != 0, t0 + timedelta(seconds=30)) for n in range(1500)],
    )
    found, statements = _read(seed, second)
    assert statements == 2
    assert len(found.cells) == 2000
    assert len(found.running) == 500
    assert sum(g.done + g.failed + g.running for g in found.node_groups) == 2000
    assert sum(g.failed for g in found.node_groups) == len(range(0, 1500, 7))
