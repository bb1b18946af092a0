"""``provlog event list`` and ``provlog failures``: filters and limits."""

from __future__ import annotations

import json

import pytest
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
