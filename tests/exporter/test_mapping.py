"""Span records into rows: cleaning, coercion and rejection, one record at a time."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_provlog import attributes as attr
from otel_provlog.exporter.mapping import (
    EVENT_INFO_LIMIT,
    STACKTRACE_LIMIT,
    bound_text,
    clean_id,
    clean_text,
    map_records,
    to_datetime,
)
from otel_provlog.exporter.models import (
    EXTERNAL_ID_LENGTH,
    NAME_LENGTH,
    STEP_NAME_LENGTH,
    span_row_id,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OPERATION = "00f067aa0ba902b7"
STEP = "b7ad6b7169203331"
T0 = 1_780_000_000_123_456_789
MEGABYTE = "x" * 1_000_000


def _record(kind=attr.SPAN_EVENT, *, span="e000000000000001", parent=STEP, **fields):
    """A valid record of ``kind``; ``attrs`` entries replace attributes, others fields."""
    attributes = {attr.SPAN_KIND: kind, attr.CLUSTER_ID: "c-1", attr.TENANT_ID: "t-1"}
    if kind in (attr.SPAN_STEP, attr.SPAN_STEP_START):
        attributes |= {attr.STEP_NAME: "Wait", attr.STEP_TYPE: "creating", attr.STEP_TOTAL: 3}
    if kind in (attr.SPAN_OPERATION, attr.SPAN_OPERATION_START):
        attributes |= {attr.STEP_TYPE: "creating", attr.CLUSTER_NAME: "hadoop"}
    if kind == attr.SPAN_EVENT:
        attributes |= {attr.INSTANCE_ID: "i-1", attr.INSTANCE_NAME: "w-1"}
    attributes |= fields.pop("attrs", {})
    record = {
        "v": 1,
        "trace_id": TRACE,
        "span_id": span,
        "parent_span_id": parent,
        "kind": kind,
        "name": kind,
        "start_ns": T0,
        "end_ns": T0 + 2_000_000_000,
        "status": "unset",
        "status_message": None,
        "attributes": {k: v for k, v in attributes.items() if v is not None},
        "exception": None,
    }
    record.update(fields)
    return record


def _one(record):
    """Map a single record that must be usable and return (mapped batch, its one row)."""
    mapped = map_records([record])
    assert mapped.rejected == []
    rows = (
        mapped.operations + mapped.operation_markers + mapped.steps + mapped.markers + mapped.events
    )
    assert len(rows) == 1
    return mapped, rows[0]


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("plain", None, "plain"),
        ("nul\x00byte\x00", None, "nulbyte"),
        ("lone \ud800 surrogate", None, "lone \ufffd surrogate"),
        ("pair \ud83d\ude00 kept", None, "pair \U0001f600 kept"),
        ("low \udfff first\ud83d", None, "low \ufffd first\ufffd"),
        ("é" * 300, NAME_LENGTH, "é" * NAME_LENGTH),
        (MEGABYTE, STEP_NAME_LENGTH, "x" * STEP_NAME_LENGTH),
        (42, None, "42"),
        (2.5, None, "2.5"),
        (True, None, "True"),
        (None, None, None),
        (["a", "b"], None, None),
        ({"a": 1}, None, None),
    ],
)
def test_clean_text(value, limit, expected):
    """Text loses NULs and lone surrogates, is cut to its column, and non-scalars are dropped."""
    assert clean_text(value, limit) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("c1", None, "c1"),
        ("c1 ", None, "c1"),
        ("\t c1\n", None, "c1"),
        ("\u00a0c1\u3000", None, "c1"),  # Unicode spaces too
        ("c\x001", None, "c1"),
        ("C1", None, "C1"),  # case is kept
        ("cafe\u0301", None, "caf\u00e9"),  # NFD becomes NFC
        ("caf\u00e9", None, "caf\u00e9"),
        ("\ufb01le", None, "\ufb01le"),  # NFC, not NFKC: a ligature stays
        ("a b", None, "a b"),
        ("x" * 300 + " ", 255, "x" * 255),
        ("x" * 254 + " y", 255, "x" * 254),  # no trailing space left by the cut
        ("  ", None, None),
        ("", None, None),
        (7, None, "7"),
        (None, None, None),
        (["c1"], None, None),
    ],
)
def test_clean_id(value, limit, expected):
    """An id is clean text in NFC without surrounding whitespace, case kept, or None."""
    assert clean_id(value, limit) == expected


@pytest.mark.parametrize("sent", ["c-1", " c-1", "c-1 ", "c-\x001", "c-1\u200a"])
def test_ids_that_differ_only_by_surrounding_spaces_are_one(sent):
    """Every way of writing the same cluster id maps to the same rows."""
    (step,) = map_records([_record(attr.SPAN_STEP, attrs={attr.CLUSTER_ID: sent})]).steps
    assert step["cluster_id"] == "c-1"


def test_bound_text_keeps_head_and_tail_of_a_megabyte():
    """A megabyte traceback keeps its start and its end around a marker, within the bound."""
    text = "Traceback (most recent call last):\n" + MEGABYTE + "\nTimeoutError: no ssh\x00"
    bounded = bound_text(text, STACKTRACE_LIMIT)
    assert len(bounded) <= STACKTRACE_LIMIT
    assert bounded.startswith("Traceback (most recent call last):\n")
    assert bounded.endswith("\nTimeoutError: no ssh")
    assert "characters omitted" in bounded
    assert bound_text("short\x00", EVENT_INFO_LIMIT) == "short"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_record(trace_id=None), "trace_id"),
        (_record(trace_id="xyz"), "trace_id"),
        (_record(trace_id="g" * 32), "trace_id"),
        (_record(trace_id="0" * 32), "trace_id"),
        (_record(trace_id=12345), "trace_id"),
        (_record(span_id="abc"), "span_id"),
        (_record(span_id=None), "span_id"),
        (_record(parent_span_id="zz"), "parent_span_id"),
        (_record(parent=None), "parent_span_id"),
        (_record(attr.SPAN_STEP_START, parent=None), "parent_span_id"),
        (_record(attr.SPAN_OPERATION_START, parent=None), "parent_span_id"),
        (_record(attr.SPAN_OPERATION_START, attrs={attr.STEP_TYPE: None}), "step.type"),
        (_record(attrs={attr.CLUSTER_ID: None}), attr.CLUSTER_ID),
        (_record(attrs={attr.CLUSTER_ID: ""}), attr.CLUSTER_ID),
        (_record(attrs={attr.CLUSTER_ID: ["c-1"]}), attr.CLUSTER_ID),
        (_record(attrs={attr.CLUSTER_ID: "c" * 300}), "longer than"),
        (_record(kind="span"), "unknown"),
        (_record(kind=None), "unknown"),
        (_record(start_ns="soon"), "start_ns"),
        (_record(start_ns=True), "start_ns"),
        (_record(start_ns=None), "start_ns"),
        (_record(start_ns=-5), "start_ns"),
        (_record(end_ns=10**30), "end_ns"),
        (_record(end_ns=float("nan")), "end_ns"),
        (_record(attributes=["not", "a", "dict"]), "attributes"),
        (_record(v=2), "version"),
        (_record(attr.SPAN_OPERATION, parent=None, attrs={attr.STEP_TYPE: None}), "step.type"),
        (["not", "a", "record"], "not a mapping"),
        ("text", "not a mapping"),
    ],
)
def test_unusable_records_are_rejected_with_a_reason(record, reason):
    """Missing or malformed ids, kinds, times and shapes reject the record, saying why."""
    mapped = map_records([record])
    assert len(mapped.rejected) == 1
    assert mapped.rejected[0].record is record
    assert reason in mapped.rejected[0].reason
    assert mapped.operations + mapped.steps + mapped.markers + mapped.events == []
    assert mapped.clusters == {}


def test_one_bad_record_never_affects_the_others():
    """Good records around a rejected one are all mapped."""
    bad = _record(span="e000000000000002", trace_id="bad")
    good = [_record(span="e000000000000001"), _record(span="e000000000000003")]
    mapped = map_records([good[0], bad, good[1]])
    assert [row["span_id"] for row in mapped.events] == [
        "e000000000000001",
        "e000000000000003",
    ]
    assert [r.record for r in mapped.rejected] == [bad]


@pytest.mark.parametrize(
    ("attrs", "column", "expected"),
    [
        ({attr.INSTANCE_ID: 42}, "instance_id", "42"),
        ({attr.INSTANCE_ID: ["i-1"]}, "instance_id", None),
        ({attr.INSTANCE_NAME: "w\x00-1"}, "instance_name", "w-1"),
        ({attr.INSTANCE_NAME: "n" * 1000}, "instance_name", "n" * NAME_LENGTH),
        ({attr.NODE_GROUP_ID: "g\ud800"}, "node_group_id", "g\ufffd"),
        ({attr.NODE_GROUP_ID: "g" * 1000}, "node_group_id", "g" * EXTERNAL_ID_LENGTH),
        ({attr.ERROR_ID: 7}, "error_id", "7"),
        ({attr.EVENT_INFO: "ok\x00"}, "event_info", "ok"),
        ({attr.EVENT_INFO: {"not": "text"}}, "event_info", None),
    ],
)
def test_event_values_are_coerced_or_dropped(attrs, column, expected):
    """Wrong types become text or are dropped; text is cleaned and cut to its column."""
    _, row = _one(_record(attrs=attrs))
    assert row[column] == expected


@pytest.mark.parametrize(
    ("total", "expected"),
    [(3, 3), ("7", 7), (2.0, 2), (2.5, None), (-1, None), (True, None), ("many", None)],
)
def test_step_total_is_coerced_to_a_count(total, expected):
    """A step's total is a non-negative int, from numbers or numeric text, else None."""
    _, row = _one(
        _record(attr.SPAN_STEP, span=STEP, parent=OPERATION, attrs={attr.STEP_TOTAL: total})
    )
    assert row["total"] == expected


