"""A simulated cluster provisioning, the way Sahara runs one, for ``provlog demo``.

It uses the public instrumentation API only (:func:`otel_provlog.operation`,
:func:`otel_provlog.step`, ``step.event``), exactly as a provisioning engine would:

1. a *creating* operation over a cluster with a master and a worker node group: Sahara's
   infrastructure steps (create the Heat stack, assign IPs, wait for instance
   accessibility, configure instances), then the plugin's steps (HDFS, YARN, services);
2. a *scaling* operation adding workers, with the same steps for the new instances.

Instances are handled side by side by a thread pool, each for a random time. A few of
them fail (an SSH connection refused, a service that does not start) with real
exceptions and tracebacks; the simulated engine retries them, so the steps complete with
some failed events recorded. Workers are spread over node groups of at most
:attr:`Scenario.group_size` instances.

:func:`engine_that_dies` is another engine, in a process of its own, that starts creating
a second cluster and is killed in the middle of a step: its step and operation end up
``interrupted`` and the cluster ``Error``, as after an engine restart.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry.trace import TracerProvider

import otel_provlog

__all__ = [
    "CREATING_STEPS",
    "SCALING_STEPS",
    "Scenario",
    "SimulatedInstance",
    "engine_that_dies",
    "make_instances",
    "run",
]

INFRA_STEPS = (
    "Create Heat stack",
    "Assign IPs",
    "Wait for instance accessibility",
    "Configure instances",
)
PLUGIN_STEPS = ("Configure HDFS", "Configure YARN", "Start Hadoop services")
CREATING_STEPS = (*INFRA_STEPS, *PLUGIN_STEPS)
"""The steps of the creating operation, in order."""
SCALING_STEPS = (*INFRA_STEPS, "Configure HDFS", "Start Hadoop services")
"""The steps of the scaling operation, in order."""

_SECONDS = {
    "Create Heat stack": (2.0, 5.0),
    "Assign IPs": (0.05, 0.2),
    "Wait for instance accessibility": (0.4, 1.5),
    "Configure instances": (0.25, 0.8),
    "Configure HDFS": (0.2, 0.6),
    "Configure YARN": (0.2, 0.6),
    "Start Hadoop services": (0.3, 0.9),
}
"""The range of one event's duration per step, in seconds, before ``speed`` applies."""
_FAILING_STEPS = ("Wait for instance accessibility", "Start Hadoop services")


class InstanceUnreachableError(ConnectionError):
    """The simulated instance did not answer on its SSH port."""


class ServiceStartError(RuntimeError):
    """A simulated Hadoop service did not come up."""


