"""The provisioning a fault case runs: operations of steps of events, some failing."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import otel_provlog


def provision(provider: TracerProvider, options: dict[str, Any]) -> None:
    """Run the operations, steps and events the options ask for."""
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
                    for event in range(events):
                        try:
                            with step.event(instance_id=f"i-{event}", instance_name=f"w-{event}"):
                                if options["fail_every"] and event % options["fail_every"] == 1:
                                    raise RuntimeError(f"no ssh to w-{event}")
                        except RuntimeError:
                            pass
                        if options["pace"]:
                            time.sleep(options["pace"])