def test_ids_and_times_of_each_kind():
    """Row ids derive from span ids; an event names its step; times keep microseconds."""
    start = to_datetime(T0)
    end = to_datetime(T0 + 2_000_000_000)
    assert start == datetime(2026, 5, 28, 20, 26, 40, 123456, tzinfo=UTC)
    _, operation = _one(_record(attr.SPAN_OPERATION, span=OPERATION, parent=None))
    _, step = _one(_record(attr.SPAN_STEP, span=STEP, parent=OPERATION))
    _, marker = _one(_record(attr.SPAN_STEP_START, span="5" * 16, parent=STEP))
    _, event = _one(_record(parent=STEP))
    assert operation["id"] == span_row_id(TRACE, OPERATION)
    assert step["id"] == marker["id"] == event["provision_step_id"] == span_row_id(TRACE, STEP)
    assert step["parent_span_id"] == OPERATION
    assert (step["created_at"], step["started_at"], step["completed_at"]) == (start, start, end)
    assert step["duration"] == 2.0
    assert (marker["created_at"], marker["started_at"], marker["status"]) == (
        start,
        start,
        "running",
    )
    assert (event["created_at"], event["started_at"]) == (end, start)
    assert (operation["started_at"], operation["completed_at"]) == (start, end)


def test_an_operation_marker_is_its_running_operation():
    """An operation.start marker maps to its parent operation's row, running, with the plan."""
    plan = {attr.PLAN: ["Launch", "Wait"]}
    mapped, marker = _one(
        _record(attr.SPAN_OPERATION_START, span="6" * 16, parent=OPERATION, attrs=plan)
    )
    _, operation = _one(_record(attr.SPAN_OPERATION, span=OPERATION, parent=None, attrs=plan))
    assert marker.keys() == operation.keys()
    assert (marker["id"], marker["span_id"]) == (span_row_id(TRACE, OPERATION), OPERATION)
    assert (marker["status"], marker["successful"], marker["completed_at"]) == (
        "running",
        None,
        None,
    )
    assert marker["plan"] == operation["plan"] == ["Launch", "Wait"]
    assert marker["started_at"] == marker["created_at"] == operation["started_at"]
    assert mapped.clusters["c-1"]["name"] == "hadoop"
    assert mapped.clusters["c-1"]["tenant_id"] == "t-1"


