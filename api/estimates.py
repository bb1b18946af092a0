"""Time-left estimates of steps and operations, from the store's history of earlier runs.

The arithmetic is pure (:mod:`~otel_provlog.api.progress`); this module reads what it
needs: per distinct (step name, type), one bounded query for the durations of the latest
successful runs (:func:`~otel_provlog.exporter.queries.step_durations`), shared by every
step and planned step of one document.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from otel_provlog.api.progress import (
    OperationEstimate,
    StepEstimate,
    estimate_operation,
    estimate_step,
)
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import ClusterOperation, ProvisionStep, RunStatus
from otel_provlog.exporter.rows import OperationRow

__all__ = ["HISTORY_SAMPLES", "cluster_estimates", "step_estimates"]

HISTORY_SAMPLES: Final = 20
"""Earlier runs of a step its expected duration is the median of."""
_FETCHED: Final = 3 * HISTORY_SAMPLES


class _History:
    """Earlier durations of steps, fetched once per (name, type) for one document."""

    def __init__(self, session: Session, tenant_id: str | None) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._cache: dict[tuple[str, str | None], list[tuple[datetime, float]]] = {}

    def durations(self, name: str, step_type: str | None, before: datetime) -> list[float]:
        key = (name, step_type)
        if key not in self._cache:
            self._cache[key] = queries.step_durations(
                self._session,
                name,
                step_type=step_type,
                tenant_id=self._tenant_id,
                limit=_FETCHED,
            )
        return [seconds for ended, seconds in self._cache[key] if ended < before][:HISTORY_SAMPLES]


def _estimate(step: ProvisionStep, history: _History, now: datetime) -> StepEstimate:
    ended = step.status != RunStatus.RUNNING
    before = (step.started_at or step.created_at) if ended else now
    return estimate_step(
        total=step.total,
        done=step.completed + step.failed,
        started_at=step.started_at,
        duration=step.duration,
        ended=ended,
        history=history.durations(step.step_name, step.step_type, before),
        now=now,
    )


def _operation_estimate(
    operation: ClusterOperation | OperationRow,
    steps: Sequence[ProvisionStep],
    estimates: dict[str, StepEstimate],
    history: _History,
    now: datetime,
) -> OperationEstimate | None:
    if operation.status != RunStatus.RUNNING:
        return None
    own = [step for step in steps if step.operation_id in (operation.id, None)]
    running = [estimates[s.id] for s in own if s.status == RunStatus.RUNNING]
    seen = {step.step_name for step in own if step.operation_id == operation.id}
    planned: list[float | None] = []
    for name in operation.plan or []:
        if name in seen:
            continue
        durations = history.durations(name, operation.step_type, now)
        planned.append(statistics.median(durations) if durations else None)
    return estimate_operation(running, planned)


def step_estimates(
    session: Session, steps: Sequence[ProvisionStep], *, tenant_id: str | None, now: datetime
) -> dict[str, StepEstimate]:
    """Return each step's estimate by step id (one history query per distinct step name)."""
    history = _History(session, tenant_id)
    return {step.id: _estimate(step, history, now) for step in steps}


def cluster_estimates(
    session: Session,
    steps: Sequence[ProvisionStep],
    operation: ClusterOperation | OperationRow | None,
    *,
    tenant_id: str | None,
    now: datetime,
) -> tuple[dict[str, StepEstimate], OperationEstimate | None]:
    """Return the steps' estimates by step id and the operation's (None unless it runs).

    The operation's time left adds its running steps and the planned ones not started yet;
    one history query per distinct step name serves both.
    """
    history = _History(session, tenant_id)
    estimates = {step.id: _estimate(step, history, now) for step in steps}
    if operation is None:
        return estimates, None
    return estimates, _operation_estimate(operation, steps, estimates, history, now)
