"""The programs in ``examples/``: each runs as a user would run it, and its progress is served.

The two ``otel_provlog`` examples write through the real store path (a spool and a drain
process) into the test's store; the plain OpenTelemetry one sends OTLP/HTTP to a real
``provlog serve`` with token authentication. Each check reads the API.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from otel_provlog.api import create_app
from otel_provlog.api.auth import hash_token
from otel_provlog.config import load_settings
from tests.otlp_receivers import HttpReceiver, attributes_of
from tests.served_api import ServedApi

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUN_SECONDS = 120

# Runs an example in this interpreter and checks, as it leaves, that it never imported us.
_WITHOUT_OTEL_PROVLOG = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    assert not [m for m in sys.modules if m.startswith("otel_provlog")], "otel_provlog imported"
"""


def _run(
    script: str, *args: str, env: dict[str, str], cwd: Path, isolated: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLES / script), *args]
    if isolated:
        command = [sys.executable, "-I", "-c", _WITHOUT_OTEL_PROVLOG, *command[1:]]
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )


def _store_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PROVLOG_DATABASE_URL": database_url, "PROVLOG_SPOOL_DIR": str(tmp_path / "spool")}


def _get(database_url: str, path: str) -> Any:
    app = create_app(load_settings({}, database_url=database_url, auth="none"))
    try:
        response = app.test_client().get(path)
    finally:
        app.extensions["provlog"]["engine"].dispose()
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _progress(cluster: dict[str, Any]) -> list[tuple[str, int, int, int | None, bool | None]]:
    return [
        (step["step_name"], step["completed"], step["failed"], step["total"], step["successful"])
        for step in cluster["provisioning_progress"]
    ]


def test_native_engine_reports_every_pool_worker_and_the_failure(database_url, tmp_path):
    """The thread-pool engine's steps count every instance; its failure is found by error id."""
    result = _run(
        "native_engine.py",
        "--cluster-id",
        "c-native",
        "--instances",
        "12",
        "--fail",
        "worker-5",
        env=_store_env(database_url, tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr  # the engine reports its failed provisioning
    assert "cluster c-native: failed, stored=True" in result.stdout
    cluster = _get(database_url, "/v1.1/demo/clusters/c-native")["cluster"]
    assert cluster["status"] == "Error"
    assert _progress(cluster) == [
        ("Launching instances", 12, 0, 12, True),
        ("Waiting for ssh", 12, 0, 12, True),
        ("Configuring instances", 11, 1, 12, False),
    ]
    (failure,) = _get(database_url, "/v2/clusters/c-native/failures")["failures"]
    assert failure["instance_name"] == "worker-5"
    assert failure["event_info"] == "configuration of worker-5 failed: exit status 2"
    # The use case of the spec: the error id the API shows names the traceback in the log.
    logged = re.search(rf"error_id={failure['error_id']} .*\nTraceback", result.stderr)
    assert logged is not None, result.stderr


def test_sahara_plugin_runs_on_the_compatibility_helpers(database_url, tmp_path):
    """The Sahara-style plugin's steps and events are served, in both API vocabularies."""
    env = _store_env(database_url, tmp_path)
    ok = _run("sahara_plugin.py", "--cluster-id", "c-ok", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    broken = _run(
        "sahara_plugin.py", "--cluster-id", "c-broken", "--fail", "worker-2", env=env, cwd=tmp_path
    )
    assert broken.returncode == 1, broken.stderr

    cluster = _get(database_url, "/v1.1/demo/clusters/c-ok")["cluster"]
    assert (cluster["status"], cluster["name"]) == ("Active", "hadoop")
    assert _progress(cluster) == [
        ("Configure instances", 5, 0, 5, True),
        ("Start the NameNode", 1, 0, 1, True),
        ("Start DataNodes", 4, 0, 4, True),
    ]
    sahara = _get(database_url, "/v2/clusters/c-ok?show_progress=true")["cluster"]
    assert [len(step["events"]) for step in sahara["provision_progress"]] == [5, 1, 4]

    cluster = _get(database_url, "/v1.1/demo/clusters/c-broken")["cluster"]
    assert cluster["status"] == "Error"
    assert _progress(cluster) == [("Configure instances", 2, 1, 5, False)]
    (failure,) = _get(database_url, "/v2/clusters/c-broken/failures")["failures"]
    assert failure["event_info"] == "could not write core-site.xml on worker-2"


WRITER, READER = "example-writer-token", "example-reader-token"


@pytest.mark.slow
def test_plain_opentelemetry_program_reports_through_otlp(database_url, tmp_path):
    """An SDK-only program's OTLP/HTTP spans, sent with a writer token, are served to readers."""
    tokens = f"{hash_token(WRITER)}:writer:demo,{hash_token(READER)}:reader:demo"
    env = {"PROVLOG_DATABASE_URL": database_url, "PROVLOG_AUTH": "tokens"}
    with ServedApi({**env, "PROVLOG_API_TOKENS": tokens}, workers=2, cwd=tmp_path) as api:
        result = _run(
            "otlp_plain.py",
            "--cluster-id",
            "c-otlp",
            "--instances",
            "6",
            "--fail",
            "worker-4",
            env={
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{api.url}/v1/traces",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"Authorization=Bearer {WRITER}",
            },
            cwd=tmp_path,
            isolated=True,
        )
        assert result.returncode == 0, result.stderr
        assert "spans sent=True" in result.stdout
        reader = {"Authorization": f"Bearer {READER}"}
        status, body = api.get("/v1.1/demo/clusters/c-otlp", headers=reader)
        assert status == 200, body
        _, failures = api.get("/v2/clusters/c-otlp/failures", headers=reader)
        assert api.get("/v1.1/demo/clusters/c-otlp")[0] == 401  # no token, no read
    cluster = body["cluster"]
    assert (cluster["status"], cluster["name"]) == ("Error", "otlp-example")
    assert _progress(cluster) == [
        ("Launching instances", 6, 0, 6, True),
        ("Waiting for ssh", 5, 1, 6, False),
    ]
    (failure,) = failures["failures"]
    assert failure["instance_name"] == "worker-4"
    assert failure["event_info"] == "ssh to worker-4 timed out after 300 s"
    assert failure["stacktrace"] is None  # a reader never sees stacks


def test_plain_opentelemetry_program_follows_the_span_contract(tmp_path):
    """Every kind of the contract is sent; each start marker is its span's child, alike."""
    with HttpReceiver() as receiver:
        result = _run(
            "otlp_plain.py",
            "--instances",
            "3",
            env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.endpoint}/v1/traces"},
            cwd=tmp_path,
            isolated=True,
        )
        assert result.returncode == 0, result.stderr
        spans = receiver.spans()
    kinds = Counter(attributes_of(span).get("provisioning.span") for span in spans)
    assert kinds == {"operation": 1, "operation.start": 1, "step": 2, "step.start": 2, "event": 6}
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        marked = attributes_of(span)
        if marked["provisioning.span"].endswith(".start"):
            parent = attributes_of(by_id[span.parent_span_id])
            assert marked == {**parent, "provisioning.span": parent["provisioning.span"] + ".start"}
