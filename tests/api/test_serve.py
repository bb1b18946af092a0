"""``provlog serve``: gunicorn with several workers, settings from the environment."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from otel_provlog.cli.serve_commands import default_workers, serve
from tests.served_api import ServedApi


def test_serve_answers_with_several_workers(database_url, seed, tmp_path):
    """The served API answers requests and runs the requested number of workers."""
    seed.cluster("c-1", tenant="t-1")
    env = {"PROVLOG_DATABASE_URL": database_url, "PROVLOG_AUTH": "none"}
    with ServedApi(env, workers=2, cwd=tmp_path) as api:
        assert api.get("/healthz") == (200, {"status": "ok"})
        status, body = api.get("/v1.1/t-1/clusters/c-1")
        assert status == 200
        assert body["cluster"]["id"] == "c-1"
        status, body = api.get("/v2/clusters/missing")
        assert (status, body["error_name"]) == (404, "NOT_FOUND")
    assert api.returncode == 0
    assert "Control socket" not in api.output  # no gunicornc socket: nothing shared, no stalls
    assert api.output.count("Booting worker with pid") == 2


@pytest.mark.parametrize(
    "env",
    [{"PROVLOG_AUTH": "kerberos"}, {"PROVLOG_AUTH": "tokens", "PROVLOG_API_TOKENS": "x:reader"}],
)
def test_serve_refuses_bad_settings(monkeypatch, env):
    """Unusable settings stop the command with exit code 1 before any worker starts."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(serve, ["--port", "0"])
    assert result.exit_code == 1
    assert "PROVLOG_" in result.output


def test_default_workers_are_several():
    """By default there is more than one worker, and never a crowd."""
    assert 3 <= default_workers() <= 8