def test_ids_are_lower_cased_and_times_may_be_numeric_text():
    """Upper-case hex ids are accepted as lower case; "123" nanoseconds is a number."""
    _, row = _one(_record(trace_id=TRACE.upper(), start_ns=str(T0), end_ns=T0 - 5))
    assert row["trace_id"] == TRACE
    assert row["created_at"] == row["started_at"] == to_datetime(T0)


JAVA_STACK = (
    "java.net.ConnectException: Connection refused\n"
    "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
    "\tat com.example.provision.Ssh.open(Ssh.java:42)\n"
    "\tat com.example.provision.Provisioner.run(Provisioner.java:17)"
)
HEADLESS_PYTHON = (
    '  File "/opt/engine/ssh.py", line 88, in wait\n    sock.connect(addr)\n'
    "ConnectionRefusedError: [Errno 111] Connection refused"
)


@pytest.mark.parametrize(
    ("fields", "successful", "info", "stacktrace"),
    [
        ({}, True, None, None),
        ({"status": "OK"}, True, None, None),
        ({"status": "error", "status_message": "boom"}, False, "boom", None),
        (
            {
                "status": "error",
                "exception": {"type": "OSError", "message": "disk", "stacktrace": "Traceback"},
            },
            False,
            "disk",
            "Traceback",
        ),
        (
            {"status": "error", "exception": {"type": "OSError", "message": "", "stacktrace": ""}},
            False,
            "OSError",
            None,
        ),
        (
            {
                "status": "error",
                "attrs": {attr.EVENT_INFO: "given"},
                "exception": {"type": "E", "message": "m", "stacktrace": "t"},
            },
            False,
            "given",
            "t",
        ),
        (
            {
                "status": "error",
                "exception": {
                    "type": "java.net.ConnectException",
                    "message": "Connection refused",
                    "stacktrace": JAVA_STACK,
                },
            },
            False,
            "Connection refused",
            JAVA_STACK,
        ),
        (
            {
                "status": "error",
                "exception": {"type": "", "message": "refused", "stacktrace": HEADLESS_PYTHON},
            },
            False,
            "refused",
            HEADLESS_PYTHON,
        ),
        (
            {
                "status": "error",
                "exception": {
                    "type": "E",
                    "message": 'm\n  File "/x.py", line 1',
                    "stacktrace": "",
                },
            },
            False,
            'm\n  File "/x.py", line 1',
            None,
        ),
    ],
)
def test_event_outcome_info_and_stacktrace(fields, successful, info, stacktrace):
    """An event fails on status ERROR; its message and its stack come from separate fields."""
    _, row = _one(_record(**fields))
    assert (row["successful"], row["event_info"], row["stacktrace"]) == (
        successful,
        info,
        stacktrace,
    )


