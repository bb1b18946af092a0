"""Target 5, switched off: with ``PROVLOG_ENABLED=false`` an event costs ≤ 1 µs.

Measured once per run (it touches no store), in a subprocess whose environment has the
switch off before ``otel_provlog`` is imported. Rounds interleave the calls with
OpenTelemetry's no-op tracer (the baseline), 5 rounds of ``--thread-events`` x 10 calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Final

from context import Context
from report import Figure

NAME: Final = "switch-off"
ONCE: Final = True
LIMIT_US: Final = 1.0

CHILD = """
import json, sys, timeit
from opentelemetry import trace
import otel_provlog
from otel_provlog import sahara

calls, rounds = int(sys.argv[1]), int(sys.argv[2])
noop = trace.NoOpTracer()
step = otel_provlog.step("c-1", "Launching instances", total=1000)
instance = {"instance_id": "i-1", "instance_name": "worker-1", "node_group_id": "ng-1"}

def noop_with():
    with noop.start_as_current_span("instance event"):
        pass

def with_step():
    with otel_provlog.step("c-1", "Launching instances", total=1000):
        pass

def with_event():
    with step.event(instance_id="i-1", instance_name="worker-1", node_group_id="ng-1"):
        pass

def module_event():
    with otel_provlog.event(instance, cluster_id="c-1"):
        pass

def sahara_success():
    sahara.add_successful_event(instance)

rows = {"noop": noop_with, "step": with_step, "event": with_event,
        "module_event": module_event, "sahara": sahara_success}
out = {name: [] for name in rows}
for _ in range(rounds):
    for name, call in rows.items():
        out[name].append(timeit.timeit(call, number=calls) / calls * 1e6)
print(json.dumps(out))
"""


def run(ctx: Context) -> list[Figure]:
    """Measure the switched-off cost (once per run)."""
    calls = max(ctx.sizes.thread_events * 10, 10_000)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls), "5"],
        env={**os.environ, "PROVLOG_ENABLED": "false"},
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    times = json.loads(done.stdout)
    base = "no-op tracer, with start_as_current_span"
    rows = [
        ("with step.event(...)", "event"),
        ("with otel_provlog.event(instance)", "module_event"),
        ("with otel_provlog.step(...)", "step"),
        ("sahara.add_successful_event(instance)", "sahara"),
    ]
    figures = []
    for n, (label, key) in enumerate(rows):
        figures.append(
            Figure(
                NAME,
                "any",
                f"switched off: {label}",
                "µs/call",
                times[key],
                base,
                times["noop"],
                "≤ 1 µs" if n < 2 else "",
                (lambda median, ratio: median <= LIMIT_US) if n < 2 else None,
            )
        )
    return figures
