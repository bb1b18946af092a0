"""Stack traces reach admins only, in every endpoint that shows events, whatever their form.

Each case stores a failure through a real path (the drain's writer, or ``POST /v1/traces``)
on every backend, then reads it back as a reader, a proxy-authenticated member, an admin and
with ``PROVLOG_AUTH=none``. Nothing recognises traceback text: the stack is the span's
``exception.stacktrace`` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Status, StatusCode

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_batch
from otel_provlog.testing import capture_spans

from .conftest import make_app

ENDPOINTS = (
    "/v1.1/t-1/clusters/c-1/progress",
    "/v2/clusters/c-1/events",
    "/v2/clusters/c-1/failures",
    "/v1.1/t-1/clusters/c-1?show_progress=true",
    "/v2/clusters/c-1?show_progress=true",
)
JAVA_STACK = (
    "java.net.ConnectException: Connection refused\n"
    "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
    "\tat com.example.provision.Ssh.open(Ssh.java:42)\n"
    "\tat com.example.provision.Provisioner.run(Provisioner.java:17)\n"
    "Caused by: java.io.IOException: unreachable\n"
    "\t... 2 more"
)
HEADLESS_PYTHON = (
    '  File "/opt/engine/ssh.py", line 88, in wait\n'
    "    sock.connect(addr)\n"
    "ConnectionRefusedError: [Errno 111] Connection refused"
)
PATHS_MESSAGE = (
    "ansible failed:\n"
    '  File "/etc/ansible/roles/hdfs/tasks/main.yml", line 12\n'
    "    at /srv/playbooks/site.yml:4"
)


@pytest.fixture
def token_client(token_app: Any) -> Iterator[Any]:
    """A client of the token app; the writer engine ingest makes is disposed after the test."""
    yield token_app.test_client()
    made = token_app.extensions.get("provlog_ingest")
    if made is not None:
        made["engine"].dispose()


@dataclass(frozen=True)
class Case:
    """One stored failure: the message everyone sees and what only its stack contains."""

    message: str
    stack_marks: tuple[str, ...]


def _inner_failure() -> None:
    raise TimeoutError("ssh to 10.0.0.7 timed out")


def _exception_group() -> ExceptionGroup[Exception]:
    errors: list[Exception] = []
    for failing in (_inner_failure, lambda: int("x")):
        try:
            failing()
        except Exception as error:
            errors.append(error)
    return ExceptionGroup("instance setup failed", errors)


def _provision(provider: TracerProvider, fail: Callable[[otel_provlog.Step], None]) -> None:
    with (
        otel_provlog.operation("c-1", "creating", tenant_id="t-1", tracer_provider=provider),
        otel_provlog.step(
            "c-1", "Wait for ssh", total=2, tenant_id="t-1", tracer_provider=provider
        ) as step,
    ):
        step.add_success(instance_id="i-0", instance_name="worker-0")
        fail(step)


def _python_spans(exception: BaseException) -> list[ReadableSpan]:
    """Spans of a step where ``exception`` is raised inside ``step.event()``."""

    def fail(step: otel_provlog.Step) -> None:
        with pytest.raises(type(exception)), step.event(instance_id="i-1"):
            raise exception

    with capture_spans() as captured:
        _provision(captured.tracer_provider, fail)
    return captured.spans()


def _foreign_spans(exception: dict[str, str], status: str) -> list[ReadableSpan]:
    """Spans of a step whose failed event was made by another SDK, as its OTLP carries it."""

    def fail(step: otel_provlog.Step) -> None:
        tracer = trace.get_tracer("agent", tracer_provider=provider)
        span = tracer.start_span(
            "instance event",
            context=trace.set_span_in_context(step.span),
            attributes={
                a.SPAN_KIND: a.SPAN_EVENT,
                a.CLUSTER_ID: "c-1",
                a.INSTANCE_ID: "i-1",
                a.ERROR_ID: "00000000-0000-4000-8000-000000000001",
            },
        )
        span.add_event(a.EXCEPTION_EVENT, exception)
        span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    with capture_spans() as captured:
        provider = captured.tracer_provider
        _provision(provider, fail)
    return captured.spans()


def _store_through_the_drain(database_url: str, spans: list[ReadableSpan]) -> None:
    records = [record for record in map(record_from_span, spans) if record is not None]
    engine = create_store_engine(database_url)
    try:
        result = write_batch(session_factory(engine), records)
    finally:
        engine.dispose()
    assert (result.written, result.rejected) == (len(records), [])


def _events(body: Any) -> Iterator[dict[str, Any]]:
    """Every event object anywhere in a response body."""
    if isinstance(body, dict):
        if "event_info" in body:
            yield body
        for value in body.values():
            yield from _events(value)
    elif isinstance(body, list):
        for value in body:
            yield from _events(value)


def _texts(body: Any) -> Iterator[str]:
    """Every string anywhere in a response body."""
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for value in body.values():
            yield from _texts(value)
    elif isinstance(body, list):
        for value in body:
            yield from _texts(value)


def _failed(body: Any) -> dict[str, Any]:
    [failed] = [event for event in _events(body) if event["successful"] is False]
    return failed


def _check(client: Any, headers: dict[str, str], case: Case, *, admin: bool) -> None:
    """Read every endpoint: the message for everyone, the stack for admins only."""
    for path in ENDPOINTS:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.get_json())
        body = response.get_json()
        failed = _failed(body)
        assert failed["event_info"] == case.message, path
        assert "stacktrace" in failed, path
        if admin:
            assert all(mark in failed["stacktrace"] for mark in case.stack_marks), path
            continue
        assert all(event["stacktrace"] is None for event in _events(body)), path
        shown = "\n".join(_texts(body))
        for mark in case.stack_marks:
            assert mark not in shown, (path, mark)


def _check_every_role(database_url: str, token_client: Any, bearer: Any, case: Case) -> None:
    _check(token_client, bearer("reader"), case, admin=False)
    _check(token_client, bearer("admin"), case, admin=True)
    assert token_client.get(ENDPOINTS[0], headers=bearer("writer")).status_code == 403
    proxied = make_app(database_url, "headers")
    try:
        member = {"X-Project-Id": "t-1", "X-Roles": "member,reader"}
        _check(proxied.test_client(), member, case, admin=False)
        _check(proxied.test_client(), {"X-Roles": "admin"}, case, admin=True)
    finally:
        proxied.extensions["provlog"]["engine"].dispose()
    open_app = make_app(database_url, "none")
    try:
        _check(open_app.test_client(), {}, case, admin=True)
    finally:
        open_app.extensions["provlog"]["engine"].dispose()


def _ingest_protobuf(client: Any, headers: dict[str, str], spans: list[ReadableSpan]) -> None:
    response = client.post(
        "/v1/traces",
        data=encode_spans(spans).SerializeToString(),
        headers={**headers, "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.get_data()


def _ingest_json(
    client: Any, headers: dict[str, str], spans: list[ReadableSpan], otlp_json: Any
) -> None:
    response = client.post(
        "/v1/traces",
        data=json.dumps(otlp_json(encode_spans(spans))),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.get_data()
    assert response.get_json() == {}


def test_exception_group_raised_in_step_event(database_url, token_client, bearer):
    """An ExceptionGroup's frames, stored by the drain, reach admins only; its message all."""
    group = _exception_group()
    _store_through_the_drain(database_url, _python_spans(group))
    case = Case(
        message=(
            "instance setup failed (2 sub-exceptions: TimeoutError: ssh to 10.0.0.7 timed out; "
            "ValueError: invalid literal for int() with base 10: 'x')"
        ),
        stack_marks=(__file__, "_inner_failure", "ExceptionGroup: instance setup failed"),
    )
    _check_every_role(database_url, token_client, bearer, case)


