"""Capture the spans :mod:`otel_provlog` makes, for your own tests.

Needs ``opentelemetry-sdk`` (imported when :func:`capture_spans` is called, never by
``import otel_provlog``)::

    from otel_provlog import attributes, step
    from otel_provlog.testing import capture_spans

    def test_waits_for_ssh():
        with capture_spans() as captured:
            with step("c-1", "Waiting for ssh", tracer_provider=captured.tracer_provider):
                ...
        assert [s.name for s in captured.spans(attributes.SPAN_STEP)] == ["Waiting for ssh"]

The global tracer provider is left alone: pass ``captured.tracer_provider`` explicitly.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from otel_provlog import attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["SpanCapture", "capture_spans"]


class SpanCapture:
    """Ended spans kept in memory, with the tracer provider that records them.

    Use it as a context manager (the provider shuts down on exit) or call
    :meth:`shutdown` yourself.
    """

    def __init__(self, tracer_provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.tracer_provider = tracer_provider
        """The SDK provider to pass as ``tracer_provider=`` to :mod:`otel_provlog`."""
        self._exporter = exporter

    def spans(self, kind: str | None = None) -> list[ReadableSpan]:
        """Return the ended spans, in the order they ended.

        Args:
            kind: keep only spans of this ``provisioning.span`` kind, e.g.
                :data:`~otel_provlog.attributes.SPAN_EVENT`.
        """
        found = list(self._exporter.get_finished_spans())
        if kind is None:
            return found
        return [s for s in found if (s.attributes or {}).get(attributes.SPAN_KIND) == kind]

    def children(self, parent: ReadableSpan, kind: str | None = None) -> list[ReadableSpan]:
        """Return the ended spans whose parent is ``parent`` (of one kind when given)."""
        parent_id = parent.context.span_id if parent.context is not None else None
        return [
            s for s in self.spans(kind) if s.parent is not None and s.parent.span_id == parent_id
        ]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self._exporter.clear()

    def shutdown(self) -> None:
        """Shut the provider down; spans ended later are not captured."""
        self.tracer_provider.shutdown()

    def __enter__(self) -> SpanCapture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def capture_spans() -> SpanCapture:
    """Return a new :class:`SpanCapture`: an SDK provider exporting to memory, synchronously.

    Raises:
        ImportError: when ``opentelemetry-sdk`` is not installed.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return SpanCapture(provider, exporter)
