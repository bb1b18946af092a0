"""The client's error, retry and timeout paths, against mocked answers and real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from responses import matchers

from otel_provlog.client import (
    ApiError,
    NotFoundError,
    ProvlogClient,
    UnavailableError,
    UnreachableError,
)
from tests.served_api import free_port

BASE = "http://provlog.test"


def _error(status: int, name: str, message: str, request_id: str) -> dict:
    return {
        "error_code": status,
        "error_name": name,
        "error_message": message,
        "request_id": request_id,
    }


@responses.activate
def test_an_api_error_carries_its_name_message_and_request_id():
    """A 404 raises NotFoundError with the API's error_name, message and request id, once."""
    responses.get(
        f"{BASE}/v2/clusters/c-1",
        status=404,
        json=_error(404, "NOT_FOUND", "Object with {'id': 'c-1'} not found", "req-42"),
        headers={"X-Request-Id": "req-42"},
    )
    with pytest.raises(NotFoundError) as caught:
        ProvlogClient(BASE, token="").get_cluster("c-1")
    assert caught.value.status == 404
    assert caught.value.error_name == "NOT_FOUND"
    assert caught.value.error_message == "Object with {'id': 'c-1'} not found"
    assert caught.value.request_id == "req-42"
    assert "req-42" in str(caught.value)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(("status", "name"), [(400, "VALIDATION_ERROR"), (500, "INTERNAL")])
@responses.activate
def test_other_errors_are_raised_at_once_without_retry(status, name):
    """A 400 or a 500 is an ApiError after one request: only 502/503/504 are tried again."""
    responses.get(f"{BASE}/v2/clusters", status=status, json=_error(status, name, "no", "r-1"))
    with pytest.raises(ApiError) as caught:
        ProvlogClient(BASE, token="", backoff_factor=0).list_clusters()
    assert not isinstance(caught.value, NotFoundError | UnavailableError)
    assert (caught.value.status, caught.value.error_name) == (status, name)
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
@responses.activate
def test_gets_are_tried_again_after_a_gateway_error(status):
    """Two 502/503/504 answers, then a 200: the GET succeeds on its third try."""
    url = f"{BASE}/v2/clusters"
    responses.get(url, status=status, body="<html>bad gateway</html>")
    responses.get(url, status=status, body="<html>bad gateway</html>")
    responses.get(url, json={"clusters": []})
    page = ProvlogClient(BASE, token="", retries=3, backoff_factor=0).list_clusters()
    assert page.items == ()
    assert len(responses.calls) == 3


@responses.activate
def test_a_gateway_error_on_every_try_is_unavailable():
    """After the last retry a 503 raises UnavailableError, an UnreachableError, with the id."""
    responses.get(
        f"{BASE}/v2/clusters",
        status=503,
        body="upstream down",
        headers={"X-Request-Id": "req-gw"},
    )
    with pytest.raises(UnavailableError) as caught:
        ProvlogClient(BASE, token="", retries=2, backoff_factor=0).list_clusters()
    assert isinstance(caught.value, UnreachableError)
    assert caught.value.error_name == "HTTP_503"
    assert caught.value.request_id == "req-gw"
    assert len(responses.calls) == 3


@responses.activate
def test_url_and_token_come_from_the_environment(monkeypatch):
    """PROVLOG_API_URL names the API and PROVLOG_TOKEN is sent as a bearer token."""
    monkeypatch.setenv("PROVLOG_API_URL", BASE + "/")
    monkeypatch.setenv("PROVLOG_TOKEN", "s3cret")
    responses.get(
        f"{BASE}/v2/clusters",
        json={"clusters": []},
        match=[matchers.header_matcher({"Authorization": "Bearer s3cret"})],
    )
    assert ProvlogClient().list_clusters().items == ()


def test_a_client_needs_an_api_url(monkeypatch):
    """Without a base URL nor PROVLOG_API_URL the client refuses to start."""
    monkeypatch.delenv("PROVLOG_API_URL", raising=False)
    monkeypatch.delenv("PROVLOG_CONFIG", raising=False)
    with pytest.raises(ValueError, match="PROVLOG_API_URL"):
        ProvlogClient()