def test_java_stack_sent_over_otlp(database_url, token_client, bearer, otlp_json):
    """A Java exception sent to POST /v1/traces: its message for all, its frames for admins."""
    spans = _foreign_spans(
        {
            a.EXCEPTION_TYPE: "java.net.ConnectException",
            a.EXCEPTION_MESSAGE: "Connection refused",
            a.EXCEPTION_STACKTRACE: JAVA_STACK,
        },
        "Connection refused",
    )
    _ingest_json(token_client, bearer("admin"), spans, otlp_json)
    case = Case(
        message="Connection refused",
        stack_marks=("com.example.provision", "Ssh.java:42", "Caused by: java.io.IOException"),
    )
    _check_every_role(database_url, token_client, bearer, case)


def test_python_stack_without_its_header_line(database_url, token_client, bearer):
    """A Python stack without "Traceback (most recent call last):" is still only for admins."""
    spans = _foreign_spans(
        {
            a.EXCEPTION_TYPE: "ConnectionRefusedError",
            a.EXCEPTION_MESSAGE: "[Errno 111] Connection refused",
            a.EXCEPTION_STACKTRACE: HEADLESS_PYTHON,
        },
        "",
    )
    _ingest_protobuf(token_client, bearer("admin"), spans)
    case = Case(
        message="[Errno 111] Connection refused",
        stack_marks=("/opt/engine/ssh.py", "sock.connect(addr)"),
    )
    _check_every_role(database_url, token_client, bearer, case)


def test_message_with_path_like_lines_is_a_message(database_url, token_client, bearer):
    """A message whose lines look like frames is shown whole; the real frames stay admin-only."""
    spans = _python_spans(RuntimeError(PATHS_MESSAGE))
    _ingest_protobuf(token_client, bearer("admin"), spans)
    case = Case(message=PATHS_MESSAGE, stack_marks=(__file__, "Traceback (most recent call"))
    _check_every_role(database_url, token_client, bearer, case)
