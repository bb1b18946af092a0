"""``provlog watch`` without a terminal: lines, a heartbeat, JSON Lines and exit codes."""

from __future__ import annotations

import io
import json
import re
import subprocess

import pytest
import requests
import responses

from otel_provlog.cli.demo_simulation import CREATING_STEPS, SCALING_STEPS
from otel_provlog.cli.exit_codes import CommandError
from otel_provlog.cli.watch import MAX_FAILURES_SHOWN, UNREACHABLE_GRACE, Watcher, ended
from otel_provlog.cli.watch_views import LineView
from otel_provlog.client import Cluster, Operation, ProvlogClient, Step
from tests.cli.provisioning import (
    SIMULATED_CLUSTER,
    provlog_process,
    simulate,
    wait_until_running,
)
from tests.served_api import free_port

pytestmark = pytest.mark.database

BASE = "http://provlog.test"
BOUND = 120
"""Seconds any process of these tests may take on a loaded machine."""


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``process``; return its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"did not end:\n{out}\n{err}")
    return process.returncode, out, err


def test_watching_a_running_operation_without_a_terminal(database_url, tmp_path):
    """Lines per change with heartbeats, JSON Lines and a timeout, all while it runs."""
    simulation = simulate(
        database_url, "c-watch", tmp_path, instances=30, speed=0.6, failure_rate=0.15
    )
    try:
        wait_until_running(database_url, "c-watch")
        common = ("c-watch", "--database-url", database_url, "--interval", "0.3")
        lines = provlog_process("watch", *common, "--heartbeat", "0.5", cwd=tmp_path)
        jsonl = provlog_process("watch", *common, "-f", "json", cwd=tmp_path)
        timed = provlog_process("watch", *common, "--timeout", "1", cwd=tmp_path)
        lines_code, lines_out, lines_err = finish(lines)
        json_code, json_out, _ = finish(jsonl)
        timed_code, timed_out, _ = finish(timed)
    finally:
        finish(simulation)

    assert lines_err == ""
    assert lines_code == 1, lines_out  # events failed: their steps are not successful
    out = lines_out.splitlines()
    assert out[0] == "watching cluster c-watch (demo-hadoop): creating running"
    started = [
        line.split(": ", 1)[1].split(" (")[0] for line in out if line.startswith("started: ")
    ]
    assert started  # steps were seen running, not only read once ended
    assert len(set(started)) == len(started)
    assert set(started) <= set(CREATING_STEPS)
    for name in CREATING_STEPS:  # each step's end is told once
        assert sum(1 for line in out if re.match(rf"(successful|failed): {name} \d", line)) == 1
    failures = [line for line in out if line.startswith("failure: ")]
    assert failures
    assert any("is not accessible over SSH" in line for line in failures)
    heartbeats = [line for line in out if line.startswith("still running: ")]
    assert heartbeats
    assert all(re.fullmatch(r"still running: .+ \d+/\d+ \[\d+s\](, .+)*", h) for h in heartbeats)
    assert re.fullmatch(
        r"creating cluster c-watch \(demo-hadoop\) finished with failed steps in \d+s: "
        rf"{len(CREATING_STEPS)} steps \(\d+ failed\), {len(failures)} failed events?",
        out[-1],
    )

    records = [json.loads(line) for line in json_out.splitlines()]
    assert records[0]["type"] == "version"
    assert records[0]["version"] == 1
    assert records[1]["type"] == "watch"
    assert records[1]["cluster"]["id"] == "c-watch"
    assert {r["type"] for r in records} <= {"version", "watch", "step", "failure", "result"}
    failed_ids = {r["event"]["id"] for r in records if r["type"] == "failure"}
    assert len(failed_ids) == len(failures)
    ended = [
        r["step"]["step_name"] for r in records if r["type"] == "step" and r["change"] == "ended"
    ]
    assert ended == list(CREATING_STEPS)
    assert records[-1] == records[-1] | {"type": "result", "status": "failed", "exit_code": 1}
    assert json_code == 1

    assert timed_code == 3
    assert timed_out.splitlines()[-1].startswith("timed out watching cluster c-watch")


