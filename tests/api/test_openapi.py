"""The OpenAPI document: valid, complete, and true to the application (schemathesis)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from otel_provlog.api.openapi import openapi_document

EXAMPLES = 25
"""Generated requests per operation and backend: bounded, so the run stays short."""


def test_document_is_valid_openapi(client):
    """``/openapi.json`` validates with openapi-spec-validator."""
    document = client.get("/openapi.json").get_json()
    validate(document)
    assert document == openapi_document()


def test_document_describes_every_endpoint(app):
    """Every route of the API has a path in the document, and no more (pages are HTML)."""
    routes = {
        re.sub(r"<([^>]+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("pages.")
    }
    assert routes == set(openapi_document()["paths"])


@pytest.fixture
def api_schema(app, seed):
    """The document loaded by schemathesis, over a store holding one small cluster."""
    seed.cluster("c-1", tenant="t-1")
    operation = seed.operation(plan=["Launching instances", "Waiting for ssh"])
    step = seed.step(name="Launching instances", total=3, operation_id=operation)
    seed.events(step, 3, failed=1)
    seed.end_step(step, seconds=12, successful=False)
    running = seed.step(name="Waiting for ssh", total=3, at=seed.t0 + timedelta(minutes=1))
    seed.events(running, 1, at=seed.t0 + timedelta(minutes=1))
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def test_api_conforms_to_its_document(api_schema):
    """Generated requests meet no server error and no response outside the document."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= len(openapi_document()["paths"]) - 1
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def _check(case):
            case.call_and_validate()

        _check()
