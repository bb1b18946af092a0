"""Provisioning progress from span records alone, with the store's semantics.

:func:`progress_from_records` answers what the ``provision_steps`` table would hold after
writing the same records, without a database, by the rules of
:mod:`~otel_provlog.exporter.lifecycle` the writer follows too: the step span decides once
it ended, a start marker describes a running step, and events alone make a nameless
placeholder; a step links to its operation (from the operation span or its
``operation.start`` marker) and takes its place in the operation's plan.
Tests hold the writer to it, and a tool can show progress straight from a spool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from otel_provlog.exporter.lifecycle import Plan, marker_may_describe, step_link, step_outcome
from otel_provlog.exporter.mapping import MappedRecords, RowMap, map_records
from otel_provlog.exporter.records import SpanRecord

__all__ = ["StepProgress", "progress_from_records"]


@dataclass(frozen=True, slots=True)
class StepProgress:
    """One step of a cluster's ``provisioning_progress``: the columns of its step row."""

    id: str
    cluster_id: str
    step_name: str
    step_type: str | None
    operation_id: str | None
    """The operation's row id: the step's parent span, else the only one of its trace."""
    position: int | None
    """The index of the step's name in its operation's plan, or None."""
    completed: int
    """Events that finished successfully."""
    failed: int
    """Events that failed."""
    total: int | None
    successful: bool | None
    """Null while running, false once an event failed, true or false once ended."""
    status: str
    """One of :class:`~otel_provlog.exporter.models.StepStatus`."""
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


def _links(
    mapped: MappedRecords, steps: dict[str, RowMap]
) -> dict[str, tuple[str | None, int | None]]:
    """Return each step's (operation id, position), with the semantics of ``link_steps``."""
    plans: dict[str, RowMap] = {}
    for row in mapped.operation_markers:
        plans.setdefault(row["id"], row)
    for row in mapped.operations:
        plans[row["id"]] = row  # the span decides
    by_span: dict[tuple[str, str], Plan] = {}
    by_trace: dict[str, list[Plan]] = {}
    for row in plans.values():
        plan = Plan(row["id"], row["plan"] or [])
        by_span[(row["trace_id"], row["span_id"])] = plan
        by_trace.setdefault(row["trace_id"], []).append(plan)
    return {
        step_id: step_link(
            row["trace_id"], row.get("parent_span_id"), row["step_name"], by_span, by_trace
        )
        for step_id, row in steps.items()
    }


def progress_from_records(records: Iterable[SpanRecord]) -> dict[str, list[StepProgress]]:
    """Rebuild every cluster's steps from span records, as the store would hold them.

    Returns:
        Cluster id -> its steps, oldest first (``created_at``, then ``id``). Records the
        writer would reject are left out, and so are clusters without steps.
    """
    mapped = map_records(records)
    steps: dict[str, RowMap] = {}
    for row in mapped.placeholders:
        steps[row["id"]] = row
    for row in mapped.markers:
        known = steps.get(row["id"])
        if known is None or marker_may_describe(known.get("started_at")):
            steps[row["id"]] = row
    ended: set[str] = set()
    for row in mapped.steps:
        steps[row["id"]] = row
        ended.add(row["id"])
    links = _links(mapped, steps)
    counts: dict[str, list[int]] = {}
    for event in mapped.events:
        count = counts.setdefault(event["provision_step_id"], [0, 0])
        count[0 if event["successful"] else 1] += 1
    progress: dict[str, list[StepProgress]] = {}
    for step_id, row in steps.items():
        completed, failed = counts.get(step_id, (0, 0))
        status, successful = step_outcome(
            ended=step_id in ended,
            span_successful=bool(row.get("successful")),
            failed_events=failed,
        )
        progress.setdefault(row["cluster_id"], []).append(
            StepProgress(
                id=step_id,
                cluster_id=row["cluster_id"],
                step_name=row["step_name"],
                step_type=row.get("step_type"),
                operation_id=links[step_id][0],
                position=links[step_id][1],
                completed=completed,
                failed=failed,
                total=row.get("total"),
                successful=successful,
                status=status,
                created_at=row["created_at"],
                started_at=row.get("started_at"),
                completed_at=row.get("completed_at"),
            )
        )
    for cluster_steps in progress.values():
        cluster_steps.sort(key=lambda step: (step.created_at, step.id))
    return progress
