"""The provisioning a fault case runs: operations of steps of events, some failing."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import otel_provlog

WORKLOAD: dict[str, Any] = {
    "cluster": "c-1",
    "tenant": "t-1",
    "operations": 1,
    "steps": 2,
    "events": 20,
    "fail_every": 7,
    "failing_steps": None,
    "pace": 0.0,
}
"""The options and their defaults: ``operations`` operations of ``steps`` steps of ``events``
events; in the steps numbered in ``failing_steps`` (None: all), every ``fail_every``-th event
fails (0: none); ``pace`` seconds of sleep after each event."""


def provision(provider: TracerProvider, given: dict[str, Any]) -> None:
    """Run the operations, steps and events the options ask for (see :data:`WORKLOAD`)."""
    options = {**WORKLOAD, **given}
    failing_steps = options["failing_steps"]
    cluster, events = options["cluster"], options["events"]
    for number in range(options["operations"]):
        with otel_provlog.operation(
            cluster,
            "creating" if number == 0 else "scaling",
            cluster_name=f"{cluster}-name",
            tenant_id=options["tenant"],
            tracer_provider=provider,
        ):
            for step_number in range(options["steps"]):
                with otel_provlog.step(
                    cluster, f"step {number}.{step_number}", total=events, tracer_provider=provider
                ) as step:
                    failing = options["fail_every"] and (
                        failing_steps is None or step_number in failing_steps
                    )
                    for event in range(events):
                        try:
                            with step.event(instance_id=f"i-{event}", instance_name=f"w-{event}"):
                                if failing and event % options["fail_every"] == 1:
                                    raise RuntimeError(f"no ssh to w-{event}")
                        except RuntimeError:
                            pass
                        if options["pace"]:
                            time.sleep(options["pace"])
