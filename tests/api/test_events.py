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


def _ssh(n):
    return f"SSH to 10.0.0.{n} timed out after 300s"


def _quota(n):
    return f"Quota exceeded for resource 'cores': requested {n + 8}"


def test_failure_groups_group_failures_by_cause(client, seed):
    """Failures of one cause form one group with its counts, node groups, times and examples."""
    seed.cluster()
    step = seed.step(total=40)
    ssh = seed.events(step, 9, failed=7, message=_ssh, node_group="workers")
    later = seed.t0 + timedelta(seconds=30)
    ssh += seed.events(step, 2, failed=2, message=_ssh, node_group="masters", at=later)
    quota = seed.events(step, 3, failed=3, message=_quota, at=seed.t0 + timedelta(minutes=1))
    response = client.get("/v2/clusters/c-1/failure-groups")
    assert response.status_code == 200
    groups = response.get_json()["failure_groups"]
    assert [(group["count"], group["pattern"]) for group in groups] == [
        (9, "SSH to <ip> timed out after <n>s"),
        (3, "Quota exceeded for resource 'cores': requested <n>"),
    ]
    first = groups[0]
    assert first["node_groups"] == {"masters": 2, "workers": 7}
    assert first["message"] == _ssh(0)
    assert len(first["examples"]) == 5
    assert [example["event_id"] for example in first["examples"]] == ssh[:5]
    assert set(first["examples"][0]) == {
        "event_id",
        "instance_id",
        "instance_name",
        "node_group_id",
        "error_id",
        "provisioning_step_id",
    }
    assert first["examples"][0]["provisioning_step_id"] == step
    assert first["examples"][0]["error_id"]
    assert first["first_seen"] < first["last_seen"]
    assert [example["event_id"] for example in groups[1]["examples"]] == quota
    assert "markers" not in response.get_json()
    assert "Traceback" not in response.get_data(as_text=True)


def test_failure_groups_filter_by_step_and_node_group(client, seed):
    """provision_step and node_group_id keep only those failures, and the counts follow."""
    seed.cluster()
    one = seed.step(name="a")
    two = seed.step(name="b", at=seed.t0 + timedelta(minutes=1))
    seed.events(one, 3, failed=3, message=_ssh, node_group="workers")
    seed.events(two, 2, failed=2, message=_ssh, node_group="masters")
    seed.events(two, 1, failed=1, message=_quota, node_group="workers")
    base = "/v2/clusters/c-1/failure-groups"

    def counts(query):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 200, response.get_json()
        return [(g["count"], g["node_groups"]) for g in response.get_json()["failure_groups"]]

    assert counts(f"provision_step={two}") == [(2, {"masters": 2}), (1, {"workers": 1})]
    assert counts("node_group_id=workers") == [(3, {"workers": 3}), (1, {"workers": 1})]
    assert counts(f"provision_step={one}&node_group_id=masters") == []
    assert client.get(f"{base}?sort_by=count").status_code == 400
    assert client.get(f"{base}?provision_step=nope").status_code == 400


def test_failure_groups_page_largest_first_with_markers(client, seed):
    """Groups page by count then fingerprint; markers walk forward and back over every group."""
    seed.cluster()
    step = seed.step(total=100)
    for letter, size in zip("abcde", (4, 3, 3, 2, 1), strict=True):
        seed.events(step, size, failed=size, message=lambda n, c=letter: f"cause {c} on w-{n}")
    everything = client.get("/v2/clusters/c-1/failure-groups").get_json()["failure_groups"]
    order = [group["fingerprint"] for group in everything]
    assert [group["count"] for group in everything] == [4, 3, 3, 2, 1]
    assert order[1:3] == sorted(order[1:3])
    url = "/v2/clusters/c-1/failure-groups?limit=2"
    pages = [client.get(url).get_json()]
    while pages[-1].get("markers", {}).get("next"):
        pages.append(client.get(f"{url}&marker={pages[-1]['markers']['next']}").get_json())
    walked = [g["fingerprint"] for page in pages for g in page["failure_groups"]]
    assert walked == order
    assert len(pages) == 3
    assert pages[2]["markers"]["prev"] == order[1]
    back = client.get(f"{url}&marker={pages[2]['markers']['prev']}").get_json()
    assert [g["fingerprint"] for g in back["failure_groups"]] == order[2:4]
    assert client.get(f"{url}&marker=0000000000000000").status_code == 404


def test_failure_groups_are_scoped_to_the_tenant(token_client, seed, bearer):
    """Another tenant's cluster has no failure groups to show: a 404, like a missing one."""
    seed.cluster("c-1", tenant="t-1")
    seed.events(seed.step(), 1, failed=1)
    path = "/v2/clusters/c-1/failure-groups"
    assert token_client.get(path, headers=bearer("other")).status_code == 404
    assert token_client.get(path).status_code == 401
    own = token_client.get(path, headers=bearer("reader")).get_json()
    assert [group["count"] for group in own["failure_groups"]] == [1]
