"""``provlog event list`` and ``provlog failures``: filters and limits."""

from __future__ import annotations

import json

import pytest
import responses
import yaml

from tests.cli.provisioning import SIMULATED_CLUSTER

pytestmark = pytest.mark.database

CLUSTER = SIMULATED_CLUSTER


def test_event_filters_keep_what_they_name(run_provlog, simulated_store):
    """--outcome, --step (by name: the newest such step), --instance and --since filter."""

    def events(*args: str) -> list[dict]:
        result = run_provlog(
            "event",
            "list",
            CLUSTER,
            "-f",
            "json",
            "--limit",
            "0",
            "--database-url",
            simulated_store,
            *args,
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    everything = events()
    failures = events("--outcome", "failure")
    assert failures
    assert {e["id"] for e in failures} == {e["id"] for e in everything if not e["successful"]}
    assert all(e["successful"] for e in events("--outcome", "success"))
    steps = json.loads(
        run_provlog("step", "list", CLUSTER, "-f", "json", "--database-url", simulated_store).stdout
    )
    newest = [s for s in steps if s["step_name"] == "Configure HDFS"][-1]
    by_name = events("--step", "Configure HDFS")
    assert {e["step_id"] for e in by_name} == {newest["id"]}
    assert len(by_name) == newest["completed"] + newest["failed"]
    assert events("--step", newest["id"]) == by_name
    instance = failures[0]["instance_id"]
    assert {e["instance_id"] for e in events("--instance", instance)} == {instance}
    assert len(events("--since", "1h")) == len(everything)
    assert events("--since", "2999-01-01T00:00:00") == []


def test_limit_shows_the_first_rows_and_says_so(run_provlog, simulated_store):
    """``--limit 3`` prints three events and a note on stderr that there are more."""
    result = run_provlog(
        "event", "list", CLUSTER, "-f", "json", "--limit", "3", "--database-url", simulated_store
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    assert "--limit 0 shows all" in result.stderr


def test_failures_in_json_and_yaml(run_provlog, simulated_store):
    """``failures`` lists every failed event with its error id, the same in JSON and YAML."""
    steps = json.loads(
        run_provlog("step", "list", CLUSTER, "-f", "json", "--database-url", simulated_store).stdout
    )
    as_json = json.loads(
        run_provlog("failures", CLUSTER, "-f", "json", "--database-url", simulated_store).stdout
    )
    assert len(as_json) == sum(s["failed"] for s in steps) > 0
    assert all(f["successful"] is False and f["error_id"] for f in as_json)
    as_yaml = run_provlog("failures", CLUSTER, "-f", "yaml", "--database-url", simulated_store)
    assert yaml.safe_load(as_yaml.stdout) == as_json


def test_failures_grouped_by_cause_in_the_store(run_provlog, simulated_store):
    """``failures --group`` counts every failure once, by cause, filtered by step."""

    def groups(*args: str) -> list[dict]:
        result = run_provlog(
            "failures", CLUSTER, "--group", "-f", "json", "--database-url", simulated_store, *args
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    failures = json.loads(
        run_provlog(
            "failures", CLUSTER, "-f", "json", "--limit", "0", "--database-url", simulated_store
        ).stdout
    )
    everything = groups()
    assert sum(g["count"] for g in everything) == len(failures)
    ssh = groups("--step", "Wait for instance accessibility")
    assert ssh
    assert all("is not accessible over SSH" in g["pattern"] for g in ssh)
    table = run_provlog("failures", CLUSTER, "--group", "--database-url", simulated_store).stdout
    assert "COUNT" in table
    assert "is not accessible over SSH" in table


@responses.activate
def test_failures_grouped_by_cause(run_provlog, failure_group):
    """``failures --group`` prints each cause with its count, node groups and an example."""
    base = "http://provlog.test"
    responses.get(
        f"{base}/v2/clusters/c-1/steps",
        json={
            "steps": [
                {
                    "id": "2b6f0b5e-0000-4000-8000-000000000001",
                    "cluster_id": "c-1",
                    "step_name": "Wait for ssh",
                    "completed": 1,
                    "failed": 3,
                    "total": 4,
                }
            ]
        },
        match=[
            responses.matchers.query_param_matcher(
                {"step_name": "Wait for ssh", "sort_by": "-created_at", "limit": "1"}
            )
        ],
    )
    responses.get(
        f"{base}/v2/clusters/c-1/failure-groups",
        json={"failure_groups": [failure_group]},
        match=[
            responses.matchers.query_param_matcher(
                {
                    "provision_step": "2b6f0b5e-0000-4000-8000-000000000001",
                    "node_group_id": "ng-worker",
                    "limit": "100",
                }
            )
        ],
    )
    args = ["failures", "c-1", "--group", "--api-url", base, "--step", "Wait for ssh"]
    table = run_provlog(*args, "--node-group", "ng-worker")
    assert table.exit_code == 0, table.output
    (row,) = [line for line in table.stdout.splitlines() if "not accessible" in line]
    assert row.split()[0] == "3"
    assert "Instance <name> is not accessible over SSH" in row
    assert "ng-worker: 2, (none): 1" in row
    assert "worker-7 (err-7)" in row
    as_json = run_provlog(*args, "--node-group", "ng-worker", "-f", "json")
    (group,) = json.loads(as_json.stdout)
    assert (group["fingerprint"], group["count"], group["node_groups"]) == (
        "f1",
        3,
        {"ng-worker": 2, "": 1},
    )
