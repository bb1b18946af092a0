"""When steps, operations and clusters run, end, fail or are interrupted: the rules, once.

Pure functions over the values of one row, table-tested alone. The writer loads the state,
asks them and writes (:mod:`~otel_provlog.exporter.store`,
:mod:`~otel_provlog.exporter.interruption`); the pure progress fold
(:mod:`~otel_provlog.exporter.progress`) applies them to span records without a database.
Where concurrent writers need the database to decide (a step's events are counted by
several transactions at once), the rule has a SQL twin here, tested against it.

- **A row ended by its span is final**: a later span or marker changes nothing
  (:func:`span_may_end`). A row that was interrupted (its process died) is ended by its
  span if that still arrives.
- **A marker never reopens**: it describes a step only while its start is unknown, and an
  operation only while no row of it is stored (:func:`marker_may_describe`).
- **A step's outcome** (:func:`step_outcome`): ``successful`` is null while it runs and no
  event failed, false as soon as one failed, and once its span ended true exactly when the
  span succeeded and none of its events failed; its status follows.
- **A step's operation** (:func:`step_link`): the operation that is its parent span; while
  its parent is unknown, the only operation of its trace; its position is the index of its
  name in that operation's plan.
- **A cluster's status** (:func:`cluster_status`): from its latest operation and the latest
  step begun since then.
- **Interruption** (:func:`interruption`): a running step or operation whose process ended
  without ending it becomes ``interrupted``, unsuccessful, completed at that moment, and
  its cluster ``Error``, with the reason in the cluster's description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from sqlalchemy import ColumnElement, case

from otel_provlog.attributes import STEP_TYPE_CREATING, STEP_TYPE_DELETING, STEP_TYPE_SCALING
from otel_provlog.exporter.models import ClusterStatus, ProvisionStep, RunStatus

__all__ = [
    "OperationState",
    "Outcome",
    "Plan",
    "StepState",
    "cluster_status",
    "event_failed_sql",
    "interrupted_operation",
    "interrupted_step",
    "interruption",
    "marker_may_describe",
    "span_may_end",
    "step_end_sql",
    "step_link",
    "step_outcome",
]


class Outcome(NamedTuple):
    """A step's or operation's ``status`` and ``successful``."""

    status: str
    successful: bool | None


def span_may_end(completed_at: datetime | None, status: str) -> bool:
    """Tell whether the row's span may (still) end it: it never ended, or was interrupted."""
    return completed_at is None or status == RunStatus.INTERRUPTED


def marker_may_describe(started_at: datetime | None) -> bool:
    """Tell whether a start marker may describe a stored step: its start is still unknown."""
    return started_at is None


def step_outcome(*, ended: bool, span_successful: bool, failed_events: int) -> Outcome:
    """Return a step's outcome from its span (when ``ended``) and its failed events."""
    if not ended:
        return Outcome(RunStatus.RUNNING, False if failed_events else None)
    successful = span_successful and not failed_events
    return Outcome(RunStatus.SUCCESSFUL if successful else RunStatus.FAILED, successful)


def step_end_sql(span_successful: bool) -> dict[str, ColumnElement[Any] | Any]:
    """Return the columns :func:`step_outcome` sets when a step's span ends, for ``UPDATE``.

    The database counts the failed events (``ProvisionStep.failed``), since writers that
    store the step's events at the same time add to it.
    """
    if not span_successful:
        return {"status": RunStatus.FAILED, "successful": False}
    failed = ProvisionStep.failed > 0
    return {
        "status": case((failed, RunStatus.FAILED), else_=RunStatus.SUCCESSFUL),
        "successful": ProvisionStep.failed == 0,
    }


def event_failed_sql() -> dict[str, ColumnElement[Any] | Any]:
    """Return the columns a failed event sets on its step, for ``UPDATE``.

    As :func:`step_outcome` says: ``successful`` false at once, even while the step runs;
    a step its span already ended successfully becomes ``failed``.
    """
    return {
        "successful": False,
        "status": case(
            (ProvisionStep.status == RunStatus.SUCCESSFUL, RunStatus.FAILED),
            else_=ProvisionStep.status,
        ),
    }