@responses.activate
def test_iterate_follows_the_markers_page_after_page():
    """``iterate`` asks for the next page with the marker of the one before, to the end."""
    url = f"{BASE}/v2/clusters/c%201/events"

    def page(ids: list[str], next_marker: str | None) -> dict:
        events = [{"id": i, "cluster_id": "c 1", "successful": True} for i in ids]
        return {"events": events, "markers": {"prev": None, "next": next_marker}}

    responses.get(
        url,
        json=page(["e1", "e2"], "e2"),
        match=[matchers.query_param_matcher({"limit": "2", "successful": "true"})],
    )
    responses.get(
        url,
        json=page(["e3"], None),
        match=[matchers.query_param_matcher({"limit": "2", "successful": "true", "marker": "e2"})],
    )
    client = ProvlogClient(BASE, token="")
    found = client.iterate(client.list_events, "c 1", successful=True, limit=2)
    assert [event.id for event in found] == ["e1", "e2", "e3"]


@responses.activate
def test_failure_groups_are_typed_and_paged(failure_group):
    """Failure groups come typed, filtered by step and node group, page after page."""
    url = f"{BASE}/v2/clusters/c-1/failure-groups"
    wanted = {"provision_step": "s-1", "node_group_id": "ng-worker", "limit": "1"}
    second = {**failure_group, "fingerprint": "f2", "count": 1, "examples": []}
    responses.get(
        url,
        json={"failure_groups": [failure_group], "markers": {"prev": None, "next": "f1"}},
        match=[matchers.query_param_matcher(wanted)],
    )
    responses.get(
        url,
        json={"failure_groups": [second], "markers": {"prev": None, "next": None}},
        match=[matchers.query_param_matcher({**wanted, "marker": "f1"})],
    )
    client = ProvlogClient(BASE, token="")
    found = list(
        client.iterate(
            client.list_failure_groups,
            "c-1",
            step_id="s-1",
            node_group_ids=["ng-worker"],
            limit=1,
        )
    )
    assert [g.fingerprint for g in found] == ["f1", "f2"]
    first = found[0]
    assert (first.pattern, first.count) == (failure_group["pattern"], 3)
    assert first.node_groups == {"ng-worker": 2, "": 1}
    assert first.first_seen == datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
    (example,) = first.examples
    assert (example.instance_name, example.error_id, example.step_id) == (
        "worker-7",
        "err-7",
        "s-1",
    )


class _Json(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"clusters": [], "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_refused_connection_is_tried_again_until_the_server_answers():
    """The API starts listening only after the first tries: the GET still succeeds."""
    port = free_port()
    servers: list[ThreadingHTTPServer] = []

    def start_late() -> None:
        time.sleep(0.5)
        server = ThreadingHTTPServer(("127.0.0.1", port), _Json)
        servers.append(server)
        server.serve_forever()

    thread = threading.Thread(target=start_late, daemon=True)
    thread.start()
    try:
        client = ProvlogClient(f"http://127.0.0.1:{port}", token="", retries=6, backoff_factor=0.2)
        assert client.get_json("/v2/clusters") == {"clusters": [], "path": "/v2/clusters"}
    finally:
        while not servers:
            time.sleep(0.05)
        servers[0].shutdown()
        servers[0].server_close()
        thread.join()


def test_nothing_listening_is_unreachable_after_the_retries():
    """A port nobody listens on raises UnreachableError naming the API."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UnreachableError, match=r"127\.0\.0\.1") as caught:
        ProvlogClient(url, token="", retries=2, backoff_factor=0).list_clusters()
    assert not isinstance(caught.value, ApiError)


def test_every_try_has_a_timeout():
    """A server that accepts but never answers times out on each of the two tries."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections queue up; nothing ever reads them
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="timed out"):
            ProvlogClient(url, token="", timeout=0.3, retries=1, backoff_factor=0).list_clusters()
        took = time.monotonic() - started
    assert 0.6 <= took < 5
