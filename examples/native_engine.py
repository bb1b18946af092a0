"""A provisioning engine on the native API: an operation, its steps, a thread pool of events.

Run it against the store of your settings (``PROVLOG_DATABASE_URL``, by default the SQLite
file ``provlog.db`` in the current directory), then read its progress::

    python examples/native_engine.py --cluster-id c-native --instances 20
    provlog serve &   # or: provlog demo --no-serve; provlog serve
    curl -s http://127.0.0.1:8080/v2/clusters/c-native | python -m json.tool

Each step launches its instances on a thread pool; every worker reports its own event with
``step.event(...)``, and an exception inside that block records a failed event (with an
error id, in the span and in the log) and is re-raised. ``--fail`` names instances that
fail in the "Configuring instances" step, to see a failure and its error id.

Needs ``pip install 'otel-provlog[store]'`` (and a driver extra for PostgreSQL/MariaDB).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import otel_provlog

PLAN = otel_provlog.Plan.from_mapping(
    {
        "creating": ["Launching instances", "Waiting for ssh", "Configuring instances"],
        "scaling": ["Launching instances", "Configuring instances"],
    }
)


@dataclass(frozen=True)
class Vm:
    """One instance of the cluster, as the engine knows it."""

    id: str
    name: str
    group: str


def launch(vm: Vm, seconds: float) -> None:
    """Stand-in for the real work on one instance (a cloud API call, an SSH session...)."""
    time.sleep(random.uniform(0.5, 1.5) * seconds)


def run_step(
    cluster_id: str,
    name: str,
    vms: list[Vm],
    pool: ThreadPoolExecutor,
    fail: set[str],
    seconds: float,
) -> None:
    """Run one step over every instance on the pool; each worker reports its own event."""
    with otel_provlog.step(cluster_id, name, total=len(vms)) as step:

        def work(vm: Vm) -> bool:
            try:
                with step.event(instance_id=vm.id, instance_name=vm.name, node_group_id=vm.group):
                    launch(vm, seconds)
                    if name == "Configuring instances" and vm.name in fail:
                        raise RuntimeError(f"configuration of {vm.name} failed: exit status 2")
            except RuntimeError:
                return False  # recorded as a failed event; the engine goes on with the others
            return True

        done = list(pool.map(work, vms))
    if not all(done):
        raise RuntimeError(f"{done.count(False)} instance(s) failed in {name!r}")


def provision(
    cluster_id: str, instances: int, workers: int, fail: set[str], seconds: float
) -> bool:
    """Create a cluster of a master and ``instances - 1`` workers; return whether it worked."""
    vms = [Vm(f"{cluster_id}-i-0", "master-0", "masters")] + [
        Vm(f"{cluster_id}-i-{n}", f"worker-{n}", "workers") for n in range(1, instances)
    ]
    try:
        with (
            otel_provlog.operation(
                cluster_id, "creating", cluster_name="example", tenant_id="demo", plan=PLAN
            ),
            ThreadPoolExecutor(max_workers=workers) as pool,
        ):
            for name in PLAN.steps("creating"):
                run_step(cluster_id, name, vms, pool, fail, seconds)
    except RuntimeError as error:
        logging.getLogger("engine").error("provisioning of %s failed: %s", cluster_id, error)
        return False
    return True


def main() -> int:
    """Parse the arguments, configure the store path, provision, and flush before leaving."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-id", default="c-native")
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8, help="threads of the pool")
    parser.add_argument(
        "--work-seconds", type=float, default=0.01, help="mean time of one instance's work"
    )
    parser.add_argument("--fail", action="append", default=[], help="an instance name to fail")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    store = otel_provlog.configure()  # PROVLOG_* settings; drains in a process of its own
    try:
        ok = provision(
            options.cluster_id,
            options.instances,
            options.workers,
            set(options.fail),
            options.work_seconds,
        )
        stored = store.force_flush(timeout_millis=30_000)  # wait until every span is stored
    finally:
        store.shutdown()
    print(f"cluster {options.cluster_id}: {'provisioned' if ok else 'failed'}, stored={stored}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
