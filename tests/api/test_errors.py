"""Every error is JSON in Sahara's shape, with a request id and never a traceback."""

from __future__ import annotations

import logging

import pytest
from flask import Blueprint


def test_unknown_path_is_a_json_404(client):
    """Routing errors are JSON too."""
    response = client.get("/nowhere")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error_code"] == 404
    assert body["error_name"] == "NOT_FOUND"
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_wrong_method_is_a_json_405(client):
    """A POST to a read endpoint is a JSON 405."""
    response = client.post("/v2/clusters")
    assert response.status_code == 405
    assert response.get_json()["error_name"] == "METHOD_NOT_ALLOWED"


def test_request_id_is_echoed_when_well_formed(client):
    """A caller's X-Request-Id is kept; a malformed one is replaced."""
    kept = client.get("/healthz", headers={"X-Request-Id": "req-abc-123"})
    assert kept.headers["X-Request-Id"] == "req-abc-123"
    assert kept.headers["X-Openstack-Request-Id"] == "req-abc-123"
    replaced = client.get("/healthz", headers={"X-Request-Id": "bad id\t"})
    assert replaced.headers["X-Request-Id"].startswith("req-")


def test_unexpected_errors_hide_the_traceback(database_url, caplog):
    """An unexpected exception is a JSON 500 with an error id, logged with its traceback."""
    from otel_provlog.api import create_app
    from otel_provlog.config import Settings

    app = create_app(Settings(database_url=database_url))
    broken = Blueprint("broken", __name__)

    @broken.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    app.register_blueprint(broken)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    app.extensions["provlog"]["engine"].dispose()
    assert response.status_code == 500
    body = response.get_json()
    assert body["error_name"] == "INTERNAL_SERVER_ERROR"
    assert "secret detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert body["error_id"] in body["error_message"]
    assert body["error_id"] in caplog.text
    assert "secret detail" in caplog.text


def test_a_store_that_does_not_answer_is_a_503(tmp_path, caplog):
    """A read the store cannot answer (here: no schema) is a 503 with Retry-After, one log line."""
    from otel_provlog.api import create_app
    from otel_provlog.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'no-schema.db'}"))
    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/v2/clusters")
    app.extensions["provlog"]["engine"].dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert (body["error_name"], body["error_message"]) == (
        "SERVICE_UNAVAILABLE",
        "The store does not answer",
    )
    assert "no such table" not in response.get_data(as_text=True)
    (record,) = [r for r in caplog.records if r.name == "otel_provlog.api.errors"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "no such table" in record.getMessage()


@pytest.mark.parametrize(
    "path",
    [
        "/v1.1/t-1/clusters/%00",
        "/v2/clusters/" + "x" * 300,
        "/v2/clusters?name=%01",
        "/v2/clusters?created_after=0001-01-01T00:00:00%2B14:00",
        "/v2/clusters?created_before=9999-12-31T23:59:59-12:00",
        "/v2/clusters?sort_by=password",
        "/v1.1/t-1/clusters?limit=" + "9" * 5000,
    ],
)
def test_hostile_values_are_400_never_500(client, path):
    """Control characters, long ids and odd values are refused or handled, never a 500."""
    response = client.get(path)
    assert response.status_code in (200, 400, 404)
    assert response.is_json