class Plan(NamedTuple):
    """An operation as its steps see it: its row id and the step names it declared."""

    operation_id: str
    steps: Sequence[str]


def step_link(
    trace_id: str,
    parent_span_id: str | None,
    step_name: str,
    by_span: Mapping[tuple[str, str], Plan],
    by_trace: Mapping[str, Sequence[Plan]],
) -> tuple[str | None, int | None]:
    """Return a step's (operation id, position in its plan), or (None, None).

    ``by_span`` holds the stored operations by (trace id, span id), ``by_trace`` by trace.
    """
    if parent_span_id is not None:
        found = by_span.get((trace_id, parent_span_id))
    else:
        candidates = by_trace.get(trace_id, ())
        found = candidates[0] if len(candidates) == 1 else None
    if found is None:
        return None, None
    plan = list(found.steps)
    return found.operation_id, plan.index(step_name) if step_name in plan else None


class OperationState(NamedTuple):
    """What a cluster's status needs to know of its latest operation."""

    step_type: str | None
    status: str


class StepState(NamedTuple):
    """What a cluster's status needs to know of its latest step begun since that operation."""

    step_name: str
    step_type: str | None
    status: str


_RUNNING: Final = {
    STEP_TYPE_CREATING: ClusterStatus.CREATING,
    STEP_TYPE_SCALING: ClusterStatus.SCALING,
    STEP_TYPE_DELETING: ClusterStatus.DELETING,
}


def cluster_status(
    operation: OperationState | None, step: StepState | None, failed_step: str | None = None
) -> tuple[str, str | None]:
    """Return a cluster's status and its description.

    A running latest ``operation`` gives ``Creating``/``Scaling``/``Deleting`` by its step
    type; so does a ``step`` begun after the latest ended operation (an operation running
    without its marker), by the step's type. Either is ``Error`` once that step was
    interrupted. Otherwise the latest operation decides: ``Active`` (``Deleted`` after a
    deleting one) when it succeeded, ``Error`` when it failed or was interrupted
    (``failed_step`` names the first of its steps that did not succeed); ``Unknown``
    without either.
    """
    if step is not None and step.status == RunStatus.INTERRUPTED:
        return ClusterStatus.ERROR, f"interrupted at step {step.step_name!r}"
    if operation is not None and operation.status == RunStatus.RUNNING:
        return _RUNNING.get(operation.step_type or "", ClusterStatus.UNKNOWN), None
    if step is not None:
        return _RUNNING.get(step.step_type or "", ClusterStatus.UNKNOWN), None
    if operation is None:
        return ClusterStatus.UNKNOWN, None
    if operation.status == RunStatus.SUCCESSFUL:
        deleted = operation.step_type == STEP_TYPE_DELETING
        return (ClusterStatus.DELETED if deleted else ClusterStatus.ACTIVE), None
    verb = "was interrupted" if operation.status == RunStatus.INTERRUPTED else "failed"
    where = f" at step {failed_step!r}" if failed_step else ""
    return ClusterStatus.ERROR, f"{operation.step_type} {verb}{where}"


def interruption(now: datetime) -> dict[str, Any]:
    """Return the columns that mark a running step or operation interrupted at ``now``."""
    return {
        "status": RunStatus.INTERRUPTED,
        "successful": False,
        "completed_at": now,
        "updated_at": now,
    }


def interrupted_step(step_name: str, why: str) -> str:
    """Return the cluster's description once its step ``step_name`` was interrupted."""
    return f"interrupted at step {step_name!r}{why}"


def interrupted_operation(step_type: str | None, why: str) -> str:
    """Return the cluster's description once its operation was interrupted."""
    return f"{step_type} was interrupted{why}"
