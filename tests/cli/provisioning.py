"""A simulated provisioning (``provlog demo``'s), recorded into a store by another process.

>>> process = simulate(url, "c-1", tmp_path, instances=20, speed=0)  # doctest: +SKIP
>>> process.wait()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

SIMULATED_CLUSTER: Final = "c-simulated"
"""The cluster the ``simulated_store`` fixture holds."""

SCRIPT = """
import sys
import time
import otel_provlog
from otel_provlog.cli import demo_simulation
from otel_provlog.exporter import migrate

url, cluster_id, instances, speed, failure_rate, scale_out = sys.argv[1:7]
migrate.upgrade(url)
handle = otel_provlog.configure(database_url=url)
scenario = demo_simulation.Scenario(
    cluster_id=cluster_id,
    instances=int(instances),
    scale_out=int(scale_out),
    speed=float(speed),
    failure_rate=float(failure_rate),
    workers=8,
    seed=11,
)
try:
    demo_simulation.run(scenario, report=lambda line: print(line, flush=True))
finally:
    handle.force_flush()
    handle.shutdown()
"""


def simulate(
    url: str,
    cluster_id: str,
    tmp_path: Path,
    *,
    instances: int = 20,
    speed: float = 0.0,
    failure_rate: float = 0.0,
    scale_out: int = 0,
) -> subprocess.Popen[str]:
    """Start recording a simulated creation of ``cluster_id`` into the store at ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLOG_")}
    env["PROVLOG_SPOOL_DIR"] = str(tmp_path / f"spool-{cluster_id}")
    args = [url, cluster_id, str(instances), str(speed), str(failure_rate), str(scale_out)]
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_until_running(url: str, cluster_id: str, timeout: float = 60) -> None:
    """Wait until the store shows ``cluster_id`` with a running operation and a step."""
    from otel_provlog.client import NotFoundError, ProvlogClient, UnreachableError

    deadline = time.monotonic() + timeout
    while True:
        try:
            with ProvlogClient.offline(url) as client:
                found = client.get_cluster(cluster_id)
            if found.operation is not None and found.operation.running and found.steps:
                return
        except (NotFoundError, UnreachableError):  # not stored yet, or no store yet
            pass
        assert time.monotonic() < deadline, f"{cluster_id} did not start"
        time.sleep(0.1)


def provlog_process(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start ``provlog ARGS`` with its output in a pipe (not a terminal), no PROVLOG_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLOG_")}
    return subprocess.Popen(
        [sys.executable, "-c", "from otel_provlog.cli import main; main()", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
