"""``provlog serve`` run for a test: a real gunicorn on 127.0.0.1, stopped with SIGTERM.

>>> with ServedApi({"PROVLOG_DATABASE_URL": url}, workers=2, cwd=tmp_path) as api:  # doctest: +SKIP
...     status, body = api.get("/healthz")
>>> api.output  # doctest: +SKIP
"""

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
from pathlib import Path
from types import TracebackType
from typing import Any

START_SECONDS = 60
"""Bound on starting, and on stopping, the served API on a loaded machine."""


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def output_once_ended(process: subprocess.Popen[str], timeout: float) -> str:
    """Return the output of ``process`` once it ended; past ``timeout`` kill its group.

    Either way the pipe is closed and every process of the group reaped: a pipe left open
    would surface as an unclosed-file ResourceWarning in whichever later test collects it.
    """
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise


class ServedApi:
    """``provlog serve`` in a process group of its own, with ``env`` added to the environment."""

    def __init__(self, env: dict[str, str], *, workers: int, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = ""
        self.returncode: int | None = None
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from otel_provlog.cli import main; main()",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the master, its workers, the pruner
        )

    def get(
        self, path: str, timeout: float = 2, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """GET ``path`` (with ``headers``); return the status and the JSON body."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def wait_until_serving(self) -> None:
        """Wait until ``/healthz`` answers; fail if the server ends or never answers."""
        # The master, the clean-up process and the forked workers start: several seconds
        # on a busy two-core machine; a server that cannot start fails long before the bound.
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                self.get("/healthz")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # TimeoutError: the master listens, but no worker has taken the request yet.
                assert self.process.poll() is None, self.stop()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)

    def stop(self) -> str:
        """Stop the server with SIGTERM (SIGKILL past the bound); return its output."""
        if self.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.output = output_once_ended(self.process, START_SECONDS)
            finally:
                self.returncode = self.process.returncode
        return self.output

    def __enter__(self) -> ServedApi:
        try:
            self.wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
