"""The demo's simulated engine: node groups at scale, and an engine killed mid-step."""

from __future__ import annotations

from collections import Counter

from otel_provlog.cli.demo_simulation import Scenario, make_instances


def test_ten_thousand_instances_fill_node_groups_of_a_thousand():
    """Three masters, then workers in groups worker-1... of at most group_size each."""
    scenario = Scenario(cluster_id="c-big", instances=10_000)
    instances = make_instances(scenario, start=0, count=scenario.instances)
    groups = Counter(instance.node_group_id for instance in instances)
    assert groups["c-big-ng-master"] == 3
    workers = {group: n for group, n in groups.items() if "worker" in group}
    assert len(workers) == 10
    assert max(workers.values()) == 1000
    assert sum(workers.values()) == 9_997
    assert len({instance.instance_id for instance in instances}) == 10_000
