"""The lifecycle rules, table by table, and their SQL twins on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from otel_provlog.exporter import lifecycle, store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.lifecycle import OperationState, Outcome, Plan, StepState
from otel_provlog.exporter.models import ClusterStatus, ProvisionStep, RunStatus

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
RUNNING, SUCCESSFUL, FAILED, INTERRUPTED = (
    RunStatus.RUNNING,
    RunStatus.SUCCESSFUL,
    RunStatus.FAILED,
    RunStatus.INTERRUPTED,
)


@pytest.mark.parametrize(
    ("completed_at", "status", "may_end"),
    [
        (None, RUNNING, True),  # running: its span ends it
        (T0, SUCCESSFUL, False),  # ended by its span: final
        (T0, FAILED, False),
        (T0, INTERRUPTED, True),  # its process died, yet its span arrived after all
    ],
)
def test_a_span_ends_a_row_unless_its_span_already_did(completed_at, status, may_end):
    """Only a row that never ended, or was interrupted, is ended by a (late) span."""
    assert lifecycle.span_may_end(completed_at, status) is may_end


def test_a_marker_describes_a_step_only_while_its_start_is_unknown():
    """A start marker never reopens or moves a step whose start is known."""
    assert lifecycle.marker_may_describe(None)
    assert not lifecycle.marker_may_describe(T0)


@pytest.mark.parametrize(
    ("ended", "span_successful", "failed_events", "outcome"),
    [
        (False, False, 0, Outcome(RUNNING, None)),  # running, nothing failed: unknown
        (False, False, 2, Outcome(RUNNING, False)),  # false as soon as one failed
        (True, True, 0, Outcome(SUCCESSFUL, True)),
        (True, True, 1, Outcome(FAILED, False)),  # a failed event fails the step
        (True, False, 0, Outcome(FAILED, False)),  # its span failed
        (True, False, 3, Outcome(FAILED, False)),
    ],
)
def test_a_steps_outcome_follows_its_span_and_its_failed_events(
    ended, span_successful, failed_events, outcome
):
    """Sahara's tri-state: null while running, false once an event failed, settled at the end."""
    assert (
        lifecycle.step_outcome(
            ended=ended, span_successful=span_successful, failed_events=failed_events
        )
        == outcome
    )


OPERATION = Plan("op-1", ["Launch", "Wait"])
OTHER = Plan("op-2", ["Wait"])


@pytest.mark.parametrize(
    ("parent", "name", "by_trace", "link"),
    [
        ("a1", "Wait", {"t": [OPERATION]}, ("op-1", 1)),  # its parent span's operation
        ("a1", "Extra", {"t": [OPERATION]}, ("op-1", None)),  # not in the plan: no place
        ("zz", "Wait", {"t": [OPERATION]}, (None, None)),  # parent not stored yet
        (None, "Launch", {"t": [OPERATION]}, ("op-1", 0)),  # the only operation of its trace
        (None, "Wait", {"t": [OPERATION, OTHER]}, (None, None)),  # two: cannot tell
        (None, "Wait", {}, (None, None)),
    ],
)
def test_a_step_belongs_to_its_parent_or_the_only_operation_of_its_trace(
    parent, name, by_trace, link
):
    """The link depends on stored operations only, never on arrival order."""
    by_span = {("t", "a1"): OPERATION, ("t", "b2"): OTHER}
    assert lifecycle.step_link("t", parent, name, by_span, by_trace) == link


def _operation(step_type, status):
    return OperationState(step_type, status)


def _step(status, step_type="creating", name="Wait"):
    return StepState(name, step_type, status)


