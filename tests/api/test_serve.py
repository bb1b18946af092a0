"""``provlog serve``: gunicorn with several workers, settings from the environment."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from otel_provlog.cli.serve_commands import default_workers, serve

START_SECONDS = 60
"""Bound on starting, and on stopping, the served API on a loaded machine."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serve_answers_with_several_workers(database_url, seed, tmp_path, output_once_ended):
    """The served API answers requests and runs the requested number of workers."""
    seed.cluster("c-1", tenant="t-1")
    port = _free_port()
    env = {**os.environ, "PROVLOG_DATABASE_URL": database_url, "PROVLOG_AUTH": "none"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from otel_provlog.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the master, its workers, the pruner
    )
    try:
        # The master, the clean-up process and two forked workers start: several seconds on
        # a busy two-core machine; a server that cannot start fails long before the bound.
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # TimeoutError: the master listens, but no worker has taken the request yet.
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert (status, body) == (200, {"status": "ok"})
        status, body = _get(f"http://127.0.0.1:{port}/v1.1/t-1/clusters/c-1")
        assert status == 200
        assert body["cluster"]["id"] == "c-1"
        status, body = _get(f"http://127.0.0.1:{port}/v2/clusters/missing")
        assert (status, body["error_name"]) == (404, "NOT_FOUND")
    finally:
        process.send_signal(signal.SIGTERM)
        output = output_once_ended(process, START_SECONDS)
    assert process.returncode == 0
    assert "Control socket" not in output  # no gunicornc socket: nothing shared, no stalls
    assert output.count("Booting worker with pid") == 2


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
