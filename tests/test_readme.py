"""The README, followed as a new user would: a fresh clone, ``make demo``, the quickstart.

A clone of this checkout gets its own ``.venv`` from ``make demo`` (so this is slow: it
installs the project), serves the demo, and its page answers; the README's quickstart,
copied out of the README, runs in that environment and its step is stored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.slow


def _clone(tmp_path: Path) -> Path:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs this test in a git checkout")
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    return clone


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVLOG_", "VIRTUAL_ENV"))}
    env["PROVLOG_SPOOL_DIR"] = str(tmp_path / "spool")
    env["PYTHON"] = sys.executable  # the Python the suite runs on: 3.11 or newer
    return env


def _page_url(process: subprocess.Popen[str], seconds: float) -> str:
    """Read the demo's output until it names the cluster's page; return that URL."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+/clusters/demo-[0-9a-f]+)", line)
        if found:
            return found.group(1)
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError("make demo ended before naming its page:\n" + "".join(seen))


def _page_once_stored(url: str, seconds: float) -> str:
    """Return the page at ``url`` once it is there (404 until the cluster's first span)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            error.close()
            if error.code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_a_fresh_clone_runs_the_demo_and_the_quickstart(tmp_path: Path) -> None:
    """``make demo`` installs, simulates and serves; the quickstart's step is then stored."""
    assert "make demo    #" in README
    assert "make test    #" in README
    clone = _clone(tmp_path)
    env = _environment(tmp_path)
    demo = subprocess.Popen(
        ["make", "demo", "DEMO_ARGS=--port 0 --instances 60 --scale-out 6"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, the demo, its drain and its engines: one group
    )
    try:
        url = _page_url(demo, 900)
        assert "demo-hadoop" in _page_once_stored(url, 120)
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
        if demo.stdout is not None:
            demo.stdout.close()

    quickstart = re.search(r"## Quickstart\n\n```python\n(.*?)```", README, re.S)
    assert quickstart, "the README has a Python quickstart"
    work = tmp_path / "quickstart"
    work.mkdir()
    (work / "quickstart.py").write_text(quickstart.group(1), encoding="utf-8")
    python = clone / ".venv" / "bin" / "python"
    subprocess.run([str(python), "quickstart.py"], cwd=work, env=env, check=True, timeout=300)
    shown = subprocess.run(
        [str(clone / ".venv" / "bin" / "provlog"), "cluster", "show", "c-42", "-f", "json"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    steps = json.loads(shown.stdout)["steps"]
    assert [(s["step_name"], s["completed"], s["total"]) for s in steps] == [
        ("Launching instances", 3, 3)
    ]
