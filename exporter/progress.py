"""Provisioning progress from span records alone, with the store's semantics.

:func:`progress_from_records` answers what the ``provision_steps`` table would hold after
writing the same records, without a database: the step span decides once it ended, a
start marker describes a running step, and events alone make a nameless placeholder.
Tests hold the writer to it, and a tool can show progress straight from a spool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from otel_provlog.exporter.mapping import RowMap, map_records
from otel_provlog.exporter.models import StepStatus
from otel_provlog.exporter.records import SpanRecord

__all__ = ["StepProgress", "progress_from_records"]


@dataclass(frozen=True, slots=True)
class StepProgress:
    """One step of a cluster's ``provisioning_progress``: the columns of its step row."""

    id: str
    cluster_id: str
    step_name: str
    step_type: str | None
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
        if known is None or known.get("started_at") is None:
            steps[row["id"]] = row
    ended: set[str] = set()
    for row in mapped.steps:
        steps[row["id"]] = row
        ended.add(row["id"])
    counts: dict[str, list[int]] = {}
    for event in mapped.events:
        count = counts.setdefault(event["provision_step_id"], [0, 0])
        count[0 if event["successful"] else 1] += 1
    progress: dict[str, list[StepProgress]] = {}
    for step_id, row in steps.items():
        completed, failed = counts.get(step_id, (0, 0))
        successful: Any
        if step_id in ended:
            successful = bool(row["successful"]) and not failed
            status = StepStatus.SUCCESSFUL if successful else StepStatus.FAILED
        else:
            successful = False if failed else None
            status = StepStatus.RUNNING
        progress.setdefault(row["cluster_id"], []).append(
            StepProgress(
                id=step_id,
                cluster_id=row["cluster_id"],
                step_name=row["step_name"],
                step_type=row.get("step_type"),
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
