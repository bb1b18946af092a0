"""Target 6, ``provlog drain --until-empty``: it leaves once the spool is stored, and its
exit code says whether everything was stored.

A spool of ``--spool-events`` event records (as the span processor writes them, their
writer gone) is drained by the real command in a subprocess, with its default
``--linger``: the figure is how many events the store holds when it exits; the target is
all of them together with exit code 0 (exit code 0 with events missing is a FAIL).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Final

from context import Context
from report import Figure
from spans import event_records, write_spool
from stores import STEP_SPAN, count_events, trace_id

NAME: Final = "until-empty"
COMMAND: Final = "from otel_provlog.cli import main; main()"


def provlog(*args: str) -> list[str]:
    """Return the command line running ``provlog`` with this interpreter."""
    return [sys.executable, "-c", COMMAND, *args]


def run(ctx: Context) -> list[Figure]:
    """Measure target 6 on the context's backend."""
    n = ctx.sizes.spool_events
    url = ctx.databases.new("until")
    folder = ctx.folder("spool")
    write_spool(folder, event_records("c-until-0", trace_id("until", 0), STEP_SPAN, 0, n))
    started = time.perf_counter()
    done = subprocess.run(
        provlog("drain", "--until-empty", "--database-url", url, "--spool-dir", str(folder)),
        capture_output=True,
        text=True,
        timeout=24 * 3600,
    )
    elapsed = time.perf_counter() - started
    stored = count_events(url)
    complete = done.returncode == 0 and stored == n
    return [
        Figure(
            NAME,
            ctx.backend,
            "events stored when drain --until-empty exited",
            "events",
            [float(stored)],
            "events spooled",
            [float(n)],
            "all, exit 0",
            lambda median, ratio: complete,
            note=f"exit code {done.returncode}, {elapsed:.1f} s, {stored / elapsed:,.0f} events/s",
        )
    ]