def test_an_ended_operation_is_printed_once_with_its_exit_code(simulated_store, tmp_path):
    """The simulated scale-out ended (with failures or not): one pass, then the same code."""
    process = provlog_process(
        "watch", SIMULATED_CLUSTER, "--database-url", simulated_store, cwd=tmp_path
    )
    code, out, err = finish(process)
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"watching cluster {SIMULATED_CLUSTER} (demo-hadoop): scaling successful"
    step_lines = [line for line in lines if re.match(r"(successful|failed): ", line)]
    assert [re.sub(r"^\w+: (.+) \d+/\d+.*$", r"\1", s) for s in step_lines] == list(SCALING_STEPS)
    failed = any(line.startswith("failed: ") for line in step_lines)
    assert code == (1 if failed else 0)
    assert lines[-1].startswith(f"scaling cluster {SIMULATED_CLUSTER} (demo-hadoop) ")


def test_a_successful_operation_exits_0(database_url, tmp_path):
    """Every step successful: the watch says so and exits 0, in JSON Lines too."""
    finish(simulate(database_url, "c-ok", tmp_path, instances=5))
    code, out, _ = finish(
        provlog_process("watch", "c-ok", "--database-url", database_url, "-f", "json", cwd=tmp_path)
    )
    assert code == 0, out
    result = json.loads(out.splitlines()[-1])
    assert (result["status"], result["failed_events"], result["steps"]) == (
        "successful",
        0,
        len(CREATING_STEPS),
    )


def test_unknown_cluster_and_unreachable_api(database_url, tmp_path):
    """An unknown cluster exits 4, an API nobody serves 5, each with one line on stderr."""
    code, out, err = finish(
        provlog_process("watch", "no-such", "--database-url", database_url, cwd=tmp_path)
    )
    assert (code, out, err) == (4, "", "Error: no cluster 'no-such'\n")
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = finish(provlog_process("watch", "c-1", "--api-url", url, cwd=tmp_path))
    assert code == 5
    assert len(err.splitlines()) == 1
    assert "does not answer" in err


def _step(status: str, successful: bool | None, operation_id: str | None = "op-1") -> Step:
    return Step(
        id=f"s-{status}",
        cluster_id="c-1",
        operation_id=operation_id,
        step_name=status,
        step_type="creating",
        completed=1,
        failed=0 if successful is not False else 1,
        total=2,
        successful=successful,
        status=status,
        progress=status,
    )


def _cluster(operation: Operation | None, *steps: Step) -> Cluster:
    return Cluster(
        id="c-1", name=None, tenant_id=None, status="x", operation=operation, steps=steps
    )


def _operation(operation_id: str, status: str) -> Operation:
    successful = {"running": None, "successful": True}.get(status, False)
    return Operation(operation_id, "creating", status, successful, None)


@pytest.mark.parametrize(
    ("operation", "steps", "expected"),
    [
        (_operation("op-1", "running"), [_step("running", None)], None),
        (_operation("op-1", "successful"), [_step("successful", True)], (0, "successful")),
        (_operation("op-1", "successful"), [_step("failed", False)], (1, "failed")),
        (_operation("op-1", "interrupted"), [_step("interrupted", False)], (1, "interrupted")),
        # a newer operation started: the watched one ended, its steps tell how
        (_operation("op-2", "running"), [_step("successful", True)], (0, "successful")),
        (_operation("op-2", "running"), [_step("running", None)], (1, "interrupted")),
    ],
)
def test_when_a_watched_operation_ended_and_how(operation, steps, expected):
    """The exit code is 0 only for an operation that ended with every step successful."""
    outcome = ended(_cluster(operation, *steps), "op-1", steps)
    found = (outcome.exit_code, outcome.status) if outcome is not None else None
    assert found == expected


def test_without_an_operation_the_steps_decide():
    """A cluster without an operation record is done once none of its steps runs."""
    running = _step("running", None, operation_id=None)
    done = _step("successful", True, operation_id=None)
    assert ended(_cluster(None, running, done), None, [running, done]) is None
    assert ended(_cluster(None), None, []) is None
    outcome = ended(_cluster(None, done), None, [done])
    assert outcome is not None
    assert outcome.exit_code == 0


