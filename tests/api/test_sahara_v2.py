"""Sahara's v2 paths: project_id, strict query parameters, every tenant for admins."""

from __future__ import annotations

import pytest


def test_v2_cluster_get_uses_project_id(client, seed):
    """The v2 cluster and each of its Sahara steps name the tenant ``project_id``."""
    seed.cluster()
    step = seed.step(total=2)
    seed.events(step, 2)
    cluster = client.get("/v2/clusters/c-1?show_progress=true").get_json()["cluster"]
    assert cluster["project_id"] == "t-1"
    assert "tenant_id" not in cluster
    sahara_step = cluster["provision_progress"][0]
    assert sahara_step["project_id"] == "t-1"
    assert "tenant_id" not in sahara_step
    assert len(sahara_step["events"]) == 2


def test_v2_cluster_get_without_show_progress_has_no_events(client, seed):
    """Without show_progress (or with anything but 'true') no events are listed."""
    seed.cluster()
    seed.step()
    for query in ("", "?show_progress=false", "?show_progress=yes"):
        cluster = client.get(f"/v2/clusters/c-1{query}").get_json()["cluster"]
        assert "events" not in cluster["provision_progress"][0]


@pytest.mark.parametrize("path", ["/v2/clusters/c-1?bogus=1", "/v2/clusters?plugin=x"])
def test_v2_refuses_unknown_query_parameters(client, seed, path):
    """An unknown query parameter is Sahara's INVALID_PARAMS_ON_REQUEST 400."""
    seed.cluster()
    response = client.get(path)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error_name"] == "INVALID_PARAMS_ON_REQUEST"
    assert body["error_message"].startswith("The only valid params for clusters_")


def test_v2_accepts_sahara_pagination_parameters_on_get(client, seed):
    """Sahara's v2 GET lets marker, limit and sort_by through; so do we."""
    seed.cluster()
    assert client.get("/v2/clusters/c-1?show_progress=true&limit=5").status_code == 200


def test_v2_list_shows_every_tenant_to_an_admin(client, seed):
    """With auth none the caller is an admin: every tenant, or one with project_id."""
    seed.cluster("c-1", tenant="t-1")
    seed.cluster("c-2", tenant="t-2")
    every = client.get("/v2/clusters").get_json()["clusters"]
    assert sorted(c["id"] for c in every) == ["c-1", "c-2"]
    one = client.get("/v2/clusters?project_id=t-2").get_json()["clusters"]
    assert [(c["id"], c["project_id"]) for c in one] == [("c-2", "t-2")]
