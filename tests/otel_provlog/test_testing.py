"""The public capture helpers for users' own tests."""

from __future__ import annotations

import otel_provlog
from otel_provlog import attributes as a
from otel_provlog.testing import capture_spans


def test_capture_spans_by_kind_and_children() -> None:
    """capture_spans records through its provider and finds spans by kind and parent."""
    with capture_spans() as captured:
        tp = captured.tracer_provider
        with otel_provlog.step("c-testing", "Captured", tracer_provider=tp) as s:
            s.add_success(instance_id="i-1")
        [step] = captured.spans(a.SPAN_STEP)
        assert [e.name for e in captured.children(step, a.SPAN_EVENT)] == ["instance event"]
        assert len(captured.children(step)) == 2
        assert len(captured.spans()) == 3
        captured.clear()
        assert captured.spans() == []


def test_capture_stops_after_exit() -> None:
    """Spans ended after the capture closed are not kept."""
    with capture_spans() as captured:
        pass
    with otel_provlog.step("c-testing", "Late", tracer_provider=captured.tracer_provider):
        pass
    assert captured.spans() == []
