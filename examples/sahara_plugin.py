"""A Sahara-style plugin on the compatibility helpers (``otel_provlog.sahara``).

Plugin code written for Sahara's event log (``sahara.utils.cluster_progress_ops``) runs
unchanged: only the import changes. The engine opens the cluster operation (Sahara's
infrastructure did); the plugin adds its steps and reports its events::

    python examples/sahara_plugin.py --cluster-id c-sahara
    python examples/sahara_plugin.py --cluster-id c-broken --fail worker-2

Spans go to the store of your settings (``PROVLOG_DATABASE_URL``, by default the SQLite
file ``provlog.db`` in the current directory). Needs ``pip install 'otel-provlog[store]'``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

import otel_provlog
from otel_provlog import sahara as cpo  # was: from sahara.utils import cluster_progress_ops


@dataclass
class NodeGroup:
    """A node group as Sahara's objects have it: an id and its cluster's id."""

    id: str
    cluster_id: str


@dataclass
class Instance:
    """An instance as Sahara's objects have it: what the helpers read from it."""

    instance_id: str
    instance_name: str
    node_group: NodeGroup

    @property
    def node_group_id(self) -> str:
        """The id of the instance's node group."""
        return self.node_group.id

    @property
    def cluster_id(self) -> str:
        """The id of the instance's cluster."""
        return self.node_group.cluster_id


@dataclass
class Cluster:
    """A cluster as Sahara's objects have it."""

    id: str
    name: str
    tenant_id: str
    instances: list[Instance] = field(default_factory=list)


class VanillaPlugin:
    """A tiny plugin: its declared steps, and the code that runs them."""

    def __init__(self, fail: set[str]) -> None:
        self.fail = fail

    def get_provisioning_steps(self) -> dict[str, list[str]]:
        """Sahara's plugin SPI: the step names of each step type."""
        return {
            "creating": ["Configure instances", "Start the NameNode", "Start DataNodes"],
            "scaling": ["Configure instances", "Start DataNodes"],
        }

    def configure_cluster(self, cluster: Cluster) -> None:
        """Configure every instance: a step with one event per instance."""
        cpo.add_provisioning_step(cluster.id, "Configure instances", len(cluster.instances))
        for instance in cluster.instances:
            self._configure_instance(instance)

    @cpo.event_wrapper(True)
    def _configure_instance(self, instance: Instance) -> None:
        if instance.instance_name in self.fail:
            raise RuntimeError(f"could not write core-site.xml on {instance.instance_name}")

    def start_cluster(self, cluster: Cluster) -> None:
        """Start the services: one single-event step, then one event per data node."""
        self._start_namenode(cluster.instances[0])
        datanodes = cluster.instances[1:]
        cpo.add_provisioning_step(cluster.id, "Start DataNodes", len(datanodes))
        for instance in datanodes:
            try:
                # ... start the service ...
                cpo.add_successful_event(instance)
            except Exception as error:  # pragma: no cover - the service never fails here
                cpo.add_fail_event(instance, error)
                raise

    @cpo.event_wrapper(True, step="Start the NameNode", param=("instance", 1))
    def _start_namenode(self, instance: Instance) -> None:
        pass


def make_cluster(cluster_id: str, workers: int) -> Cluster:
    """Return a cluster of one master and ``workers`` workers."""
    masters, slaves = (
        NodeGroup(f"{cluster_id}-masters", cluster_id),
        NodeGroup(f"{cluster_id}-workers", cluster_id),
    )
    instances = [Instance(f"{cluster_id}-master-1", "master-1", masters)]
    instances += [
        Instance(f"{cluster_id}-worker-{n}", f"worker-{n}", slaves) for n in range(1, workers + 1)
    ]
    return Cluster(cluster_id, "hadoop", "demo", instances)


def main() -> int:
    """Create one cluster with the plugin, as Sahara's engine would."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-id", default="c-sahara")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--fail", action="append", default=[], help="an instance name to fail")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    store = otel_provlog.configure()
    cluster = make_cluster(options.cluster_id, options.workers)
    plugin = VanillaPlugin(set(options.fail))
    ok = True
    try:
        with otel_provlog.operation(
            cluster.id,
            "creating",
            cluster_name=cluster.name,
            tenant_id=cluster.tenant_id,
            plan=plugin.get_provisioning_steps(),
        ):
            plugin.configure_cluster(cluster)
            plugin.start_cluster(cluster)
    except RuntimeError as error:
        logging.getLogger("engine").error("cluster %s: %s", cluster.id, error)
        ok = False
    finally:
        stored = store.force_flush(timeout_millis=30_000)
        store.shutdown()
    print(f"cluster {cluster.id}: {'active' if ok else 'error'}, stored={stored}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