@dataclass(frozen=True, slots=True)
class SimulatedInstance:
    """One simulated instance: its id, display name and node group."""

    instance_id: str
    instance_name: str
    node_group_id: str


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to simulate, and how fast."""

    cluster_id: str
    cluster_name: str = "demo-hadoop"
    tenant_id: str = "demo"
    instances: int = 300
    """Instances of the created cluster (three of them in the master node group)."""
    scale_out: int = 60
    """Workers the scaling operation adds (0: no scaling)."""
    speed: float = 1.0
    """Multiplies every simulated duration: 0 runs without waiting."""
    failure_rate: float = 0.01
    """Chance that an instance fails once in a step that can fail."""
    workers: int = 32
    """Instances handled side by side."""
    group_size: int = 1000
    """Most workers in one node group."""
    seed: int | None = None


def make_instances(scenario: Scenario, *, start: int, count: int) -> list[SimulatedInstance]:
    """Return ``count`` instances numbered from ``start``; the first three are masters.

    The workers fill node groups ``worker-1``, ``worker-2``... of ``group_size`` each.
    """
    found = []
    for number in range(start, start + count):
        group = "master" if number < 3 else f"worker-{(number - 3) // scenario.group_size + 1}"
        found.append(
            SimulatedInstance(
                instance_id=f"{scenario.cluster_id}-i{number:05d}",
                instance_name=f"{scenario.cluster_name}-{group}-{number:03d}",
                node_group_id=f"{scenario.cluster_id}-ng-{group}",
            )
        )
    return found


def _ssh_connect(instance: SimulatedInstance) -> None:
    raise ConnectionRefusedError(f"[Errno 111] Connection refused: {instance.instance_name}:22")


def _wait_for_ssh(instance: SimulatedInstance) -> None:
    try:
        _ssh_connect(instance)
    except ConnectionRefusedError as error:
        raise InstanceUnreachableError(
            f"Instance {instance.instance_name} is not accessible over SSH"
        ) from error


def _start_services(instance: SimulatedInstance) -> None:
    raise ServiceStartError(f"datanode on {instance.instance_name} exited with status 1")


def _fail(step_name: str, instance: SimulatedInstance) -> None:
    if step_name == "Wait for instance accessibility":
        _wait_for_ssh(instance)
    _start_services(instance)


def _handle(
    step: otel_provlog.Step,
    instance: SimulatedInstance,
    seconds: float,
    fails: bool,
) -> None:
    def event() -> otel_provlog.Event:
        return step.event(
            instance_id=instance.instance_id,
            instance_name=instance.instance_name,
            node_group_id=instance.node_group_id,
        )

    if fails:
        try:
            with event():
                time.sleep(seconds / 2)
                _fail(step.name, instance)
        except (InstanceUnreachableError, ServiceStartError):
            pass  # the engine retries the instance below
    with event():
        time.sleep(seconds)


def _run_step(
    scenario: Scenario,
    rng: random.Random,
    name: str,
    instances: Sequence[SimulatedInstance],
    report: Callable[[str], None],
    *,
    die_after: int | None = None,
) -> None:
    """Run one step over ``instances``; with ``die_after``, the process exits after so many."""
    low, high = _SECONDS[name]
    single = name == "Create Heat stack"
    targets = [instances[0]] if single else list(instances)
    plan = [
        (
            instance,
            rng.uniform(low, high) * scenario.speed,
            name in _FAILING_STEPS and rng.random() < scenario.failure_rate,
        )
        for instance in targets
    ]
    report(f"  {name}: {len(plan)} event(s)")
    with (
        otel_provlog.step(None, name, total=len(plan)) as step,
        ThreadPoolExecutor(max_workers=scenario.workers) as pool,
    ):
        for done, future in enumerate([pool.submit(_handle, step, *item) for item in plan]):
            future.result()
            if die_after is not None and done + 1 >= die_after:
                report(f"  {name}: the engine is killed after {done + 1} event(s)")
                os._exit(1)  # no clean-up: the spans it did not end are never ended
    report(f"  {name}: completed {step.completed} out of {len(plan)}, {step.failed} failed")


def _operation(
    scenario: Scenario,
    rng: random.Random,
    step_type: str,
    steps: Sequence[str],
    instances: Sequence[SimulatedInstance],
    report: Callable[[str], None],
    tracer_provider: TracerProvider | None,
) -> None:
    report(f"{step_type} cluster {scenario.cluster_id} ({len(instances)} instances)")
    with otel_provlog.operation(
        scenario.cluster_id,
        step_type,
        cluster_name=scenario.cluster_name,
        tenant_id=scenario.tenant_id,
        plan=list(steps),
        tracer_provider=tracer_provider,
    ):
        for name in steps:
            _run_step(scenario, rng, name, instances, report)


def run(
    scenario: Scenario,
    *,
    report: Callable[[str], None] = print,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """Simulate the creation, then the scale-out, of ``scenario``'s cluster.

    Spans go to ``tracer_provider`` (the global one when None).
    """
    rng = random.Random(scenario.seed)
    created = make_instances(scenario, start=0, count=scenario.instances)
    _operation(scenario, rng, "creating", CREATING_STEPS, created, report, tracer_provider)
    if scenario.scale_out:
        added = make_instances(scenario, start=scenario.instances, count=scenario.scale_out)
        _operation(scenario, rng, "scaling", SCALING_STEPS, added, report, tracer_provider)
    report(f"done: cluster {scenario.cluster_id}")


def engine_that_dies(database_url: str, scenario: Scenario) -> None:
    """Begin creating ``scenario``'s cluster in this process and die halfway through a step.

    Meant for a process of its own (the demo spawns one): it writes to the same spool as
    the demo (``drain="none"``: the demo's drain stores it), runs the first steps, and exits
    without ending the step ``Wait for instance accessibility`` and its operation, which the
    drain then marks interrupted.
    """
    otel_provlog.configure(database_url=database_url, drain="none")
    rng = random.Random(scenario.seed)
    instances = make_instances(scenario, start=0, count=scenario.instances)
    with otel_provlog.operation(
        scenario.cluster_id,
        "creating",
        cluster_name=scenario.cluster_name,
        tenant_id=scenario.tenant_id,
        plan=list(CREATING_STEPS),
    ):
        for name in CREATING_STEPS:
            half = len(instances) // 2 if name == "Wait for instance accessibility" else None
            _run_step(scenario, rng, name, instances, lambda line: None, die_after=half)
