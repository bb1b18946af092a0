"""``provlog cluster list|show`` and ``provlog step list``."""

from __future__ import annotations

import json

import pytest

from otel_provlog.cli.demo_simulation import CREATING_STEPS, SCALING_STEPS
from tests.cli.provisioning import SIMULATED_CLUSTER

pytestmark = pytest.mark.database

CLUSTER = SIMULATED_CLUSTER


def test_cluster_show_holds_every_step_and_the_operation(run_provlog, simulated_store):
    """``cluster show -f json`` has the operation and every step of both operations."""
    result = run_provlog(
        "cluster", "show", CLUSTER, "-f", "json", "--database-url", simulated_store
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [s["step_name"] for s in shown["steps"]] == [*CREATING_STEPS, *SCALING_STEPS]
    assert (shown["operation"]["step_type"], shown["operation"]["status"]) == (
        "scaling",
        "successful",
    )
    assert all(s["completed"] == s["total"] for s in shown["steps"])


def test_cluster_list_and_show_tables(run_provlog, simulated_store):
    """The tables name the cluster, its operation, its current step and each step's counts."""
    listed = run_provlog("cluster", "list", "--database-url", simulated_store).stdout
    assert CLUSTER in listed
    assert "scaling successful" in listed
    assert "Start Hadoop services 3/3" in listed
    shown = run_provlog("cluster", "show", CLUSTER, "--database-url", simulated_store).stdout
    assert shown.splitlines()[0] == f"cluster:   {CLUSTER}"
    assert "operation: scaling successful" in shown
    assert "12/12" in shown


def test_markdown_is_a_table_with_a_header(run_provlog, simulated_store):
    """``-f markdown`` prints a pipe table: a header, a separator and one row per step."""
    lines = run_provlog(
        "step", "list", CLUSTER, "-f", "markdown", "--database-url", simulated_store
    ).stdout.splitlines()
    assert lines[0].startswith("| STEP | TYPE | STATUS | DONE |")
    assert set(lines[1]) <= set("|-: ")
    assert len(lines) == 2 + len(CREATING_STEPS) + len(SCALING_STEPS)
