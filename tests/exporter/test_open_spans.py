"""Which steps and operations a spool writer opened and never ended."""

from __future__ import annotations

import pytest

from otel_provlog._ids import span_row_id
from otel_provlog.exporter.open_spans import OpenSpans

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
STEP = "00f067aa0ba902b7"
OPERATION = "53995c3f42cd8ad8"


def _record(kind: str, span_id: str, parent: str | None) -> dict[str, object]:
    return {"kind": kind, "trace_id": TRACE, "span_id": span_id, "parent_span_id": parent}


@pytest.mark.parametrize(
    ("records", "left"),
    [
        ([], {}),
        (
            [
                _record("operation.start", "1111111111111111", OPERATION),
                _record("step.start", "2222222222222222", STEP),
            ],
            {span_row_id(TRACE, OPERATION): "operation", span_row_id(TRACE, STEP): "step"},
        ),
        (
            [
                _record("step.start", "2222222222222222", STEP),
                _record("event", "3333333333333333", STEP),
                _record("step", STEP, OPERATION),
            ],
            {},
        ),
        ([_record("step", STEP, OPERATION)], {}),  # its marker went to an earlier drain
        ([_record("step.start", "2222222222222222", "not hex at all!!")], {}),
        (
            [{**_record("step.start", "2", STEP.upper()), "trace_id": TRACE.upper()}],
            {span_row_id(TRACE, STEP): "step"},
        ),
    ],
)
def test_open_spans_are_the_markers_without_their_end(records, left):
    """A marker opens its step or operation, its span closes it; bad ids are ignored."""
    spans = OpenSpans()
    for record in records:
        spans.note("w-1", record)
    assert spans.close("w-1") == left
    assert spans.close("w-1") == {}


def test_writers_are_kept_apart():
    """The end of a step by one writer does not close what another writer opened."""
    spans = OpenSpans()
    spans.note("w-1", _record("step.start", "2222222222222222", STEP))
    spans.note("w-2", _record("step", STEP, OPERATION))
    assert spans.close("w-2") == {}
    assert spans.close("w-1") == {span_row_id(TRACE, STEP): "step"}
