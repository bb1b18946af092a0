"""schemathesis over ``/openapi.json`` with authentication: no server error, no leak."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_provlog.api import create_app
from otel_provlog.api.auth import hash_token
from otel_provlog.config import Settings
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_batch
from otel_provlog.testing import capture_spans

from .workload import provision

EXAMPLES = 8
"""Generated requests per operation, role and backend: bounded, so the run stays short."""
TOKENS = {"admin": ("admin", None), "reader": ("reader", "t-1"), "writer": ("writer", "t-1")}
"""Role name -> (role, tenant); each token is its role's name backwards."""


def _token(role: str) -> str:
    return role[::-1] + "-token"


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Yield every (key, value) pair of a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


@pytest.fixture
def fuzzed_app(engine, database_url):
    """The API with ``tokens`` auth over clusters of two tenants, failures with stacks."""
    with capture_spans() as captured:
        for cluster, tenant in (("c-own", "t-1"), ("c-other", "t-2")):
            provision(captured.tracer_provider, {"cluster": cluster, "tenant": tenant})
    records = [record for record in map(record_from_span, captured.spans()) if record]
    write_batch(session_factory(engine), records)
    table = ",".join(
        f"{hash_token(_token(name))}:{role}" + (f":{tenant}" if tenant else "")
        for name, (role, tenant) in TOKENS.items()
    )
    app = create_app(
        Settings(database_url=database_url, auth="tokens"),
        test_config={"TESTING": True, "PROVLOG_API_TOKENS": table, "PROVLOG_API_TOKENS_FILE": ""},
    )
    yield app
    app.extensions["provlog"]["engine"].dispose()
    ingest = app.extensions.get("provlog_ingest")
    if ingest is not None:
        ingest["engine"].dispose()


@pytest.mark.parametrize("role", sorted(TOKENS))
def test_generated_requests_meet_no_server_error(fuzzed_app, role):
    """Every role's generated requests get no 5xx; non-admins see no stack, no other tenant."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app)
    headers = {"Authorization": f"Bearer {_token(role)}"}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(
            case=operation.as_strategy(),
            cluster=st.sampled_from([None, "c-own", "c-other"]),
            tenant=st.sampled_from([None, "t-1", "t-2"]),
        )
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def _check(case, cluster, tenant):
            known = {"cluster_id": cluster, "tenant_id": tenant}
            for name, value in known.items():  # often name what exists, not random text
                if value is not None and name in (case.path_parameters or {}):
                    case.path_parameters[name] = value
            response = case.call(headers={**(case.headers or {}), **headers})
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            if role == "admin" or "json" not in response.headers.get("content-type", [""])[0]:
                return
            for key, value in _walk(response.json()):
                assert not (key == "stacktrace" and value), f"{role} saw a stack trace"
                assert value not in ("t-2", "c-other"), f"{role} saw another tenant's {key}"

        _check()
