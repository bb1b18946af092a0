"""Drilling down: steps, events and failures, filtered, sorted and paginated."""

from __future__ import annotations

from datetime import timedelta


def _ids(response, name):
    assert response.status_code == 200, response.get_json()
    return [row["id"] for row in response.get_json()[name]]


def test_steps_filter_by_status_and_outcome(client, seed):
    """Steps filter by status and by tri-state successful (null = still running)."""
    seed.cluster()
    done = seed.step(name="Launching instances")
    seed.end_step(done, seconds=5)
    running = seed.step(name="Waiting for ssh", at=seed.t0 + timedelta(seconds=10))
    base = "/v2/clusters/c-1/steps"
    assert _ids(client.get(f"{base}?status=running"), "steps") == [running]
    assert _ids(client.get(f"{base}?successful=true"), "steps") == [done]
    assert _ids(client.get(f"{base}?successful=null"), "steps") == [running]
    assert _ids(client.get(f"{base}?sort_by=-created_at"), "steps") == [running, done]
    assert client.get(f"{base}?status=bogus").status_code == 400


def test_one_step_carries_its_estimate(client, seed):
    """A single step comes with its estimate of the time left."""
    seed.cluster()
    step = seed.step(total=4)
    seed.events(step, 2)
    body = client.get(f"/v2/clusters/c-1/steps/{step}").get_json()["step"]
    assert body["estimate"]["basis"] == "rate"
    assert body["estimate"]["seconds_left"] is not None
    assert client.get("/v2/clusters/c-1/steps/nope").status_code == 404


def test_events_filter_by_step_node_group_outcome_and_time(client, seed):
    """Events filter by step, node group, instance, outcome and creation window."""
    seed.cluster()
    one = seed.step(name="a")
    two = seed.step(name="b", at=seed.t0 + timedelta(minutes=1))
    first = seed.events(one, 3, failed=1, node_group="ng-1")
    second = seed.events(two, 2, node_group="ng-2", at=seed.t0 + timedelta(minutes=1))
    base = "/v2/clusters/c-1/events"
    assert _ids(client.get(f"{base}?provision_step={one}"), "events") == first
    assert _ids(client.get(f"{base}?node_group_id=ng-2"), "events") == second
    assert _ids(client.get(f"{base}?successful=false"), "events") == first[:1]
    after = (seed.t0 + timedelta(seconds=30)).isoformat()
    assert _ids(client.get(f"{base}?created_after={after.replace('+', '%2B')}"), "events") == (
        second
    )
    assert client.get(f"{base}?created_after=yesterday").status_code == 400


def test_failures_list_failed_events_with_error_ids(client, seed):
    """Failures are the failed events, each with its error id."""
    seed.cluster()
    step = seed.step()
    failed = seed.events(step, 4, failed=2)[:2]
    body = client.get("/v2/clusters/c-1/failures").get_json()
    assert [f["id"] for f in body["failures"]] == failed
    assert all(f["error_id"] for f in body["failures"])
    assert all(f["successful"] is False for f in body["failures"])


def test_pagination_walks_every_row_once_while_rows_are_added(client, seed):
    """Keyset pages skip and repeat nothing, even when events arrive between pages."""
    seed.cluster()
    step = seed.step(total=100)
    stored = seed.events(step, 10)
    seen: list[str] = []
    url = "/v2/clusters/c-1/events?limit=3"
    page = client.get(url).get_json()
    seen += [e["id"] for e in page["events"]]
    added = seed.events(step, 4, at=seed.t0 + timedelta(minutes=5))
    while page.get("markers", {}).get("next"):
        page = client.get(f"{url}&marker={page['markers']['next']}").get_json()
        seen += [e["id"] for e in page["events"]]
    assert seen == stored + added


def test_prev_marker_returns_the_page_before(client, seed):
    """The ``prev`` marker leads back to the previous page."""
    seed.cluster()
    step = seed.step(total=100)
    stored = seed.events(step, 9)
    base = "/v2/clusters/c-1/events?limit=3"
    third = client.get(f"{base}&marker={stored[5]}").get_json()
    assert [e["id"] for e in third["events"]] == stored[6:9]
    assert third["markers"] == {"prev": stored[2], "next": None}
    second = client.get(f"{base}&marker={third['markers']['prev']}").get_json()
    assert [e["id"] for e in second["events"]] == stored[3:6]
    assert second["markers"] == {"prev": None, "next": stored[5]}


def test_limit_is_capped_and_validated(client, seed):
    """A huge limit is cut to the maximum page size; a bad one is a 400."""
    seed.cluster()
    step = seed.step()
    seed.events(step, 2)
    assert len(client.get("/v2/clusters/c-1/events?limit=99999999999999").get_json()["events"]) == 2
    for bad in ("0", "-1", "x", "1.5"):
        response = client.get(f"/v2/clusters/c-1/events?limit={bad}")
        assert response.status_code == 400, bad


def test_unknown_marker_is_a_404(client, seed):
    """A marker naming no row of the cluster is a 404, as in Sahara."""
    seed.cluster()
    seed.step()
    assert client.get("/v2/clusters/c-1/events?marker=nope").status_code == 404