def test_only_failed_events_get_a_fingerprint_of_their_stored_message():
    """A failure's fingerprint and pattern come from its event_info; a success has none."""
    _, ok = _one(_record())
    assert (ok["error_fingerprint"], ok["error_pattern"]) == (None, None)
    failed = [
        _one(
            _record(
                span=f"e00000000000000{number}",
                status="error",
                exception={"type": "OSError", "message": f"SSH to 10.0.0.{number} timed out"},
            )
        )[1]
        for number in (1, 2)
    ]
    assert failed[0]["error_pattern"] == "SSH to <ip> timed out"
    assert failed[0]["error_fingerprint"] == failed[1]["error_fingerprint"]
    assert len(failed[0]["error_fingerprint"]) == 16


def test_megabyte_stacktrace_is_bounded_and_kept_apart():
    """A megabyte stack fits its own bound, keeps its last line, and never reaches the info."""
    trace = "Traceback\n" + MEGABYTE + "\nOSError: disk full"
    record = _record(
        status="error", exception={"type": "OSError", "message": "disk", "stacktrace": trace}
    )
    _, row = _one(record)
    assert row["event_info"] == "disk"
    assert len(row["stacktrace"]) <= STACKTRACE_LIMIT
    assert row["stacktrace"].startswith("Traceback\n")
    assert row["stacktrace"].endswith("OSError: disk full")


