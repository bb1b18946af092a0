"""Row ids: every process names a span's row the same way, now and in stores written before."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from otel_provlog.ids import span_row_id

NAMESPACE = uuid.UUID("6f0c3a56-2f0e-4b8e-9a43-4f7d2b1c9e10")


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1))
def test_a_row_id_is_the_uuid5_of_its_span(trace, span):
    """The id is uuid5 of "<trace id>-<span id>" in the project's namespace, as stored rows say."""
    trace_id, span_id = format(trace, "032x"), format(span, "016x")
    expected = uuid.uuid5(NAMESPACE, f"{trace_id}-{span_id}")
    assert span_row_id(trace_id, span_id) == str(expected)
    assert uuid.UUID(span_row_id(trace_id, span_id)).version == 5
