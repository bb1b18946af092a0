"""Steps and operations whose process ended without ending them become ``interrupted``.

Two ways to learn it, both run by the drain: :func:`expire_stale_steps` ends the running
steps and operations that had no news for a while (their process fell silent), and
:func:`interrupt_unended` those whose process is known to have ended without them (see
:mod:`~otel_provlog.exporter.open_spans`). What interrupted means, and what it does to the
cluster's status, is :mod:`~otel_provlog.exporter.lifecycle`'s. A span that still arrives
later ends such a row as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from otel_provlog.exporter import lifecycle, store
from otel_provlog.exporter.models import ClusterStatus, Operation, ProvisionStep, RunStatus

__all__ = ["expire_stale_steps", "interrupt_unended"]


def _interrupt(
    session: Session,
    model: type[ProvisionStep] | type[Operation],
    row_id: str,
    now: datetime,
    **values: Any,
) -> None:
    """Mark the row ``row_id`` of ``model`` interrupted at ``now`` if it is still running.

    ``values`` sets more columns.
    """
    session.execute(
        update(model)
        .where(model.id == row_id, model.status == RunStatus.RUNNING)
        .values(**lifecycle.interruption(now), **values)
    )


def expire_stale_steps(session: Session, *, now: datetime, stale_after: float) -> int:
    """Mark running steps and operations without news for ``stale_after`` seconds interrupted.

    Their process died before their span could end: they become ``interrupted``,
    ``successful`` false, ``completed_at`` ``now``, and their cluster's status ``Error``.
    News is the latest span time stored for the row (``updated_at``: its marker, its
    events) and, for an operation, for any step of its trace that was not interrupted. A
    span that still arrives later ends them as usual.

    Returns:
        How many steps and operations were marked interrupted.
    """
    cutoff = now - timedelta(seconds=stale_after)
    steps = session.execute(
        select(
            ProvisionStep.id,
            ProvisionStep.cluster_id,
            ProvisionStep.step_name,
            ProvisionStep.started_at,
        )
        .where(ProvisionStep.status == RunStatus.RUNNING, ProvisionStep.updated_at < cutoff)
        .order_by(ProvisionStep.id)
    ).all()
    operations = session.execute(
        select(Operation.id, Operation.cluster_id, Operation.step_type)
        .where(
            Operation.status == RunStatus.RUNNING,
            Operation.updated_at < cutoff,
            ~exists().where(  # a step of its trace had news: it is alive
                ProvisionStep.trace_id == Operation.trace_id,
                ProvisionStep.status != RunStatus.INTERRUPTED,
                ProvisionStep.updated_at >= cutoff,
            ),
        )
        .order_by(Operation.id)
    ).all()
    news = f": no news for {stale_after:g} s"
    _interrupt_found(session, steps, operations, now=now, step_why=news, operation_why="")
    return len(steps) + len(operations)


def interrupt_unended(session: Session, rows: Mapping[str, str], *, now: datetime) -> int:
    """Mark interrupted the running steps and operations whose process ended without them.

    ``rows`` maps row ids to ``step`` or ``operation`` (see
    :class:`~otel_provlog.exporter.open_spans.OpenSpans`). Rows already ended, or unknown,
    are left alone; a span that still arrives later ends them as usual.

    Returns:
        How many steps and operations were marked interrupted.
    """
    steps = [row_id for row_id, kind in rows.items() if kind == "step"]
    operations = [row_id for row_id, kind in rows.items() if kind == "operation"]
    found = session.execute(
        select(
            ProvisionStep.id,
            ProvisionStep.cluster_id,
            ProvisionStep.step_name,
            ProvisionStep.started_at,
        )
        .where(ProvisionStep.id.in_(steps), ProvisionStep.status == RunStatus.RUNNING)
        .order_by(ProvisionStep.id)
    ).all()
    ended = session.execute(
        select(Operation.id, Operation.cluster_id, Operation.step_type)
        .where(Operation.id.in_(operations), Operation.status == RunStatus.RUNNING)
        .order_by(Operation.id)
    ).all()
    why = ": its process ended first"
    _interrupt_found(session, found, ended, now=now, step_why=why, operation_why=why)
    return len(found) + len(ended)


def _interrupt_found(
    session: Session,
    steps: Sequence[Any],
    operations: Sequence[Any],
    *,
    now: datetime,
    step_why: str,
    operation_why: str,
) -> None:
    """Interrupt the running ``steps`` and ``operations`` at ``now``; their clusters err.

    ``steps`` hold (id, cluster id, name, start), ``operations`` (id, cluster id, step
    type); the clusters' descriptions end with ``step_why`` or ``operation_why``.
    """
    clusters: dict[str, str] = {}
    for step_id, cluster_id, name, started_at in steps:
        duration = (now - started_at).total_seconds() if started_at is not None else None
        _interrupt(session, ProvisionStep, step_id, now, duration=duration)
        clusters[cluster_id] = lifecycle.interrupted_step(name, step_why)
    for operation_id, cluster_id, step_type in operations:
        _interrupt(session, Operation, operation_id, now)
        clusters.setdefault(cluster_id, lifecycle.interrupted_operation(step_type, operation_why))
    for cluster_id, description in sorted(clusters.items()):
        store.set_cluster_status(session, cluster_id, ClusterStatus.ERROR, description=description)
