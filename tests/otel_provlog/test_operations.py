"""Cluster operations: the root span, its attributes, plan, link and end."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import otel_provlog
from otel_provlog import attributes as a


def test_operation_attributes(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """The operation span carries cluster, tenant, step type and the plan of its type."""
    plan = {"creating": ["Launch", "Configure"], "deleting": ["Delete"]}
    with otel_provlog.operation(
        cluster_id,
        "creating",
        cluster_name="demo",
        tenant_id="t-1",
        plan=plan,
        tracer_provider=provider,
    ) as op:
        assert op.id is not None
    operation = spans.one(a.SPAN_OPERATION)
    assert operation.name == "creating cluster"
    assert operation.parent is None
    assert spans.attrs(operation) == {
        a.SPAN_KIND: a.SPAN_OPERATION,
        a.CLUSTER_ID: cluster_id,
        a.CLUSTER_NAME: "demo",
        a.TENANT_ID: "t-1",
        a.STEP_TYPE: "creating",
        a.PLAN: ("Launch", "Configure"),
    }


def test_operation_start_marker(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """One zero-length operation.start child, ended as the operation begins, same attributes."""
    with otel_provlog.operation(
        cluster_id,
        "creating",
        cluster_name="demo",
        tenant_id="t-1",
        plan=["Launch", "Configure"],
        tracer_provider=provider,
    ):
        marker = spans.one(a.SPAN_OPERATION_START)  # ended while the operation runs
        assert spans(a.SPAN_OPERATION) == []
    operation = spans.one(a.SPAN_OPERATION)
    assert spans.children(operation, a.SPAN_OPERATION_START) == [marker]
    assert marker.name == "creating cluster started"
    assert marker.start_time == marker.end_time == operation.start_time
    assert spans.attrs(marker) == spans.attrs(operation) | {a.SPAN_KIND: a.SPAN_OPERATION_START}


@pytest.mark.parametrize("explicit", [False, True])
def test_one_start_marker_per_operation(
    provider: TracerProvider, spans: Any, cluster_id: str, explicit: bool
) -> None:
    """Each operation, with or without ``with``, emits exactly one marker, its own."""
    for step_type in ("creating", "scaling"):
        if explicit:
            otel_provlog.start_operation(cluster_id, step_type, tracer_provider=provider).end()
        else:
            with otel_provlog.operation(cluster_id, step_type, tracer_provider=provider):
                pass
    operations = spans(a.SPAN_OPERATION)
    assert len(operations) == 2
    for operation in operations:
        (marker,) = spans.children(operation, a.SPAN_OPERATION_START)
        assert spans.attrs(marker)[a.STEP_TYPE] == spans.attrs(operation)[a.STEP_TYPE]
    assert len(spans(a.SPAN_OPERATION_START)) == 2


def test_operation_without_optional_attributes(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """Unknown name, tenant and plan are left out rather than invented."""
    with otel_provlog.operation(cluster_id, "deleting", tracer_provider=provider):
        pass
    assert set(spans.attrs(spans.one(a.SPAN_OPERATION))) == {
        a.SPAN_KIND,
        a.CLUSTER_ID,
        a.STEP_TYPE,
    }


def test_operation_is_a_root_linked_to_the_caller(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """Started inside another span, the operation starts a new trace linked to it."""
    with (
        provider.get_tracer("api").start_as_current_span("POST /clusters") as request,
        otel_provlog.operation(cluster_id, "creating", tracer_provider=provider),
    ):
        pass
    operation = spans.one(a.SPAN_OPERATION)
    assert operation.parent is None
    assert operation.context.trace_id != request.get_span_context().trace_id
    assert [link.context for link in operation.links] == [request.get_span_context()]


def test_operation_error_is_recorded_and_reraised(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """An exception leaving the operation fails its span and propagates."""

    def create() -> None:
        with otel_provlog.operation(cluster_id, "creating", tracer_provider=provider):
            raise ConnectionError("nova down")

    with pytest.raises(ConnectionError, match="nova down"):
        create()
    operation = spans.one(a.SPAN_OPERATION)
    assert operation.status.status_code is StatusCode.ERROR
    assert [e.name for e in operation.events] == ["exception"]


def test_start_operation_and_end(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """start_operation serves code without ``with``; steps in other threads find it."""
    op = otel_provlog.start_operation(cluster_id, "scaling", tracer_provider=provider)
    started = otel_provlog.start_step(cluster_id, "Scale", tracer_provider=provider)
    op.end()
    op.end()
    step = spans.one(a.SPAN_STEP)
    assert spans.attrs(step)[a.STEP_TYPE] == "scaling"
    assert spans.children(spans.one(a.SPAN_OPERATION), a.SPAN_STEP) == [step]
    assert otel_provlog.current_step(cluster_id) is None
    assert not started.attached


def test_steps_use_the_operation_provider(
    spans: Any, provider: TracerProvider, cluster_id: str
) -> None:
    """A step given no provider records through its operation's."""
    with (
        otel_provlog.operation(cluster_id, "creating", tracer_provider=provider),
        otel_provlog.step(cluster_id, "Inherits") as s,
    ):
        s.add_success(instance_id="i-1")
    assert {s.name for s in spans()} == {
        "creating cluster",
        "creating cluster started",
        "Inherits",
        "Inherits started",
        "instance event",
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("c", "building"), {}, "unknown step type"),
        (("", "creating"), {}, "cluster id"),
        (("c", "creating"), {"plan": {"growing": ["x"]}}, "unknown step type"),
        (("c", "creating"), {"plan": "Launch"}, "sequence of step names"),
    ],
)
def test_bad_arguments_raise_value_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    """Bad set-up arguments raise ValueError with a clear message."""
    with pytest.raises(ValueError, match=message):
        otel_provlog.operation(*args, **kwargs)
