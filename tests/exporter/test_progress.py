"""Progress from span records alone equals what the store holds, at every moment of a run."""

from __future__ import annotations

import contextlib
import dataclasses
import random

import pytest

from otel_provlog import attributes as attr
from otel_provlog.exporter import queries
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.progress import StepProgress, progress_from_records
from otel_provlog.exporter.records import record_from_span
from otel_provlog.exporter.writer import write_records
from otel_provlog.testing import capture_spans

PLAN = ["Launch instances", "Wait for ssh", "Configure"]


def _event(tracer, cluster, instance, *, fail=False):
    """End one event span, failed (with an exception recorded) when ``fail``."""
    attributes = {attr.SPAN_KIND: attr.SPAN_EVENT, attr.CLUSTER_ID: cluster}
    with tracer.start_as_current_span(
        "event", attributes=attributes | {attr.INSTANCE_ID: instance}
    ):
        if fail:
            raise OSError(f"{instance} unreachable")


def _records(*, operation_marker=False):
    """Span records of two clusters' runs; the second stops inside its last step.

    With ``operation_marker`` each operation begins with its ``operation.start`` marker.
    """
    exporter = capture_spans()
    provider = exporter.tracer_provider
    tracer = provider.get_tracer("test")
    for cluster, steps in (("c-1", PLAN), ("c-2", PLAN[:2])):
        base = {attr.CLUSTER_ID: cluster, attr.TENANT_ID: "t-1", attr.STEP_TYPE: "creating"}
        operation = base | {attr.SPAN_KIND: attr.SPAN_OPERATION, attr.PLAN: PLAN}
        with tracer.start_as_current_span("create", attributes=operation):
            if operation_marker:
                started = operation | {attr.SPAN_KIND: attr.SPAN_OPERATION_START}
                tracer.start_span("create started", attributes=started).end()
            for name in steps:
                described = base | {attr.STEP_NAME: name, attr.STEP_TOTAL: 3}
                step = described | {attr.SPAN_KIND: attr.SPAN_STEP}
                with tracer.start_as_current_span(name, attributes=step):
                    marker = described | {attr.SPAN_KIND: attr.SPAN_STEP_START}
                    tracer.start_span("start", attributes=marker).end()
                    for n in range(3):
                        fail = name == "Wait for ssh" and n == 2
                        with contextlib.suppress(OSError):
                            _event(tracer, cluster, f"{cluster}-{n}", fail=fail)
    spans = exporter.spans()
    provider.shutdown()
    records = [record_from_span(span) for span in spans]
    # Without c-2's last step span and its operation: that run is still going.
    return records[:-2]


def _database_progress(factory):
    """The store's steps, per cluster, as StepProgress."""
    names = [field.name for field in dataclasses.fields(StepProgress)]
    progress = {}
    with factory() as session:
        for cluster in ("c-1", "c-2"):
            steps = queries.list_steps(session, cluster)
            if steps:
                progress[cluster] = [
                    StepProgress(**{name: getattr(step, name) for name in names}) for step in steps
                ]
    return progress


def test_a_finished_run_and_a_running_one():
    """Ended steps are exact; the running step shows its counts with successful unknown."""
    progress = progress_from_records(_records())
    assert [s.step_name for s in progress["c-1"]] == PLAN
    assert [(s.status, s.successful, s.completed, s.failed) for s in progress["c-1"]] == [
        ("successful", True, 3, 0),
        ("failed", False, 2, 1),
        ("successful", True, 3, 0),
    ]
    running = progress["c-2"][-1]
    assert (running.status, running.successful, running.completed_at) == ("running", False, None)
    assert running.total == 3
    assert running.started_at == running.created_at


def test_events_before_their_marker_make_a_nameless_running_step():
    """Events alone show a placeholder step, which the marker then names."""
    records = _records()
    marker, first = records[0], records[1]
    (step,) = progress_from_records([first])["c-1"]
    assert (step.step_name, step.status, step.successful, step.completed) == (
        "",
        "running",
        None,
        1,
    )
    (named,) = progress_from_records([first, marker])["c-1"]
    assert named.id == step.id
    assert (named.step_name, named.completed) == ("Launch instances", 1)


@pytest.mark.parametrize("operation_marker", [False, True])
def test_order_and_repeats_do_not_matter(operation_marker):
    """Shuffled and repeated records give the same progress as the ended order."""
    records = _records(operation_marker=operation_marker)
    expected = progress_from_records(records)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = rng.sample(records, len(records)) + rng.sample(records, 5)
        assert progress_from_records(shuffled) == expected


def test_unusable_records_are_left_out():
    """Records the writer would reject do not show up."""
    records = _records()
    broken = [{**records[0], "trace_id": "bad"}, {"v": 1}, {**records[1], "attributes": {}}]
    assert progress_from_records(broken) == {}
    assert progress_from_records(records + broken) == progress_from_records(records)


def test_the_operation_marker_links_running_steps_to_their_plan():
    """With the marker, running steps know their operation and place before it ends."""
    progress = progress_from_records(_records(operation_marker=True))
    running = progress["c-2"]
    assert [(s.step_name, s.position) for s in running] == [
        ("Launch instances", 0),
        ("Wait for ssh", 1),
    ]
    assert running[-1].status == "running"
    assert len({s.operation_id for s in running} - {None}) == 1
    without = progress_from_records(_records())["c-2"]
    assert [(s.operation_id, s.position) for s in without] == [(None, None)] * 2
    ended = progress_from_records(_records())["c-1"]
    assert [s.position for s in progress["c-1"]] == [s.position for s in ended] == [0, 1, 2]


def test_a_marker_alone_links_the_events_placeholder():
    """A nameless placeholder step joins the operation of its trace, with no position."""
    records = _records(operation_marker=True)
    marker, first_event = records[0], records[2]
    (step,) = progress_from_records([first_event, marker])["c-1"]
    assert (step.step_name, step.position) == ("", None)
    assert step.operation_id is not None


@pytest.mark.parametrize("operation_marker", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_the_store_holds_the_same_progress_at_every_moment(engine, shuffle, operation_marker):
    """After each record written, the store's steps equal progress from the same records."""
    factory = session_factory(engine)
    records = _records(operation_marker=operation_marker)
    if shuffle:
        records = random.Random(11).sample(records, len(records))
    assert _database_progress(factory) == progress_from_records([]) == {}
    for count in range(1, len(records) + 1):
        with factory.begin() as session:
            write_records(session, records[count - 1 : count])
        assert _database_progress(factory) == progress_from_records(records[:count]), count