def test_a_long_message_is_bounded_as_a_message():
    """A message of many lines stays a message, cut to the event info's bound."""
    message = "\n".join(f'  File "/srv/{n}.py", line {n}' for n in range(10_000))
    record = _record(status="error", exception={"type": "E", "message": message, "stacktrace": ""})
    _, row = _one(record)
    assert len(row["event_info"]) <= EVENT_INFO_LIMIT
    assert row["event_info"].startswith('  File "/srv/0.py", line 0\n')
    assert row["stacktrace"] is None


def test_plan_names_are_cleaned():
    """An operation's plan keeps text names, cleaned; a single name becomes a list."""
    plan = ["Launch\x00", 3, ["nested"], "Wait \ud800"]
    _, row = _one(_record(attr.SPAN_OPERATION, parent=None, attrs={attr.PLAN: plan}))
    assert row["plan"] == ["Launch", "3", "Wait \ufffd"]
    _, row = _one(_record(attr.SPAN_OPERATION, parent=None, attrs={attr.PLAN: "Launch"}))
    assert row["plan"] == ["Launch"]
    _, row = _one(_record(attr.SPAN_OPERATION, parent=None))
    assert row["plan"] is None


def test_repeated_spans_clusters_and_placeholders():
    """A span repeated in a batch maps once; clusters and placeholder steps gather their times."""
    first = _record(span="e000000000000001", start_ns=T0 + 10**9)
    early = _record(span="e000000000000002", start_ns=T0)
    operation = _record(attr.SPAN_OPERATION, span=OPERATION, parent=None, end_ns=T0 + 10**10)
    mapped = map_records([first, dict(first), early, operation])
    assert mapped.repeated == 1
    assert len(mapped.events) == 2
    assert mapped.clusters == {
        "c-1": {
            "name": "hadoop",
            "tenant_id": "t-1",
            "first_at": to_datetime(T0),
            "last_at": to_datetime(T0 + 10**10),
        }
    }
    (placeholder,) = mapped.placeholders
    assert placeholder["id"] == span_row_id(TRACE, STEP)
    assert placeholder["span_id"] == STEP
    assert (placeholder["created_at"], placeholder["step_name"]) == (to_datetime(T0), "")


@given(st.text(), st.none() | st.integers(0, 40))
def test_clean_text_keeps_what_every_backend_stores_and_nothing_else(text, limit):
    """Cleaned text has no NUL, encodes as UTF-8, respects the limit and is otherwise unchanged."""
    cleaned = clean_text(text, limit)
    assert cleaned is not None
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")
    if limit is not None:
        assert len(cleaned) <= limit
    expected = text[:limit] if limit is not None else text
    if expected.isascii():
        assert cleaned == expected.replace("\x00", "")


@given(st.text())
def test_clean_id_is_one_form_of_an_id(text):
    """An id is stored in NFC without surrounding whitespace: cleaning it again changes nothing."""
    cleaned = clean_id(text)
    if cleaned is not None:
        assert cleaned == unicodedata.normalize("NFC", cleaned)
        assert cleaned == cleaned.strip()
        assert clean_id(cleaned) == cleaned
