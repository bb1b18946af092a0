"""The one place that picks a tracer."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_provlog._tracer import INSTRUMENTATION_NAME, get_tracer, is_recording, tracer_for


def test_tracer_from_given_provider(provider: TracerProvider, spans: Any) -> None:
    """The tracer comes from the given provider, with this package's scope name."""
    tracer = get_tracer(provider)
    assert tracer is not None
    tracer.start_span("x").end()
    [span] = spans()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == INSTRUMENTATION_NAME


@pytest.mark.parametrize(
    ("name", "value", "recording"),
    [
        ("PROVLOG_ENABLED", "false", False),
        ("PROVLOG_ENABLED", "no", False),
        ("PROVLOG_ENABLED", "true", True),
        ("PROVLOG_ENABLED", "", True),
        ("OTEL_SDK_DISABLED", "true", False),
        ("OTEL_SDK_DISABLED", "false", True),
    ],
)
def test_switch(
    monkeypatch: pytest.MonkeyPatch,
    provider: TracerProvider,
    name: str,
    value: str,
    recording: bool,
) -> None:
    """The switch decides between a tracer and None."""
    monkeypatch.setenv(name, value)
    assert is_recording() is recording
    assert (get_tracer(provider) is not None) is recording


def test_failing_provider_gives_noop_tracer(caplog: pytest.LogCaptureFixture) -> None:
    """A provider that raises is logged and replaced by a no-op tracer."""

    class Broken(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            raise RuntimeError("broken")

    assert isinstance(tracer_for(Broken()), trace.NoOpTracer)
    assert any("tracer provider failed" in r.getMessage() for r in caplog.records)
