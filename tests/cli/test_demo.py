"""``provlog demo``: the simulation stores a created and scaled cluster, served live."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from otel_provlog.api import create_app
from otel_provlog.cli.demo_simulation import CREATING_STEPS, SCALING_STEPS
from otel_provlog.config import Settings

ARGS = ["--speed", "0", "--instances", "120", "--scale-out", "10", "--seed", "7"]


def _provlog(tmp_path, *args, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLOG_")}
    env["PROVLOG_SPOOL_DIR"] = str(tmp_path / "spool")
    command = [sys.executable, "-c", "from otel_provlog.cli import main; main()", *args]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the demo, its drain, its server
        **kwargs,
    )


def test_demo_without_serving_stores_the_simulation(tmp_path, output_once_ended):
    """``--no-serve`` stores a created and scaled cluster and one whose engine was killed.

    The first has failures (with tracebacks); the second stays interrupted mid-step.
    """
    process = _provlog(tmp_path, "demo", "--no-serve", *ARGS)
    output = output_once_ended(process, 120)
    assert process.returncode == 0, output
    assert (tmp_path / "provlog.db").exists()
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'provlog.db'}"))
    client = app.test_client()
    clusters = {c["name"]: c for c in client.get("/v2/clusters").get_json()["clusters"]}
    assert set(clusters) == {"demo-hadoop", "demo-restarted"}
    deadline = time.monotonic() + 30  # the drain interrupts what the dead engine left open
    while clusters["demo-restarted"]["status"] != "Error" and time.monotonic() < deadline:
        time.sleep(0.2)
        clusters = {c["name"]: c for c in client.get("/v2/clusters").get_json()["clusters"]}
    killed = clusters["demo-restarted"]
    assert killed["status"] == "Error"
    assert killed["status_description"].startswith(
        "interrupted at step 'Wait for instance accessibility'"
    )
    last = killed["provisioning_progress"][-1]
    assert (last["status"], last["successful"]) == ("interrupted", False)
    assert 0 < last["completed"] < last["total"]
    assert killed["operation"]["status"] == "interrupted"
    cluster = client.get(f"/v1.1/demo/clusters/{clusters['demo-hadoop']['id']}").get_json()[
        "cluster"
    ]
    steps = cluster["provisioning_progress"]
    assert [s["step_name"] for s in steps] == [*CREATING_STEPS, *SCALING_STEPS]
    assert {s["step_type"] for s in steps} == {"creating", "scaling"}
    assert all(s["completed"] == s["total"] for s in steps)
    assert cluster["status"] == "Active"
    failures = client.get(f"/v2/clusters/{cluster['id']}/failures").get_json()["failures"]
    assert failures
    assert "Traceback (most recent call last):" in failures[0]["stacktrace"]
    assert "Traceback" not in failures[0]["event_info"]
    assert "(traceback in the store)" in output
    app.extensions["provlog"]["engine"].dispose()


def test_demo_serves_the_api_while_it_simulates(tmp_path, output_once_ended):
    """The demo prints its page's URL first, then curl lines; it stops cleanly on Ctrl-C."""
    process = _provlog(tmp_path, "demo", "--port", "0", *ARGS[:-2], "--speed", "0.01")
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith("curl -s http") and "/progress" in line:
                break
        url = re.search(
            r"(http://127\.0\.0\.1:\d+/v1\.1/demo/clusters/demo-[0-9a-f]+)", "".join(lines)
        )
        assert url, "".join(lines)
        deadline = time.monotonic() + 60
        steps: list[dict] = []
        while len(steps) < len(CREATING_STEPS) + len(SCALING_STEPS):
            assert time.monotonic() < deadline, steps
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(url.group(1), timeout=5) as response:
                    steps = json.load(response)["cluster"]["provisioning_progress"]
            except urllib.error.HTTPError as error:
                error.close()
                if error.code != 404:  # 404: no span of the cluster is stored yet
                    raise
        with urllib.request.urlopen(url.group(1) + "/progress", timeout=5) as response:
            assert "events" in json.load(response)
        first = re.fullmatch(
            r"the event log page: (http://127\.0\.0\.1:\d+/clusters/demo-\w+)\n", lines[0]
        )
        assert first, lines[0]
        with urllib.request.urlopen(first.group(1), timeout=5) as response:
            assert response.headers.get_content_type() == "text/html"
            assert SCALING_STEPS[-1] in response.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        output = output_once_ended(process, 30)
    assert process.returncode == 0, "".join(lines) + output
