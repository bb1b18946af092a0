"""A failure's message and its stack, taken apart from the exception itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog._failures import (
    GROUP_LIMIT,
    exception_attributes,
    failure_message,
    type_name,
)


def _raised(exception: BaseException) -> BaseException:
    """Return ``exception`` after raising it, so that it has frames."""
    try:
        raise exception
    except BaseException as caught:
        return caught


def _group() -> BaseExceptionGroup[BaseException]:
    inner = ExceptionGroup("retries", [_raised(TimeoutError("ssh")), _raised(OSError(5, "io"))])
    return ExceptionGroup("setup failed", [_raised(ValueError("bad flavor")), inner])


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (ValueError("bad flavor"), "bad flavor"),
        (TimeoutError(), "TimeoutError"),
        (KeyError("x"), "'x'"),
        (
            RuntimeError('failed:\n  File "/srv/app.py", line 3, in f'),
            'failed:\n  File "/srv/app.py", line 3, in f',
        ),
        (
            ExceptionGroup("one", [ValueError("a")]),
            "one (1 sub-exception: ValueError: a)",
        ),
    ],
)
def test_failure_message_is_the_exception_text(exception: BaseException, message: str) -> None:
    """The message is the exception's own text, many lines or not, or its type's name."""
    assert failure_message(_raised(exception)) == message


def test_group_message_names_sub_exceptions_and_never_frames() -> None:
    """An exception group's message is its own, then each sub-exception's type and message."""
    message = failure_message(_raised(_group()))
    assert message == (
        "setup failed (2 sub-exceptions: ValueError: bad flavor; "
        "ExceptionGroup: retries (2 sub-exceptions: TimeoutError: ssh; OSError: [Errno 5] io))"
    )
    assert __file__ not in message
    assert "Traceback" not in message


def test_group_message_is_bounded() -> None:
    """A group of many sub-exceptions names the first few and counts the rest."""
    group = ExceptionGroup("many", [ValueError(str(n)) for n in range(GROUP_LIMIT + 5)])
    message = failure_message(group)
    assert message.endswith("; and 5 more)")
    assert message.count("ValueError") == GROUP_LIMIT


def test_deep_groups_are_counted_not_described() -> None:
    """Groups nested deeper than a few levels are described by their count only."""
    group: ExceptionGroup[Exception] = ExceptionGroup("leaf", [ValueError("deep")])
    for level in range(6):
        group = ExceptionGroup(f"level {level}", [group])
    message = failure_message(group)
    assert "deep" not in message
    assert "(1 sub-exception)" in message


def test_exception_attributes_keep_message_and_stack_apart() -> None:
    """Type and message carry no frames; the stack is in exception.stacktrace only."""
    found = exception_attributes(_raised(_group()))
    assert found[a.EXCEPTION_TYPE] == "ExceptionGroup"
    assert __file__ not in found[a.EXCEPTION_MESSAGE]
    stack = found[a.EXCEPTION_STACKTRACE]
    assert __file__ in stack
    assert "ValueError: bad flavor" in stack
    assert "TimeoutError: ssh" in stack


def test_type_name_is_qualified_outside_builtins() -> None:
    """Types outside builtins carry their module, as OpenTelemetry's SDK names them."""
    assert type_name(ValueError()) == "ValueError"
    assert type_name(json.JSONDecodeError("x", "", 0)) == "json.decoder.JSONDecodeError"


def test_exception_group_in_step_event_records_no_frames_in_the_message(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """An ExceptionGroup raised in step.event(): info and message name the group, no frames."""
    with (
        pytest.raises(ExceptionGroup),
        otel_provlog.step(cluster_id, "Configure", 1, tracer_provider=provider) as s,
        s.event(instance_id="i-1"),
    ):
        raise _group()
    event = spans.one(a.SPAN_EVENT)
    info = str(spans.attrs(event)[a.EVENT_INFO])
    assert info.startswith("setup failed (2 sub-exceptions: ValueError: bad flavor;")
    [recorded] = event.events
    assert recorded.attributes is not None
    assert recorded.attributes[a.EXCEPTION_MESSAGE] == info
    assert event.status.description == info
    assert __file__ not in info
    assert __file__ in str(recorded.attributes[a.EXCEPTION_STACKTRACE])
    step = spans.one(a.SPAN_STEP)
    [step_exception] = step.events
    assert step_exception.attributes is not None
    assert __file__ not in str(step_exception.attributes[a.EXCEPTION_MESSAGE])
    assert step.status.description == f"ExceptionGroup: {info}"
