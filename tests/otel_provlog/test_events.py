"""Events: instance descriptions, attributes and failure details."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_provlog import attributes as a
from otel_provlog._events import NOOP_EVENT, Event, Instance, event_attributes
from otel_provlog._tracer import tracer_for


def test_instance_of_sahara_object(instances: Any, cluster_id: str) -> None:
    """A Sahara instance is read through its node group when needed."""
    [node] = instances(1, group="masters")
    assert Instance.of(node) == Instance("i-0", "worker-0", "masters", cluster_id)


def test_instance_of_object_with_node_group_only() -> None:
    """node_group.id and node_group.cluster_id stand in for missing direct fields."""
    node = SimpleNamespace(
        instance_id="i-1",
        instance_name="n-1",
        node_group=SimpleNamespace(id="ng-7", cluster_id="c-7"),
    )
    assert Instance.of(node) == Instance("i-1", "n-1", "ng-7", "c-7")


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (None, Instance()),
        ({"instance_id": "i-2", "cluster_id": "c-2"}, Instance("i-2", None, None, "c-2")),
        (Instance("i-3"), Instance("i-3")),
        (SimpleNamespace(instance_id=42), Instance("42")),
        (object(), Instance()),
    ],
)
def test_instance_of_other_forms(obj: object, expected: Instance) -> None:
    """Mappings, Instances, non-string ids and unrelated objects are all read."""
    assert Instance.of(obj) == expected


def test_merged_overrides_given_fields_only() -> None:
    """merged() replaces the fields given, keeps the others."""
    base = Instance("i-1", "n-1", "ng-1", "c-1")
    assert base.merged(instance_name="n-2") == Instance("i-1", "n-2", "ng-1", "c-1")


def test_event_attributes_leave_unknowns_out() -> None:
    """Only known fields become attributes; the explicit cluster wins."""
    assert event_attributes("c-1", Instance("i-1", cluster_id="c-0"), None) == {
        a.SPAN_KIND: a.SPAN_EVENT,
        a.CLUSTER_ID: "c-1",
        a.INSTANCE_ID: "i-1",
    }
    assert event_attributes(None, Instance(cluster_id="c-0"), "hi")[a.CLUSTER_ID] == "c-0"


def test_failure_without_exception_is_logged_with_its_id(
    provider: TracerProvider, spans: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """fail(info=...) logs at ERROR with the error id even without an exception."""
    event = Event(tracer_for(provider), None, event_attributes("c-1", Instance("i-1")))
    with caplog.at_level(logging.ERROR, logger="otel_provlog"):
        error_id = event.start().fail(info="timed out")
    event.finish()
    [record] = caplog.records
    assert error_id is not None
    assert error_id in record.getMessage()
    assert "timed out" in record.getMessage()
    assert spans.attrs(spans.one(a.SPAN_EVENT))[a.EVENT_INFO] == "timed out"


def test_exception_without_message_uses_its_type(provider: TracerProvider, spans: Any) -> None:
    """An exception with an empty message is described by its type."""
    event = Event(tracer_for(provider), None, event_attributes("c-1", Instance("i-1")))
    with pytest.raises(TimeoutError), event:
        raise TimeoutError
    span = spans.one(a.SPAN_EVENT)
    assert spans.attrs(span)[a.EVENT_INFO] == "TimeoutError"
    [recorded] = span.events
    assert recorded.attributes is not None
    assert recorded.attributes[a.EXCEPTION_MESSAGE] == "TimeoutError"
    assert str(recorded.attributes[a.EXCEPTION_STACKTRACE]).startswith("Traceback")


def test_info_given_to_fail_is_the_message_and_the_stack_stays_apart(
    provider: TracerProvider, spans: Any
) -> None:
    """fail(exc, info=...) shows the info; the exception keeps its own message and stack."""
    event = Event(tracer_for(provider), None, event_attributes("c-1", Instance("i-1")))
    try:
        raise ConnectionError("refused")
    except ConnectionError as error:
        event.start().fail(error, info="ssh never answered")
    event.finish()
    span = spans.one(a.SPAN_EVENT)
    assert spans.attrs(span)[a.EVENT_INFO] == "ssh never answered"
    assert span.status.description == "ssh never answered"
    [recorded] = span.events
    assert recorded.attributes is not None
    assert recorded.attributes[a.EXCEPTION_TYPE] == "ConnectionError"
    assert recorded.attributes[a.EXCEPTION_MESSAGE] == "refused"
    assert __file__ in str(recorded.attributes[a.EXCEPTION_STACKTRACE])


def test_an_exception_whose_str_raises_still_fails_the_event(
    provider: TracerProvider, spans: Any
) -> None:
    """An exception that cannot be printed is described by its type; nothing raises."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    event = Event(tracer_for(provider), None, event_attributes("c-1", Instance("i-1")))
    with pytest.raises(Unprintable), event:
        raise Unprintable
    span = spans.one(a.SPAN_EVENT)
    assert spans.attrs(span)[a.EVENT_INFO] == "Unprintable"
    assert a.ERROR_ID in spans.attrs(span)
    assert [e.name for e in span.events] == ["exception"]


def test_finish_is_idempotent_and_counts_once(provider: TracerProvider, spans: Any) -> None:
    """A finished event is counted once however often finish() is called."""
    counted: list[bool] = []
    event = Event(tracer_for(provider), None, {}, on_finish=counted.append)
    event.start()
    event.finish()
    event.finish()
    assert counted == [True]
    assert len(spans()) == 1


def test_noop_event_does_nothing() -> None:
    """The shared no-op event accepts every call and keeps no state."""
    with NOOP_EVENT as ev:
        ev.set_info("x")
        assert ev.fail(RuntimeError("x")) is None
    assert NOOP_EVENT.error_id is None
    assert NOOP_EVENT.successful is None
