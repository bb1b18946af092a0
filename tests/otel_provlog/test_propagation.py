"""Carrying a step to another process with a W3C traceparent."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog.testing import capture_spans


def test_inject_writes_the_step_traceparent(provider: TracerProvider, cluster_id: str) -> None:
    """The carrier names the step span in W3C form."""
    with otel_provlog.step(cluster_id, "Remote", tracer_provider=provider) as s:
        carrier = otel_provlog.inject_step(s)
        assert otel_provlog.inject_step(cluster_id=cluster_id) == carrier
    version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert (version, span_id) == ("00", s.span_id)
    assert int(flags, 16) & 1 == 1
    assert int(trace_id, 16) == s.span.get_span_context().trace_id


def test_inject_without_step_leaves_carrier_alone(cluster_id: str) -> None:
    """No step, nothing written; the given carrier comes back."""
    carrier = {"x-other": "1"}
    assert otel_provlog.inject_step(cluster_id=cluster_id, carrier=carrier) is carrier
    assert carrier == {"x-other": "1"}


def test_remote_event_is_child_of_the_step(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """An agent with its own provider reports an event under the shipped step."""
    agent_side_spans = capture_spans()
    agent = agent_side_spans.tracer_provider
    with otel_provlog.step(cluster_id, "Remote", tracer_provider=provider) as s:
        carrier = dict(otel_provlog.inject_step(s))

    def agent_side() -> None:
        with otel_provlog.remote_event(
            carrier,
            cluster_id=cluster_id,
            instance_id="i-9",
            instance_name="agent-9",
            node_group_id="ng-1",
            tracer_provider=agent,
        ):
            raise RuntimeError("agent failed")

    with pytest.raises(RuntimeError):
        agent_side()
    [event] = agent_side_spans.spans()
    step = spans.one(a.SPAN_STEP)
    assert event.parent is not None
    assert (event.parent.span_id, event.context.trace_id) == (
        step.context.span_id,
        step.context.trace_id,
    )
    assert event.status.status_code is StatusCode.ERROR
    assert spans.attrs(event)[a.INSTANCE_NAME] == "agent-9"
    assert a.ERROR_ID in spans.attrs(event)


def test_remote_event_without_traceparent_records_nothing(
    provider: TracerProvider, spans: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A carrier without a valid traceparent gives a no-op event and a warning."""
    with otel_provlog.remote_event({"traceparent": "garbage"}, tracer_provider=provider):
        pass
    assert spans() == []
    assert any("traceparent" in r.getMessage() for r in caplog.records)


AGENT = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
carrier = json.loads(sys.argv[1])
parent = TraceContextTextMapPropagator().extract(carrier)
with provider.get_tracer("agent").start_as_current_span("plain sdk event", context=parent):
    pass
[span] = exporter.get_finished_spans()
print(json.dumps([format(span.parent.span_id, "016x"), format(span.context.trace_id, "032x")]))
"""


def test_plain_sdk_agent_in_another_process(provider: TracerProvider, cluster_id: str) -> None:
    """A separate process using only the OpenTelemetry SDK parents its span on the step."""
    with otel_provlog.step(cluster_id, "Remote", tracer_provider=provider) as s:
        carrier = dict(otel_provlog.inject_step(s))
    result = subprocess.run(
        [sys.executable, "-c", AGENT, json.dumps(carrier)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    parent_id, trace_id = json.loads(result.stdout)
    assert parent_id == s.span_id
    assert trace_id == format(s.span.get_span_context().trace_id, "032x")
