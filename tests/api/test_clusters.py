"""The v1.1 cluster endpoints: provisioning_progress, progress events, lists."""

from __future__ import annotations

from datetime import timedelta

from otel_provlog.api import create_app
from otel_provlog.config import Settings


def test_cluster_get_returns_steps_sorted_with_counts(client, seed):
    """The cluster GET lists its steps oldest first with completed/total and a summary."""
    seed.cluster()
    later = seed.step(name="Waiting for ssh", total=4, at=seed.t0 + timedelta(minutes=10))
    first = seed.step(name="Launching instances", total=3)
    seed.events(first, 3)
    seed.end_step(first, seconds=600)
    seed.events(later, 2, failed=1, at=seed.t0 + timedelta(minutes=10))
    response = client.get("/v1.1/t-1/clusters/c-1")
    assert response.status_code == 200
    cluster = response.get_json()["cluster"]
    assert cluster["id"] == "c-1"
    assert cluster["tenant_id"] == "t-1"
    steps = cluster["provisioning_progress"]
    assert [s["id"] for s in steps] == [first, later]
    assert steps[0]["completed"] == 3
    assert steps[0]["total"] == 3
    assert steps[0]["successful"] is True
    assert steps[0]["progress"] == "Launching instances completed 3 out of 3 in 10 minutes"
    assert steps[0]["started_at"] == "2026-05-04T10:00:00.250000Z"
    assert steps[0]["completed_at"] == "2026-05-04T10:10:00.250000Z"
    assert steps[1]["successful"] is False
    assert steps[1]["completed_at"] is None
    assert steps[1]["progress"] == "Waiting for ssh completed 1 out of 4, 1 failed"


def test_cluster_get_carries_sahara_provision_progress(client, seed):
    """``provision_progress`` holds Sahara's step fields, and events with show_progress."""
    seed.cluster()
    step = seed.step(total=2)
    seed.events(step, 2, failed=1)
    plain = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]["provision_progress"]
    assert set(plain[0]) == {
        "id",
        "cluster_id",
        "tenant_id",
        "step_name",
        "step_type",
        "total",
        "successful",
        "created_at",
        "updated_at",
    }
    for flag in ("true", "TRUE", "True"):
        shown = client.get(f"/v1.1/t-1/clusters/c-1?show_progress={flag}").get_json()
        events = shown["cluster"]["provision_progress"][0]["events"]
        assert len(events) == 2
        assert set(events[0]) == {
            "id",
            "node_group_id",
            "instance_id",
            "instance_name",
            "event_info",
            "stacktrace",
            "successful",
            "step_id",
            "created_at",
            "updated_at",
        }
        assert events[0]["step_id"] == step


def test_missing_and_foreign_clusters_are_the_same_404(client, seed):
    """Another tenant's cluster answers exactly like a missing one."""
    seed.cluster("c-2", tenant="t-2")
    foreign = client.get("/v1.1/t-1/clusters/c-2")
    missing = client.get("/v1.1/t-1/clusters/c-404")
    assert foreign.status_code == missing.status_code == 404
    body = foreign.get_json()
    assert body["error_code"] == 404
    assert body["error_name"] == "NOT_FOUND"
    assert body["error_message"] == "Object with {'id': 'c-2'} not found"
    assert set(body) == set(missing.get_json())


def test_progress_lists_events_of_the_current_step(client, seed):
    """``/progress`` returns the newest step's events, or those of ``provision_step``."""
    seed.cluster()
    old = seed.step(name="Launching instances", total=2)
    seed.events(old, 2)
    new = seed.step(name="Waiting for ssh", total=3, at=seed.t0 + timedelta(minutes=1))
    seed.events(new, 3, at=seed.t0 + timedelta(minutes=1))
    current = client.get("/v1.1/t-1/clusters/c-1/progress").get_json()
    assert {e["provisioning_step_id"] for e in current["events"]} == {new}
    assert len(current["events"]) == 3
    assert current["step"]["id"] == new
    chosen = client.get(f"/v1.1/t-1/clusters/c-1/progress?provision_step={old}").get_json()
    assert {e["provisioning_step_id"] for e in chosen["events"]} == {old}
    assert set(chosen["events"][0]) >= {
        "id",
        "cluster_id",
        "node_group_id",
        "instance_id",
        "instance_name",
        "provisioning_step_id",
        "event_info",
        "stacktrace",
        "successful",
        "error_id",
        "created_at",
        "updated_at",
    }


def test_progress_of_a_cluster_without_steps_is_empty(client, seed):
    """A cluster that has not started a step has no progress events."""
    seed.cluster()
    assert client.get("/v1.1/t-1/clusters/c-1/progress").get_json() == {
        "events": [],
        "step": None,
    }


def test_progress_rejects_unknown_and_malformed_steps(client, seed):
    """A step of no such id is a 404; a step id that is not a UUID is a 400."""
    seed.cluster()
    unknown = client.get(
        "/v1.1/t-1/clusters/c-1/progress?provision_step=00000000-0000-4000-8000-000000000000"
    )
    assert unknown.status_code == 404
    malformed = client.get("/v1.1/t-1/clusters/c-1/progress?provision_step=x")
    assert malformed.status_code == 400
    assert malformed.get_json()["error_name"] == "VALIDATION_ERROR"


def test_cluster_list_is_one_tenant(client, seed):
    """``/v1.1/<tenant>/clusters`` lists that tenant's clusters only."""
    seed.cluster("c-1", tenant="t-1")
    seed.cluster("c-2", tenant="t-2")
    body = client.get("/v1.1/t-1/clusters").get_json()
    assert [c["id"] for c in body["clusters"]] == ["c-1"]
    assert "markers" not in body


def test_the_operation_links_to_its_trace_with_the_trace_url_setting(database_url, seed):
    """With PROVLOG_TRACE_URL, the cluster's operation carries its trace's URL everywhere."""
    seed.cluster()
    seed.operation()
    settings = Settings(database_url=database_url, trace_url="http://jaeger:16686/trace/{trace_id}")
    app = create_app(settings, test_config={"TESTING": True})
    client = app.test_client()
    expected = f"http://jaeger:16686/trace/{seed.trace}"
    for url, key in (
        ("/v1.1/t-1/clusters/c-1", "cluster"),
        ("/v2/clusters/c-1", "cluster"),
        ("/v1.1/t-1/clusters", "clusters"),
        ("/v2/clusters", "clusters"),
    ):
        body = client.get(url).get_json()[key]
        operation = (body if key == "cluster" else body[0])["operation"]
        assert (operation["trace_id"], operation["trace_url"]) == (seed.trace, expected), url
    app.extensions["provlog"]["engine"].dispose()


def test_without_the_trace_url_setting_the_trace_link_is_null(client, seed):
    """No template, no link: the trace id is still there."""
    seed.cluster()
    seed.operation()
    operation = client.get("/v1.1/t-1/clusters/c-1").get_json()["cluster"]["operation"]
    assert operation["trace_id"] == seed.trace
    assert operation["trace_url"] is None
