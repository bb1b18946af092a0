"""Recording never raises into, nor changes the result of, the instrumented code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog import sahara as cpo


class RaisingProcessor(SpanProcessor):
    """A processor whose on_start and/or on_end raise."""

    def __init__(self, *, on_start: bool, on_end: bool) -> None:
        self.raise_on_start = on_start
        self.raise_on_end = on_end

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Raise if asked to."""
        if self.raise_on_start:
            raise RuntimeError("processor on_start broke")

    def on_end(self, span: ReadableSpan) -> None:
        """Raise if asked to."""
        if self.raise_on_end:
            raise RuntimeError("processor on_end broke")


class RaisingExporter(SpanExporter):
    """An exporter that raises on every export."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Raise."""
        raise OSError("exporter broke")


class RaisingProvider(trace.TracerProvider):
    """A provider that cannot even hand out a tracer."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        """Raise."""
        raise RuntimeError("provider broke")


def _provider(processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


BROKEN = [
    pytest.param(lambda: _provider(RaisingProcessor(on_start=True, on_end=False)), id="on_start"),
    pytest.param(lambda: _provider(RaisingProcessor(on_start=False, on_end=True)), id="on_end"),
    pytest.param(lambda: _provider(RaisingProcessor(on_start=True, on_end=True)), id="both"),
    pytest.param(lambda: _provider(SimpleSpanProcessor(RaisingExporter())), id="exporter"),
    pytest.param(RaisingProvider, id="provider"),
]


def _provision(provider: trace.TracerProvider, cluster_id: str, instances: list[Any]) -> str:
    with otel_provlog.operation(cluster_id, "creating", tracer_provider=provider):
        with otel_provlog.step(cluster_id, "Step", 2, tracer_provider=provider) as s:
            with s.event(instances[0]):
                pass
            s.add_success(instances[1])
            s.add_failure(instances[1], exception=RuntimeError("recorded"))
            with otel_provlog.event(instances[0]):
                pass
            otel_provlog.inject_step(s)
        cpo.add_provisioning_step(cluster_id, "Sahara", 1, tracer_provider=provider)
        cpo.add_successful_event(instances[0])
        cpo.add_fail_event(instances[1], RuntimeError("recorded"))
    return "provisioned"


@pytest.mark.parametrize("make_provider", BROKEN)
def test_broken_pipeline_does_not_change_result(
    make_provider: Any, cluster_id: str, instances: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever breaks in the tracing pipeline, the result comes back unchanged."""
    assert _provision(make_provider(), cluster_id, instances(2)) == "provisioned"
    assert any(r.name.startswith(("otel_provlog", "opentelemetry")) for r in caplog.records)


@pytest.mark.parametrize("make_provider", BROKEN)
def test_broken_pipeline_keeps_the_original_exception(
    make_provider: Any, cluster_id: str, instances: Any
) -> None:
    """Whatever breaks in the tracing pipeline, the code's own exception comes out."""
    provider = make_provider()
    [node] = instances(1)

    @cpo.event_wrapper(True, step="Wrapped", tracer_provider=provider)
    def wrapped(instance: Any) -> None:
        raise LookupError("own failure")

    @otel_provlog.record_event(step_name="Decorated", tracer_provider=provider)
    def decorated(instance: Any) -> None:
        raise LookupError("own failure")

    def in_blocks() -> None:
        with (
            otel_provlog.operation(cluster_id, "scaling", tracer_provider=provider),
            otel_provlog.step(cluster_id, "Step", tracer_provider=provider) as s,
            s.event(node),
        ):
            raise LookupError("own failure")

    for call in (lambda: wrapped(node), lambda: decorated(node), in_blocks):
        with pytest.raises(LookupError, match="own failure") as caught:
            call()
        assert caught.value.__context__ is None


@pytest.mark.parametrize("make_provider", BROKEN)
def test_broken_pipeline_keeps_decorated_results(
    make_provider: Any, cluster_id: str, instances: Any
) -> None:
    """Decorated functions return their own result whatever the pipeline does."""
    provider = make_provider()
    [node] = instances(1)

    @cpo.event_wrapper(True, step="Wrapped", tracer_provider=provider)
    def wrapped(instance: Any) -> int:
        return 41

    @otel_provlog.record_event(step_name="Decorated", tracer_provider=provider)
    def decorated(instance: Any) -> int:
        return 42

    assert (wrapped(node), decorated(node)) == (41, 42)


def test_unreadable_instance_is_tolerated(
    provider: TracerProvider, spans: Any, cluster_id: str
) -> None:
    """An instance whose attributes raise gives an event without instance fields."""

    class Broken:
        @property
        def instance_id(self) -> str:
            raise RuntimeError("lazy load failed")

    with otel_provlog.step(cluster_id, "Step", tracer_provider=provider) as s:
        s.add_success(Broken())
    assert len(spans(a.SPAN_EVENT)) == 1
