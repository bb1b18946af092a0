"""``provlog cluster|step|event|failures``: the same output from the API and from the store."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from otel_provlog.cli.commands import provlog
from otel_provlog.cli.demo_simulation import CREATING_STEPS, SCALING_STEPS
from tests.cli.provisioning import SIMULATED_CLUSTER
from tests.served_api import ServedApi, free_port

pytestmark = pytest.mark.database

CLUSTER = SIMULATED_CLUSTER
COMMANDS = [
    ["cluster", "list"],
    ["cluster", "show", CLUSTER],
    ["step", "list", CLUSTER],
    ["event", "list", CLUSTER, "--limit", "0"],
    ["event", "list", CLUSTER, "--outcome", "failure", "--step", "Start Hadoop services"],
    ["failures", CLUSTER],
]


@pytest.fixture(autouse=True)
def no_provlog_settings(monkeypatch):
    """Commands see only the options a test gives them."""
    for name in ("PROVLOG_API_URL", "PROVLOG_TOKEN", "PROVLOG_DATABASE_URL", "PROVLOG_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def served(simulated_store, tmp_path_factory):
    """The API on the simulated store (no authentication: an admin, like offline)."""
    env = {"PROVLOG_DATABASE_URL": simulated_store, "PROVLOG_AUTH": "none"}
    with ServedApi(env, workers=1, cwd=tmp_path_factory.mktemp("served")) as api:
        yield api


def provlog_run(*args: str):
    """Run ``provlog`` in-process; return click's result."""
    return CliRunner().invoke(provlog, list(args))


@pytest.mark.parametrize("output_format", ["table", "json", "yaml", "markdown"])
def test_the_api_and_the_store_give_the_same_output(served, simulated_store, output_format):
    """Every read command prints the same text online (--api-url) and offline."""
    for command in COMMANDS:
        online = provlog_run(*command, "-f", output_format, "--api-url", served.url)
        offline = provlog_run(*command, "-f", output_format, "--database-url", simulated_store)
        assert online.exit_code == 0, online.output
        assert offline.exit_code == 0, offline.output
        assert online.stdout == offline.stdout
        assert online.stdout.strip()


def test_without_an_api_url_the_store_of_the_settings_is_read(simulated_store, monkeypatch):
    """No PROVLOG_API_URL: PROVLOG_DATABASE_URL's store is read directly."""
    monkeypatch.setenv("PROVLOG_DATABASE_URL", simulated_store)
    result = provlog_run("cluster", "list", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(result.stdout)] == [CLUSTER]


def test_json_and_yaml_hold_the_recorded_steps_and_failures(simulated_store):
    """``cluster show`` lists every step; ``failures`` every failed event, in JSON and YAML."""
    shown = json.loads(
        provlog_run(
            "cluster", "show", CLUSTER, "-f", "json", "--database-url", simulated_store
        ).stdout
    )
    assert [s["step_name"] for s in shown["steps"]] == [*CREATING_STEPS, *SCALING_STEPS]
    assert shown["operation"]["status"] == "successful"
    failed = sum(s["failed"] for s in shown["steps"])
    as_json = json.loads(
        provlog_run("failures", CLUSTER, "-f", "json", "--database-url", simulated_store).stdout
    )
    assert len(as_json) == failed > 0
    assert all(f["successful"] is False and f["error_id"] for f in as_json)
    as_yaml = provlog_run("failures", CLUSTER, "-f", "yaml", "--database-url", simulated_store)
    assert yaml.safe_load(as_yaml.stdout) == as_json


def test_event_filters_keep_what_they_name(simulated_store):
    """--outcome, --step (by name: the newest such step), --instance and --since filter."""

    def events(*args: str) -> list[dict]:
        result = provlog_run(
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
        provlog_run("step", "list", CLUSTER, "-f", "json", "--database-url", simulated_store).stdout
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


def test_limit_shows_the_first_rows_and_says_so(simulated_store):
    """``--limit 3`` prints three events and a note on stderr that there are more."""
    result = provlog_run(
        "event", "list", CLUSTER, "-f", "json", "--limit", "3", "--database-url", simulated_store
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    assert "--limit 0 shows all" in result.stderr


def test_markdown_is_a_table_with_a_header(simulated_store):
    """``-f markdown`` prints a pipe table: a header, a separator and one row per step."""
    lines = provlog_run(
        "step", "list", CLUSTER, "-f", "markdown", "--database-url", simulated_store
    ).stdout.splitlines()
    assert lines[0].startswith("| STEP | TYPE | STATUS | DONE |")
    assert set(lines[1]) <= set("|-: ")
    assert len(lines) == 2 + len(CREATING_STEPS) + len(SCALING_STEPS)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["cluster", "show", "no-such-cluster"], 4, "no cluster 'no-such-cluster'"),
        (["step", "list", "no-such-cluster"], 4, "no cluster 'no-such-cluster'"),
        (["event", "list", CLUSTER, "--step", "No such step"], 4, "no step named"),
        (["event", "list", CLUSTER, "--outcome", "maybe"], 2, "Invalid value"),
        (["event", "list", CLUSTER, "--since", "yesterday"], 2, "neither a duration"),
        (["failures", CLUSTER, "--group", "--node-group", "x"], 2, "--group takes no filter"),
    ],
)
def test_errors_are_one_line_with_the_contract_exit_code(simulated_store, args, code, message):
    """Not found is 4, bad usage 2; the error is one line (after click's usage), no traceback."""
    result = provlog_run(*args, "--database-url", simulated_store)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert message in errors[0]


def test_an_unreachable_api_or_store_is_exit_code_5(tmp_path):
    """Nothing listening at --api-url, or no store at --database-url: exit code 5."""
    result = provlog_run("cluster", "list", "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 5, result.output
    assert "does not answer" in result.stderr
    result = provlog_run("cluster", "list", "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 5, result.output
    assert result.stderr.strip().splitlines() == [f"Error: no store at {tmp_path / 'x.db'}"]
