"""Read commands find their source (the API or the store) and end with the contract's codes."""

from __future__ import annotations

import json

import pytest

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
    ["failures", CLUSTER, "--group"],
]


@pytest.fixture(scope="module")
def served(simulated_store, tmp_path_factory):
    """The API on the simulated store (no authentication: an admin, like offline)."""
    env = {"PROVLOG_DATABASE_URL": simulated_store, "PROVLOG_AUTH": "none"}
    with ServedApi(env, workers=1, cwd=tmp_path_factory.mktemp("served")) as api:
        yield api


@pytest.mark.parametrize("output_format", ["table", "json", "yaml", "markdown"])
def test_the_api_and_the_store_give_the_same_output(
    run_provlog, served, simulated_store, output_format
):
    """Every read command prints the same text online (--api-url) and offline."""
    for command in COMMANDS:
        online = run_provlog(*command, "-f", output_format, "--api-url", served.url)
        offline = run_provlog(*command, "-f", output_format, "--database-url", simulated_store)
        assert online.exit_code == 0, online.output
        assert offline.exit_code == 0, offline.output
        assert online.stdout == offline.stdout
        assert online.stdout.strip()


def test_without_an_api_url_the_store_of_the_settings_is_read(
    run_provlog, simulated_store, monkeypatch
):
    """No PROVLOG_API_URL: PROVLOG_DATABASE_URL's store is read directly."""
    monkeypatch.setenv("PROVLOG_DATABASE_URL", simulated_store)
    result = run_provlog("cluster", "list", "-f", "json")
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(result.stdout)] == [CLUSTER]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["cluster", "show", "no-such-cluster"], 4, "no cluster 'no-such-cluster'"),
        (["step", "list", "no-such-cluster"], 4, "no cluster 'no-such-cluster'"),
        (["event", "list", CLUSTER, "--step", "No such step"], 4, "no step named"),
        (["event", "list", CLUSTER, "--outcome", "maybe"], 2, "Invalid value"),
        (["event", "list", CLUSTER, "--since", "yesterday"], 2, "neither a duration"),
        (["failures", CLUSTER, "--group", "--since", "1h"], 2, "--group takes --step and"),
    ],
)
def test_errors_are_one_line_with_the_contract_exit_code(
    run_provlog, simulated_store, args, code, message
):
    """Not found is 4, bad usage 2; the error is one line (after click's usage), no traceback."""
    result = run_provlog(*args, "--database-url", simulated_store)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert message in errors[0]


def test_an_unreachable_api_or_store_is_exit_code_5(run_provlog, tmp_path):
    """Nothing listening at --api-url, or no store at --database-url: exit code 5."""
    result = run_provlog("cluster", "list", "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 5, result.output
    assert "does not answer" in result.stderr
    result = run_provlog("cluster", "list", "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 5, result.output
    assert result.stderr.strip().splitlines() == [f"Error: no store at {tmp_path / 'x.db'}"]


def test_an_unusable_database_url_is_bad_usage(run_provlog):
    """A URL SQLAlchemy cannot use is exit code 2, in one line."""
    result = run_provlog("cluster", "list", "--database-url", "nonsense://x")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: unusable database URL 'nonsense://x'")
    assert len(result.stderr.strip().splitlines()) == 1
