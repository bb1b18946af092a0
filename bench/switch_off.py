"""What instrumentation costs when the event log is switched off.

Run: ``python bench/switch_off.py [--calls 200000]``. Sets ``PROVLOG_ENABLED=false`` for
its own process, then times each call against OpenTelemetry's own no-op tracer measured in
the same run. A benchmark, not a test: read the ratios as orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

from opentelemetry import trace


def _best(stmt: Callable[[], object], calls: int) -> float:
    """Return the best of three runs, in microseconds per call."""
    return min(timeit.repeat(stmt, number=calls, repeat=3)) / calls * 1e6


def main() -> None:
    """Print microseconds per call and the ratio to the no-op tracer."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    os.environ["PROVLOG_ENABLED"] = "false"

    import otel_provlog
    from otel_provlog import sahara

    noop = trace.NoOpTracer()

    def noop_with() -> None:
        with noop.start_as_current_span("instance event"):
            pass

    def noop_start_end() -> None:
        noop.start_span("instance event").end()

    step = otel_provlog.step("c-1", "Launching instances", total=1000)
    instance = {"instance_id": "i-1", "instance_name": "worker-1", "node_group_id": "ng-1"}

    def with_step() -> None:
        with otel_provlog.step("c-1", "Launching instances", total=1000):
            pass

    def with_event() -> None:
        with step.event(instance_id="i-1", instance_name="worker-1", node_group_id="ng-1"):
            pass

    def module_event() -> None:
        with otel_provlog.event(instance, cluster_id="c-1"):
            pass

    def sahara_success() -> None:
        sahara.add_successful_event(instance)

    baseline = _best(noop_with, calls)
    rows = [
        ("no-op tracer: with start_as_current_span (baseline)", baseline),
        ("no-op tracer: start_span().end()", _best(noop_start_end, calls)),
        ("with otel_provlog.step(...)", _best(with_step, calls)),
        ("with step.event(...)", _best(with_event, calls)),
        ("with otel_provlog.event(instance)", _best(module_event, calls)),
        ("sahara.add_successful_event(instance)", _best(sahara_success, calls)),
    ]
    print(f"switched off, {calls} calls each, best of 3")
    for name, micros in rows:
        print(f"  {name:<55} {micros:8.2f} µs  {micros / baseline:5.2f}x")


if __name__ == "__main__":
    main()
