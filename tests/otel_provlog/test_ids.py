"""Row ids: every process names a span's row the same way, now and in stores written before."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from otel_provlog._ids import event_row_id, span_row_id

NAMESPACE = uuid.UUID("6f0c3a56-2f0e-4b8e-9a43-4f7d2b1c9e10")


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1))
def test_a_row_id_is_the_uuid5_of_its_span(trace, span):
    """The id is uuid5 of "<trace id>-<span id>" in the project's namespace, as stored rows say."""
    trace_id, span_id = format(trace, "032x"), format(span, "016x")
    expected = uuid.uuid5(NAMESPACE, f"{trace_id}-{span_id}")
    assert span_row_id(trace_id, span_id) == str(expected)
    assert uuid.UUID(span_row_id(trace_id, span_id)).version == 5


ENDED_NS = 1_780_000_000_123_456_789


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.integers(0, 2**63 - 1))
def test_an_event_row_id_holds_its_end_in_milliseconds_then_its_spans_hash(trace, span, end_ns):
    """Version 8: 48 bits of Unix milliseconds, then span_row_id's hash; stable per span."""
    trace_id, span_id = format(trace, "032x"), format(span, "016x")
    row_id = uuid.UUID(event_row_id(trace_id, span_id, end_ns))
    assert (row_id.version, row_id.variant) == (8, uuid.RFC_4122)
    assert row_id.int >> 80 == (end_ns // 1_000_000) % 2**48
    hashed = uuid.UUID(span_row_id(trace_id, span_id))
    assert row_id.bytes[9:] == hashed.bytes[9:]
    assert event_row_id(trace_id, span_id, end_ns) == str(row_id)


def test_event_row_ids_sort_by_end_and_differ_by_span():
    """Later events have greater ids (as text too), so stores append them to their keys."""
    trace_id = "ab" * 16
    ids = [event_row_id(trace_id, format(n, "016x"), ENDED_NS + n * 1_000_000) for n in range(50)]
    assert ids == sorted(ids)
    same_time = {event_row_id(trace_id, format(n, "016x"), ENDED_NS) for n in range(1, 1000)}
    assert len(same_time) == 999