@pytest.mark.parametrize(
    ("operation", "step", "failed_step", "expected"),
    [
        (None, None, None, (ClusterStatus.UNKNOWN, None)),
        (_operation("creating", RUNNING), None, None, (ClusterStatus.CREATING, None)),
        (_operation("scaling", RUNNING), _step(RUNNING), None, (ClusterStatus.SCALING, None)),
        (_operation("deleting", RUNNING), None, None, (ClusterStatus.DELETING, None)),
        (
            _operation("creating", RUNNING),
            _step(INTERRUPTED),
            None,
            (ClusterStatus.ERROR, "interrupted at step 'Wait'"),
        ),
        # a step begun after the operation ended: a new operation without its marker
        (_operation("creating", SUCCESSFUL), _step(RUNNING, "scaling"), None, ("Scaling", None)),
        (_operation("creating", SUCCESSFUL), None, None, (ClusterStatus.ACTIVE, None)),
        (_operation("scaling", SUCCESSFUL), None, None, (ClusterStatus.ACTIVE, None)),
        (_operation("deleting", SUCCESSFUL), None, None, (ClusterStatus.DELETED, None)),
        (
            _operation("creating", FAILED),
            None,
            "Wait",
            (ClusterStatus.ERROR, "creating failed at step 'Wait'"),
        ),
        (_operation("creating", FAILED), None, None, (ClusterStatus.ERROR, "creating failed")),
        (
            _operation("scaling", INTERRUPTED),
            None,
            "Launch",
            (ClusterStatus.ERROR, "scaling was interrupted at step 'Launch'"),
        ),
    ],
)
def test_a_clusters_status_follows_its_latest_operation_and_step(
    operation, step, failed_step, expected
):
    """Running, ended and interrupted operations and steps give the cluster its status."""
    assert lifecycle.cluster_status(operation, step, failed_step) == expected


def test_interruption_ends_a_row_unsuccessfully_and_says_why():
    """Interrupted: unsuccessful, completed now; the cluster's description names the cause."""
    assert lifecycle.interruption(T0) == {
        "status": INTERRUPTED,
        "successful": False,
        "completed_at": T0,
        "updated_at": T0,
    }
    assert lifecycle.interrupted_step("Wait", ": no news") == "interrupted at step 'Wait': no news"
    assert lifecycle.interrupted_operation("creating", "") == "creating was interrupted"


def _stored_step(engine, failed):
    step_id = "s-1"
    with session_factory(engine).begin() as session:
        store.ensure_clusters(session, {"c-1": {"name": None, "tenant_id": None}}, at=T0)
        store.insert_missing(
            session,
            ProvisionStep,
            [
                {
                    "id": step_id,
                    "cluster_id": "c-1",
                    "trace_id": "a" * 32,
                    "span_id": "1" * 16,
                    "step_name": "Wait",
                    "status": RUNNING,
                    "completed": 0,
                    "failed": failed,
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
            ["id"],
        )
    return step_id


def _outcome(engine, step_id):
    with session_factory(engine).begin() as session:
        row = session.execute(
            select(ProvisionStep.status, ProvisionStep.successful).where(
                ProvisionStep.id == step_id
            )
        ).one()
    return Outcome(row.status, row.successful)


@pytest.mark.parametrize("span_successful", [True, False])
@pytest.mark.parametrize("failed_events", [0, 2])
def test_the_database_ends_a_step_as_step_outcome_says(engine, span_successful, failed_events):
    """step_end_sql, counted by the database, agrees with step_outcome."""
    step_id = _stored_step(engine, failed_events)
    with session_factory(engine).begin() as session:
        session.execute(
            update(ProvisionStep)
            .where(ProvisionStep.id == step_id)
            .values(**lifecycle.step_end_sql(span_successful))
        )
    expected = lifecycle.step_outcome(
        ended=True, span_successful=span_successful, failed_events=failed_events
    )
    assert _outcome(engine, step_id) == expected


@pytest.mark.parametrize("status", [RUNNING, SUCCESSFUL, FAILED, INTERRUPTED])
def test_a_failed_event_makes_its_step_unsuccessful_in_the_database(engine, status):
    """event_failed_sql: false at once; an ended successful step becomes failed."""
    step_id = _stored_step(engine, 0)
    with session_factory(engine).begin() as session:
        session.execute(
            update(ProvisionStep).where(ProvisionStep.id == step_id).values(status=status)
        )
        session.execute(
            update(ProvisionStep)
            .where(ProvisionStep.id == step_id)
            .values(**lifecycle.event_failed_sql())
        )
    assert _outcome(engine, step_id) == Outcome(FAILED if status == SUCCESSFUL else status, False)