def _cluster_doc(status: str, completed: int, failed: int = 0) -> dict:
    running = status == "running"
    step = {
        "id": "s-1",
        "cluster_id": "c-1",
        "operation_id": "op-1",
        "step_name": "Waiting for ssh",
        "completed": completed,
        "failed": failed,
        "total": 2,
        "successful": None if running else status == "successful",
        "status": status,
    }
    operation = {"id": "op-1", "step_type": "creating", "status": status}
    cluster = {"id": "c-1", "name": "demo", "status": "Creating" if running else "Active"}
    return {"cluster": {**cluster, "operation": operation, "provisioning_progress": [step]}}


class _Clock:
    """A clock that each sleep moves on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1.0)


def _watcher(view: LineView, clock: _Clock) -> Watcher:
    client = ProvlogClient(BASE, token="", retries=0)
    return Watcher(client, "c-1", view, interval=1.0, clock=clock, sleep=clock.sleep)


@responses.activate
def test_a_short_outage_is_ridden_out():
    """The API drops out for a few reads: one warning line, then the watch goes on to the end."""
    url = f"{BASE}/v2/clusters/c-1"
    responses.get(url, json=_cluster_doc("running", 1))
    for _ in range(3):
        responses.get(url, body=requests.ConnectionError("connection refused"))
    responses.get(url, json=_cluster_doc("successful", 2))
    out, clock = io.StringIO(), _Clock()
    assert _watcher(LineView(out, clock=clock), clock).run() == 0
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("warning: ")] == [
        f"warning: {BASE} does not answer: connection refused; trying again"
    ]
    assert lines[-1].startswith("creating cluster c-1 (demo) successful")


@responses.activate
def test_an_api_gone_for_longer_than_the_grace_is_exit_code_5():
    """Unreachable for more than a minute while watching: exit code 5."""
    url = f"{BASE}/v2/clusters/c-1"
    responses.get(url, json=_cluster_doc("running", 1))
    responses.get(url, body=requests.ConnectionError("connection refused"))
    out, clock = io.StringIO(), _Clock()
    with pytest.raises(CommandError) as caught:
        _watcher(LineView(out, clock=clock), clock).run()
    assert caught.value.exit_code == 5
    assert clock.now > UNREACHABLE_GRACE


@responses.activate
def test_failures_shown_are_capped():
    """Past MAX_FAILURES_SHOWN failed events, one line points to ``provlog failures``."""
    events = [
        {"id": f"e-{n}", "cluster_id": "c-1", "successful": False, "event_info": f"boom {n}"}
        for n in range(MAX_FAILURES_SHOWN + 10)
    ]
    responses.get(f"{BASE}/v2/clusters/c-1", json=_cluster_doc("failed", 2, len(events)))
    responses.get(f"{BASE}/v2/clusters/c-1/failures", json={"failures": events})
    out, clock = io.StringIO(), _Clock()
    assert _watcher(LineView(out, clock=clock), clock).run() == 1
    lines = out.getvalue().splitlines()
    assert len([line for line in lines if line.startswith("failure: ")]) == MAX_FAILURES_SHOWN
    assert (
        f"warning: more than {MAX_FAILURES_SHOWN} failures: provlog failures c-1 lists them"
        in lines
    )


@responses.activate
def test_an_operation_a_newer_one_replaced_between_reads_is_summed_up_as_itself():
    """Creating ended and scaling began between two reads: the summary is creating's."""
    url = f"{BASE}/v2/clusters/c-1"
    responses.get(url, json=_cluster_doc("running", 1))
    replaced = _cluster_doc("successful", 2)
    replaced["cluster"]["provisioning_progress"][0]["completed_at"] = "2026-05-04T10:00:30.000000Z"
    replaced["cluster"]["operation"] = {
        "id": "op-2",
        "step_type": "scaling",
        "status": "running",
        "started_at": "2026-05-04T10:00:31.000000Z",
    }
    responses.get(url, json=replaced)
    out, clock = io.StringIO(), _Clock()
    assert _watcher(LineView(out, clock=clock), clock).run() == 0
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("creating cluster c-1 (demo) successful"), last
    assert "scaling" not in last
