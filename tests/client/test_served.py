"""The client against ``provlog serve`` on every backend, and offline on the same store."""

from __future__ import annotations

import pytest

from otel_provlog.api.auth import hash_token
from otel_provlog.cli.demo_simulation import CREATING_STEPS, SCALING_STEPS
from otel_provlog.client import NotFoundError, ProvlogClient, UnreachableError, to_json
from tests.cli.provisioning import SIMULATED_CLUSTER
from tests.served_api import ServedApi

pytestmark = pytest.mark.database

CLUSTER = SIMULATED_CLUSTER
TOKENS = {"admin": "admin-secret", "reader": "reader-secret", "other": "other-secret"}


@pytest.fixture(scope="module")
def served(simulated_store, tmp_path_factory):
    """The API on that store, with token authentication."""
    env = {
        "PROVLOG_DATABASE_URL": simulated_store,
        "PROVLOG_AUTH": "tokens",
        "PROVLOG_API_TOKENS": f"{hash_token(TOKENS['admin'])}:admin,"
        f"{hash_token(TOKENS['reader'])}:reader:demo,"
        f"{hash_token(TOKENS['other'])}:reader:t-2",
    }
    with ServedApi(env, workers=1, cwd=tmp_path_factory.mktemp("served")) as api:
        yield api


def test_the_client_reads_clusters_steps_events_and_failures(served):
    """Typed results match what was recorded; pages of two add up to the whole list."""
    client = ProvlogClient(served.url, token=TOKENS["reader"])
    (listed,) = client.list_clusters().items
    assert (listed.id, listed.name, listed.tenant_id) == (CLUSTER, "demo-hadoop", "demo")
    cluster = client.get_cluster(CLUSTER)
    assert [s.step_name for s in cluster.steps] == [*CREATING_STEPS, *SCALING_STEPS]
    assert all(s.completed == s.total and not s.running for s in cluster.steps)
    assert cluster.operation is not None
    assert (cluster.operation.step_type, cluster.operation.status) == ("scaling", "successful")
    assert cluster.operation.plan == SCALING_STEPS
    steps = client.list_steps(CLUSTER).items
    assert [s.id for s in steps] == [s.id for s in cluster.steps]
    assert [s.id for s in client.iterate(client.list_steps, CLUSTER, limit=2)] == [
        s.id for s in steps
    ]
    failures = list(client.iterate(client.list_failures, CLUSTER, limit=2))
    assert failures
    assert sum(s.failed for s in steps) == len(failures)
    assert all(f.successful is False and f.error_id and f.event_info for f in failures)
    failed_events = client.list_events(CLUSTER, successful=False, limit=1000).items
    assert {e.id for e in failed_events} == {f.id for f in failures}
    one = failures[0]
    only = client.list_events(CLUSTER, step_id=one.step_id, instance_ids=[one.instance_id or ""])
    assert one.id in {e.id for e in only}
    assert {e.step_id for e in only} == {one.step_id}


def test_failure_groups_add_up_to_the_failures(served):
    """Every failed event is in exactly one group; each group's examples are its failures."""
    client = ProvlogClient(served.url, token=TOKENS["reader"])
    failures = {f.id: f for f in client.iterate(client.list_failures, CLUSTER)}
    groups = list(client.iterate(client.list_failure_groups, CLUSTER, limit=1))
    assert len(groups) >= 2  # the simulation fails in two ways
    assert sum(g.count for g in groups) == len(failures)
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
    for group in groups:
        assert sum(group.node_groups.values()) == group.count
        assert group.first_seen is not None
        assert group.last_seen is not None
        assert group.first_seen <= group.last_seen
        for example in group.examples:
            failure = failures[example.event_id]
            assert (failure.instance_id, failure.step_id, failure.error_id) == (
                example.instance_id,
                example.step_id,
                example.error_id,
            )
    patterns = {g.pattern for g in groups}
    assert any("is not accessible over SSH" in p for p in patterns)


def test_errors_carry_the_request_id_and_other_tenants_see_nothing(served):
    """A missing cluster and another tenant's are both NotFoundError with a request id."""
    reader = ProvlogClient(served.url, token=TOKENS["reader"])
    with pytest.raises(NotFoundError) as caught:
        reader.get_cluster("no-such-cluster")
    assert caught.value.error_name == "NOT_FOUND"
    assert caught.value.request_id
    other = ProvlogClient(served.url, token=TOKENS["other"])
    assert other.list_clusters().items == ()
    with pytest.raises(NotFoundError):
        other.get_cluster(CLUSTER)


def test_the_offline_client_answers_exactly_as_the_served_api(served, simulated_store):
    """Reading the store directly gives an admin's results from the API, to the field."""
    online = ProvlogClient(served.url, token=TOKENS["admin"])
    with ProvlogClient.offline(simulated_store) as offline:
        assert to_json(offline.get_cluster(CLUSTER)) == to_json(online.get_cluster(CLUSTER))
        assert to_json(offline.list_clusters()) == to_json(online.list_clusters())
        assert to_json(list(offline.iterate(offline.list_failures, CLUSTER))) == to_json(
            list(online.iterate(online.list_failures, CLUSTER))
        )
        assert to_json(list(offline.iterate(offline.list_failure_groups, CLUSTER))) == to_json(
            list(online.iterate(online.list_failure_groups, CLUSTER))
        )
        with pytest.raises(NotFoundError):
            offline.get_cluster("no-such-cluster")


def test_an_offline_store_that_does_not_exist_is_unreachable(tmp_path):
    """A SQLite path with no store is UnreachableError, and no empty file is left behind."""
    path = tmp_path / "missing.db"
    with pytest.raises(UnreachableError, match="no store"):
        ProvlogClient.offline(f"sqlite:///{path}")
    assert not path.exists()
