"""Span records: real SDK spans become small JSON lines and come back unchanged."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import Status, StatusCode

from otel_provlog import attributes as attr
from otel_provlog.exporter.records import (
    RECORD_VERSION,
    decode_record,
    encode_record,
    record_from_span,
    spool_line,
)
from otel_provlog.testing import capture_spans

CLUSTER = {attr.CLUSTER_ID: "c-1", attr.TENANT_ID: "t-1"}
STEP = {**CLUSTER, attr.STEP_NAME: "Wait for ssh", attr.STEP_TYPE: "creating", attr.STEP_TOTAL: 2}


@pytest.fixture
def spans():
    """A tracer and the list of the spans it ended, in order."""
    with capture_spans() as captured:
        yield captured.tracer_provider.get_tracer("test"), captured.spans


def _failing_event(tracer, attributes):
    """End one event span that raises, as instrumentation records a failure."""
    with tracer.start_as_current_span("event", attributes=attributes):
        raise TimeoutError("no ssh on i-1")


def _run(tracer):
    """One operation with one step, its marker, a good event and a failed one."""
    operation = {
        attr.SPAN_KIND: attr.SPAN_OPERATION,
        **CLUSTER,
        attr.CLUSTER_NAME: "hadoop",
        attr.STEP_TYPE: "creating",
        attr.PLAN: ["Launch", "Wait for ssh"],
        "http.method": "POST",
    }
    step = {attr.SPAN_KIND: attr.SPAN_STEP, **STEP}
    with (
        tracer.start_as_current_span("create cluster", attributes=operation),
        tracer.start_as_current_span("Wait for ssh", attributes=step) as step_span,
    ):
        tracer.start_span("step.start", attributes={**step, attr.SPAN_KIND: "step.start"}).end()
        event = {attr.SPAN_KIND: attr.SPAN_EVENT, **CLUSTER, attr.INSTANCE_ID: "i-1"}
        tracer.start_span("event", attributes=event).end()
        with pytest.raises(TimeoutError):
            _failing_event(tracer, {**event, attr.ERROR_ID: "e-1"})
        step_span.set_status(Status(StatusCode.ERROR, "1 of 2 failed"))


def test_every_kind_becomes_a_record_with_its_ids_and_times(spans):
    """Each provisioning span becomes a record of its kind, with hex ids, parents and times."""
    tracer, finished = spans
    _run(tracer)
    ended = finished()
    records = [record_from_span(span) for span in ended]
    assert [r["kind"] for r in records] == ["step.start", "event", "event", "step", "operation"]
    marker, good, _, step, operation = records
    assert operation["parent_span_id"] is None
    assert step["parent_span_id"] == operation["span_id"]
    assert marker["parent_span_id"] == good["parent_span_id"] == step["span_id"]
    assert len({r["trace_id"] for r in records}) == 1
    for record, span in zip(records, ended, strict=True):
        assert record["v"] == RECORD_VERSION
        assert record["trace_id"] == format(span.context.trace_id, "032x")
        assert record["span_id"] == format(span.context.span_id, "016x")
        assert (record["start_ns"], record["end_ns"]) == (span.start_time, span.end_time)
        assert record["name"] == span.name
    assert (good["status"], good["exception"]) == ("unset", None)


def test_only_provisioning_attributes_are_kept_and_sequences_become_lists(spans):
    """Foreign attributes are dropped; the plan tuple the SDK stores becomes a list."""
    tracer, finished = spans
    _run(tracer)
    operation = record_from_span(finished()[-1])
    assert "http.method" not in operation["attributes"]
    assert operation["attributes"][attr.PLAN] == ["Launch", "Wait for ssh"]
    assert operation["attributes"][attr.CLUSTER_NAME] == "hadoop"
    assert record_from_span(finished()[0])["attributes"][attr.STEP_TOTAL] == 2


def test_a_failed_span_carries_status_and_its_exception(spans):
    """Status ERROR, its message and the recorded exception travel in the record."""
    tracer, finished = spans
    _run(tracer)
    bad = record_from_span(finished()[2])
    assert (bad["status"], bad["status_message"]) == ("error", "TimeoutError: no ssh on i-1")
    assert bad["exception"]["type"] == "TimeoutError"
    assert bad["exception"]["message"] == "no ssh on i-1"
    assert bad["exception"]["stacktrace"].startswith("Traceback (most recent call last):")
    assert bad["attributes"][attr.ERROR_ID] == "e-1"
    step = record_from_span(finished()[3])
    assert (step["status"], step["status_message"], step["exception"]) == (
        "error",
        "1 of 2 failed",
        None,
    )


def test_spans_without_the_kind_attribute_are_not_records(spans):
    """Spans of other instrumentation give None, with or without attributes."""
    tracer, finished = spans
    tracer.start_span("GET /", attributes={"http.method": "GET"}).end()
    tracer.start_span("bare").end()
    assert [record_from_span(span) for span in finished()] == [None, None]


def test_encode_then_decode_gives_the_record_back(spans):
    """A record survives the spool as one ASCII line, equal after reading it back."""
    tracer, finished = spans
    _run(tracer)
    for span in finished():
        record = record_from_span(span)
        line = encode_record(record)
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert decode_record(line) == record


def test_encoding_survives_hostile_strings():
    """NUL bytes, lone surrogates and newlines stay inside one decodable line."""
    record = {
        "v": 1,
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "parent_span_id": None,
        "kind": "event",
        "name": "line\nbreak",
        "start_ns": 1,
        "end_ns": 2,
        "status": "error",
        "status_message": "nul\x00 and \ud800 lone",
        "attributes": {attr.CLUSTER_ID: "c\u00e9\U0001f600"},
        "exception": None,
    }
    line = encode_record(record)
    line.decode("ascii")
    assert line.count(b"\n") == 1
    assert decode_record(line) == record


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "not a JSON"),
        (b"{not json}\n", "not a JSON"),
        (b'{"v": 1, "trace_id": "ab', "not a JSON"),
        (b"\xff\xfe garbage", "not a JSON"),
        (b"[1, 2]\n", "not an object"),
        (b'"text"\n', "not an object"),
        (b'{"v": 2}\n', "version"),
        (b'{"trace_id": "x"}\n', "version"),
        (json.dumps({"v": 1, "trace_id": "a" * 32}).encode(), "lacks"),
    ],
)
def test_decode_refuses_garbage(line, reason):
    """Torn lines, other JSON, other versions and incomplete records raise ValueError."""
    with pytest.raises(ValueError, match=reason):
        decode_record(line)


_VALUES = st.one_of(
    st.text(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.integers(-(2**31), 2**31), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(attr.SPAN_KINDS)) | st.text(min_size=1),
    name=st.text(),
    extra=st.dictionaries(st.text(max_size=10).map(lambda k: "provisioning." + k), _VALUES),
    other=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=5), max_size=2),
    description=st.none() | st.text(),
    failure=st.none() | st.text(),
    child=st.booleans(),
)
def test_the_spool_line_is_the_encoded_record_byte_for_byte(
    kind, name, extra, other, description, failure, child
):
    """The instrumented thread's fast line is exactly encode_record(record_from_span(span))."""
    exporter = capture_spans()
    provider = exporter.tracer_provider
    tracer = provider.get_tracer("test")
    attributes = {**other, **extra, attr.SPAN_KIND: kind}
    with tracer.start_as_current_span("parent"):
        span = tracer.start_span(name, attributes=attributes) if child else None
    if span is None:
        span = tracer.start_span(name, attributes=attributes)
    if failure is not None:
        span.record_exception(ValueError(failure))
    if description is not None:
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()
    ended = exporter.spans()[-1]
    record = record_from_span(ended)
    found = spool_line(ended)
    assert record is not None
    assert found is not None
    assert found == (record["kind"], encode_record(record))
    provider.shutdown()
