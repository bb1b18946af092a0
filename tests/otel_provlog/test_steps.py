"""Steps: the span tree, the start marker, attributes, events and explicit calls."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog._ids import span_row_id
from otel_provlog.testing import capture_spans


def test_operation_step_event_tree(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """An operation is the root, its step a child, the step's events children of the step."""
    with (
        otel_provlog.operation(
            cluster_id, "creating", cluster_name="demo", tenant_id="t-1", tracer_provider=provider
        ),
        otel_provlog.step(cluster_id, "Launching instances", 2, tracer_provider=provider) as s,
    ):
        with s.event(instance_id="i-1", instance_name="w-1", node_group_id="ng-1"):
            pass
        with s.event(instance_id="i-2", instance_name="w-2", node_group_id="ng-1"):
            pass
    operation = spans.one(a.SPAN_OPERATION)
    step = spans.one(a.SPAN_STEP)
    assert operation.parent is None
    assert spans.children(operation) == [spans.one(a.SPAN_OPERATION_START), step]
    assert [e.name for e in spans.children(step, a.SPAN_EVENT)] == ["instance event"] * 2
    assert {spans.attrs(e)[a.INSTANCE_ID] for e in spans(a.SPAN_EVENT)} == {"i-1", "i-2"}


def test_step_attributes_inherit_from_operation(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """A step inside an operation takes its cluster, tenant and step type."""
    with (
        otel_provlog.operation(cluster_id, "scaling", tenant_id="t-9", tracer_provider=provider),
        otel_provlog.step(None, "Configure", total=4, tracer_provider=provider),
    ):
        pass
    assert spans.attrs(spans.one(a.SPAN_STEP)) == {
        a.SPAN_KIND: a.SPAN_STEP,
        a.CLUSTER_ID: cluster_id,
        a.TENANT_ID: "t-9",
        a.STEP_NAME: "Configure",
        a.STEP_TYPE: "scaling",
        a.STEP_TOTAL: 4,
    }


def test_explicit_step_attributes_beat_operation(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """Explicit tenant and step type win over the operation's."""
    with (
        otel_provlog.operation(cluster_id, "scaling", tenant_id="t-1", tracer_provider=provider),
        otel_provlog.step(
            cluster_id, "Delete", step_type="deleting", tenant_id="t-2", tracer_provider=provider
        ),
    ):
        pass
    step = spans.attrs(spans.one(a.SPAN_STEP))
    assert (step[a.STEP_TYPE], step[a.TENANT_ID]) == ("deleting", "t-2")


def test_step_without_operation_is_a_root_with_its_own_attributes(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """A step alone has no parent and no step type unless given."""
    with otel_provlog.step(cluster_id, "Alone", 0, tracer_provider=provider):
        pass
    step = spans.one(a.SPAN_STEP)
    assert step.parent is None
    assert a.STEP_TYPE not in spans.attrs(step)
    assert spans.attrs(step)[a.STEP_TOTAL] == 0


def test_start_marker_is_zero_length_child_with_step_attributes(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """The step.start marker ends as the step begins, with the step's attributes."""
    with (
        otel_provlog.operation(cluster_id, "creating", tracer_provider=provider),
        otel_provlog.step(cluster_id, "Waiting for ssh", 3, tracer_provider=provider),
    ):
        assert len(spans(a.SPAN_STEP_START)) == 1
        assert spans(a.SPAN_STEP) == []
    marker = spans.one(a.SPAN_STEP_START)
    step = spans.one(a.SPAN_STEP)
    assert marker.start_time == marker.end_time == step.start_time
    assert spans.children(step, a.SPAN_STEP_START) == [marker]
    marker_attrs = spans.attrs(marker)
    assert marker_attrs.pop(a.SPAN_KIND) == a.SPAN_STEP_START
    step_attrs = spans.attrs(step)
    step_attrs.pop(a.SPAN_KIND)
    assert marker_attrs == step_attrs


def test_failed_event_records_exception_error_id_and_info(
    provider: TracerProvider, spans: Any, cluster_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising event block fails the event, logs its error id and re-raises."""
    with (
        otel_provlog.step(cluster_id, "Configure", 1, tracer_provider=provider) as s,
        pytest.raises(RuntimeError, match="disk full"),
        s.event(instance_id="i-1") as ev,
    ):
        raise RuntimeError("disk full")
    event = spans.one(a.SPAN_EVENT)
    error_id = spans.attrs(event)[a.ERROR_ID]
    assert ev.error_id == error_id
    assert ev.successful is False
    assert event.status.status_code is StatusCode.ERROR
    [recorded] = event.events
    assert recorded.name == "exception"
    assert spans.attrs(event)[a.EVENT_INFO] == "disk full"
    assert recorded.attributes is not None
    assert recorded.attributes[a.EXCEPTION_TYPE] == "RuntimeError"
    assert recorded.attributes[a.EXCEPTION_MESSAGE] == "disk full"
    stack = str(recorded.attributes[a.EXCEPTION_STACKTRACE])
    assert stack.startswith("Traceback (most recent call last):")
    assert __file__ in stack
    [record] = [r for r in caplog.records if str(error_id) in r.getMessage()]
    assert record.levelname == "ERROR"
    assert record.name == "otel_provlog"
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert spans.one(a.SPAN_STEP).status.status_code is StatusCode.ERROR


def test_successful_event_has_no_error(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """A block that ends normally records a successful event."""
    with (
        otel_provlog.step(cluster_id, "Configure", 1, tracer_provider=provider) as s,
        s.event(instance_id="i-1", info="all good") as ev,
    ):
        pass
    event = spans.one(a.SPAN_EVENT)
    assert ev.successful is True
    assert ev.error_id is None
    assert a.ERROR_ID not in spans.attrs(event)
    assert spans.attrs(event)[a.EVENT_INFO] == "all good"
    assert event.status.status_code is StatusCode.UNSET
    assert s.completed == 1
    assert s.failed == 0


def test_event_fail_without_raising(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """Event.fail marks a failure without an exception; the block goes on."""
    with (
        otel_provlog.step(cluster_id, "Check", 1, tracer_provider=provider) as s,
        s.event(instance_id="i-1") as ev,
    ):
        error_id = ev.fail(info="port closed")
    event = spans.attrs(spans.one(a.SPAN_EVENT))
    assert event[a.ERROR_ID] == error_id
    assert event[a.EVENT_INFO] == "port closed"
    assert s.failed == 1


def test_event_takes_instance_object_and_overrides(
    provider: TracerProvider, spans: Any, cluster_id: str, instances: Any
) -> None:
    """Event fields come from a Sahara-like instance; keyword arguments override them."""
    [instance] = instances(1, group="masters")
    with (
        otel_provlog.step(cluster_id, "Configure", 1, tracer_provider=provider) as s,
        s.event(instance, instance_name="renamed"),
    ):
        pass
    assert spans.attrs(spans.one(a.SPAN_EVENT)) == {
        a.SPAN_KIND: a.SPAN_EVENT,
        a.CLUSTER_ID: cluster_id,
        a.NODE_GROUP_ID: "masters",
        a.INSTANCE_ID: "i-0",
        a.INSTANCE_NAME: "renamed",
    }


def test_add_success_and_add_failure(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """The explicit calls record one zero-length event each."""
    with otel_provlog.step(cluster_id, "Configure", 2, tracer_provider=provider) as s:
        s.add_success(instance_id="i-1")
        try:
            raise ValueError("bad config")
        except ValueError as error:
            error_id = s.add_failure(instance_id="i-2", exception=error)
    ok, failed = spans(a.SPAN_EVENT)
    assert ok.start_time == ok.end_time
    assert spans.attrs(failed)[a.ERROR_ID] == error_id
    assert "bad config" in str(spans.attrs(failed)[a.EVENT_INFO])
    assert (s.completed, s.failed) == (1, 1)


def test_start_step_and_end(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """start_step makes the step current until end(); end() is idempotent."""
    started = otel_provlog.start_step(cluster_id, "Manual", 1, tracer_provider=provider)
    assert otel_provlog.current_step(cluster_id) is started
    assert spans(a.SPAN_STEP) == []
    started.end()
    started.end()
    assert otel_provlog.current_step(cluster_id) is None
    assert len(spans(a.SPAN_STEP)) == 1
    span = spans.one(a.SPAN_STEP)
    assert started.span_id == format(span.context.span_id, "016x")
    assert started.id == span_row_id(format(span.context.trace_id, "032x"), started.span_id)


def test_end_on_total_ends_span_but_keeps_step_current(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """With end_on_total the span ends at the total; late events still find the step."""
    started = otel_provlog.start_step(
        cluster_id, "Counted", 2, end_on_total=True, tracer_provider=provider
    )
    started.add_success(instance_id="i-1")
    assert spans(a.SPAN_STEP) == []
    started.add_success(instance_id="i-2")
    assert len(spans(a.SPAN_STEP)) == 1
    assert otel_provlog.current_step(cluster_id) is started
    started.add_success(instance_id="i-3")
    started.end()
    assert len(spans(a.SPAN_STEP)) == 1
    assert len(spans.children(spans.one(a.SPAN_STEP), a.SPAN_EVENT)) == 3


def test_step_error_is_recorded_and_reraised(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """An exception leaving a step block is recorded on the step and re-raised."""
    with (
        pytest.raises(KeyError),
        otel_provlog.step(cluster_id, "Boom", tracer_provider=provider),
    ):
        raise KeyError("x")
    step = spans.one(a.SPAN_STEP)
    assert step.status.status_code is StatusCode.ERROR
    assert [e.name for e in step.events] == ["exception"]
    assert otel_provlog.current_step(cluster_id) is None


def test_nested_steps_restore_the_outer_one(provider: TracerProvider, cluster_id: str) -> None:
    """Leaving a nested step block makes the outer step current again."""
    with otel_provlog.step(cluster_id, "Outer", tracer_provider=provider) as outer:
        with otel_provlog.step(cluster_id, "Inner", tracer_provider=provider) as inner:
            assert otel_provlog.current_step(cluster_id) is inner
        assert otel_provlog.current_step(cluster_id) is outer
    assert otel_provlog.current_step(cluster_id) is None


def test_step_block_makes_its_span_current(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """Spans started inside a step block (by any instrumentation) are its children."""
    tracer = provider.get_tracer("user")
    with (
        otel_provlog.step(cluster_id, "Outer", tracer_provider=provider),
        tracer.start_as_current_span("user work"),
    ):
        pass
    [user] = [s for s in spans() if s.name == "user work"]
    assert user in spans.children(spans.one(a.SPAN_STEP))


def test_step_without_cluster_logs_an_error(
    provider: TracerProvider, spans: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A step with no cluster id and no operation is recorded but logged as an error."""
    with otel_provlog.step(None, "Orphan", tracer_provider=provider):
        pass
    assert a.CLUSTER_ID not in spans.attrs(spans.one(a.SPAN_STEP))
    assert any("no cluster id" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("c", "s", -1), {}, "non-negative"),
        (("c", "s", True), {}, "non-negative"),
        (("c", "s", 1.5), {}, "non-negative"),
        (("c", "s"), {"step_type": "creeping"}, "unknown step type"),
        (("c", ""), {}, "needs a name"),
    ],
)
def test_bad_arguments_raise_value_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    """Bad set-up arguments raise ValueError with a clear message."""
    with pytest.raises(ValueError, match=message):
        otel_provlog.step(*args, **kwargs)


def test_event_provider_override(provider: TracerProvider, spans: Any, cluster_id: str) -> None:
    """An event can be recorded through another provider than its step's."""
    memory = capture_spans()
    other = memory.tracer_provider
    with (
        otel_provlog.step(cluster_id, "Split", tracer_provider=provider) as s,
        s.event(instance_id="i-1", tracer_provider=other),
    ):
        pass
    [event] = memory.spans()
    assert event.parent is not None
    assert event.parent.span_id == spans.one(a.SPAN_STEP).context.span_id
    assert spans(a.SPAN_EVENT) == []
