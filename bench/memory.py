"""Target 7, memory: over ``--memory-events`` events the instrumented process grows
< 50 MB (RSS) and the drain < 100 MB, each measured in a subprocess of its own.

The instrumented process attaches the store path (``configure(drain="none")``: it only
spools), makes 1,000 events to warm up, reads its RSS, makes the events and reads it
again. Its spool is then stored by ``provlog drain --until-empty`` on each backend: the
drain's growth is its peak RSS (its own ``VmHWM``, read while it runs) less its RSS when
it starts draining.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Final

from context import Context
from report import Figure
from until_empty import provlog

NAME: Final = "memory"
MB: Final = 1024 * 1024

PRODUCER = """
import json, sys
from opentelemetry.sdk.trace import TracerProvider
from otel_provlog.exporter.pipeline import configure

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

url, spool_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
provider = TracerProvider(shutdown_on_exit=False)
handle = configure(tracer_provider=provider, database_url=url, spool_dir=spool_dir, drain="none")
tracer = provider.get_tracer("bench")
step = {"provisioning.span": "step", "provisioning.cluster.id": "c-memory",
        "provisioning.tenant.id": "t-bench", "provisioning.step.name": "Launching instances",
        "provisioning.step.type": "creating", "provisioning.step.total": count}

def events(first, number):
    for n in range(first, first + number):
        with tracer.start_as_current_span("instance event", attributes={
            "provisioning.span": "event", "provisioning.cluster.id": "c-memory",
            "provisioning.node_group.id": f"ng-{n % 3}", "provisioning.instance.id": f"i-{n}",
            "provisioning.instance.name": f"worker-{n:07d}"}):
            pass

with tracer.start_as_current_span("Launching instances", attributes=step):
    events(0, 1000)
    before = rss()
    events(1000, count)
    after = rss()
handle.shutdown(0)
print(json.dumps({"before": before, "after": after}))
"""

_spool: dict[str, object] = {}


def _status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of the process's ``/proc`` status, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _drain_growth(url: str, folder: Path) -> tuple[float, int]:
    """Return the drain's RSS growth in bytes and its exit code.

    The peak is the process's own high-water mark (``VmHWM``), read while it runs: the
    ``wait4`` peak would also count the pages the child shared with this process between
    ``fork`` and ``exec``, which are this process's, not the drain's.
    """
    process = subprocess.Popen(
        provlog(
            "drain",
            "--until-empty",
            "--linger",
            "3600",
            "--database-url",
            url,
            "--spool-dir",
            str(folder),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    process.stderr.readline()  # "draining ...": imported, about to start
    start = _status_kb(process.pid, "VmRSS") or 0
    peak = start
    reader = threading.Thread(target=process.stderr.read, daemon=True)
    reader.start()
    while process.poll() is None:
        peak = max(peak, _status_kb(process.pid, "VmHWM") or 0)
        time.sleep(0.1)
    reader.join()
    return (peak - start) * 1024, process.returncode


def run(ctx: Context) -> list[Figure]:
    """Measure target 7: the instrumented process once, the drain on every backend."""
    n = ctx.sizes.memory_events
    url = ctx.databases.new("memory")
    figures = []
    if "folder" not in _spool:
        folder = ctx.folder("memory-spool")
        done = subprocess.run(
            [sys.executable, "-c", PRODUCER, url, str(folder), str(n)],
            capture_output=True,
            text=True,
            check=True,
            timeout=24 * 3600,
        )
        rss = json.loads(done.stdout.splitlines()[-1])
        _spool["folder"] = folder
        growth = (rss["after"] - rss["before"]) / MB
        figures.append(
            Figure(
                NAME,
                "any",
                f"instrumented process RSS growth over {n:,} events",
                "MB",
                [growth],
                "limit",
                [50.0],
                "< 50 MB",
                lambda median, ratio: median < 50,
            )
        )
    source = _spool["folder"]
    assert isinstance(source, Path)
    copy = ctx.folder("memory-drain")
    for path in source.glob("*.seg"):
        shutil.copy(path, copy / path.name)
    growth, code = _drain_growth(url, copy)
    figures.append(
        Figure(
            NAME,
            ctx.backend,
            f"drain RSS growth over {n:,} events",
            "MB",
            [growth / MB],
            "limit",
            [100.0],
            "< 100 MB",
            lambda median, ratio: median < 100,
            note=f"exit code {code}",
        )
    )
    return figures
