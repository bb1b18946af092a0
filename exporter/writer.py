"""Span records into the store: one batch, one transaction, the same result in any order.

:func:`write_records` writes a batch inside the caller's transaction; :func:`write_batch`
runs it in a transaction of its own and retries when a concurrent writer got in the way.
The outcome depends only on the set of records ever written, never on their order, on how
they were split into batches, or on how often a batch was replayed:

- rows are keyed by (trace id, span id), so a span is stored once and counted once;
- an event arriving before its step creates a placeholder step (running, no name) that
  the step's start marker or its span fills in later; a marker never reopens an ended step;
- a step's ``successful`` is null while it runs, false as soon as an event failed, and
  true or false once its span ended;
- an ``operation.start`` marker makes a running operation (with its plan) at once, and
  sets the cluster's name, tenant and status; the operation span ends it, and a marker
  never reopens an ended operation;
- a step links to its operation (its parent span; the operation of its trace while only
  its marker is known) and its place in the operation's plan whichever arrives first;
  the cluster's status follows from the stored rows;
- a record that cannot be used, or that its writer may not write (another tenant's or
  another cluster's rows: :mod:`~otel_provlog.exporter.ownership`), is kept in
  ``rejected_spans`` with the reason, and never affects the others.

:func:`expire_stale_steps` ends the steps and operations whose process fell silent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.exporter import ownership, retention, store
from otel_provlog.exporter.mapping import Rejected, bound_text, clean_text
from otel_provlog.exporter.models import (
    REASON_LENGTH,
    SPAN_ID_LENGTH,
    TRACE_ID_LENGTH,
    ClusterStatus,
    Operation,
    OperationStatus,
    ProvisionStep,
    StepStatus,
    utcnow,
)
from otel_provlog.exporter.records import SpanRecord

__all__ = [
    "PAYLOAD_LIMIT",
    "WriteResult",
    "expire_stale_steps",
    "write_batch",
    "write_records",
]

logger = logging.getLogger(__name__)

PAYLOAD_LIMIT: Final = 64 * 1024
"""Most characters of a rejected record kept in ``rejected_spans.payload``."""

_REJECTED_NAMESPACE: Final = uuid.UUID("b5e0f3c2-5d0a-4c47-8f38-0e5b8f1a7d21")
_MYSQL_RETRY: Final = frozenset({1205, 1213})  # lock wait timeout, deadlock
_POSTGRES_RETRY: Final = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock


@dataclass
class WriteResult:
    """What one batch did.

    ``written`` counts records that changed the store, ``duplicates`` those already stored
    (or repeated within the batch), ``rejected`` the records that could not be used (they
    are stored in ``rejected_spans``). ``retried`` counts the records written again after
    a rolled-back attempt: the batch's size for every attempt after the first.
    """

    written: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    retried: int = 0


def _rejected_row(rejected: Rejected, at: datetime) -> dict[str, Any]:
    record = rejected.record
    try:
        payload = json.dumps(record, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        payload = repr(record)
    reason = clean_text(rejected.reason, REASON_LENGTH) or "unusable"
    digest = hashlib.sha256(f"{reason}\n{payload}".encode("utf-8", "replace")).hexdigest()
    ids: Mapping[str, Any] = record if isinstance(record, Mapping) else {}
    return {
        "id": str(uuid.uuid5(_REJECTED_NAMESPACE, digest)),
        "trace_id": clean_text(ids.get("trace_id"), TRACE_ID_LENGTH),
        "span_id": clean_text(ids.get("span_id"), SPAN_ID_LENGTH),
        "reason": reason,
        "payload": bound_text(payload, PAYLOAD_LIMIT) or "",
        "created_at": at,
    }


def write_records(
    session: Session, records: Sequence[SpanRecord], *, scope: str | None = None
) -> WriteResult:
    """Write one batch of span records inside the caller's transaction.

    ``scope`` is the writer's tenant (None: unscoped); the spans it may not write are
    rejected (:func:`~otel_provlog.exporter.ownership.admit`). Concurrent writers of
    overlapping batches can make this raise :class:`~sqlalchemy.exc.IntegrityError` (or a
    deadlock) on PostgreSQL and MariaDB; the caller then rolls back and retries, as
    :func:`write_batch` does.
    """
    admission = ownership.admit(session, records, scope=scope)
    mapped = admission.mapped
    result = WriteResult(duplicates=mapped.repeated, rejected=list(mapped.rejected))
    store.merge_clusters(session, mapped.clusters)
    operations_applied, operations_unchanged = store.merge_operations(
        session, mapped.operations, mapped.operation_markers
    )
    applied, unchanged = store.merge_steps(
        session, mapped.steps, mapped.markers, mapped.placeholders
    )
    events = retention.without_pruned_events(session, mapped.events)  # pruned: duplicates
    new_events = store.add_events(session, events)
    linked = (*mapped.operations, *mapped.operation_markers, *mapped.steps, *mapped.markers)
    store.link_steps(session, {row["trace_id"] for row in (*linked, *mapped.placeholders)})
    store.refresh_cluster_status(session, mapped.clusters)
    admission.verify(session)
    if mapped.rejected:
        now = utcnow()
        store.add_rejected(session, [_rejected_row(item, now) for item in mapped.rejected])
    result.written = operations_applied + applied + len(new_events)
    result.duplicates += operations_unchanged + unchanged + len(mapped.events) - len(new_events)
    return result


def _retryable(error: IntegrityError | OperationalError) -> bool:
    if isinstance(error, IntegrityError) or error.connection_invalidated:
        return True
    original = error.orig
    if getattr(original, "sqlstate", None) in _POSTGRES_RETRY:
        return True
    args = getattr(original, "args", ())
    if args and args[0] in _MYSQL_RETRY:
        return True
    text = str(original).lower()
    return "database is locked" in text or "deadlock" in text


def write_batch(
    session_factory: sessionmaker[Session],
    records: Sequence[SpanRecord],
    *,
    attempts: int = 5,
    scope: str | None = None,
) -> WriteResult:
    """Write one batch in a transaction of its own, retrying when a concurrent writer interfered.

    A unique-key race (another writer stored the same span or step first), a deadlock or
    a lock timeout rolls the transaction back; it is tried again, up to ``attempts`` times
    in all, after a short randomised pause. The last error is raised. The result's
    ``retried`` counts the records of every attempt after the first. ``scope`` is the
    writer's tenant, as for :func:`write_records`.

    Raises:
        ValueError: when ``attempts`` is less than 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            with session_factory.begin() as session:
                result = write_records(session, records, scope=scope)
            result.retried = len(records) * (attempt - 1)
            return result
        except (IntegrityError, OperationalError) as error:
            if attempt == attempts or not _retryable(error):
                raise
            pause = min(0.02 * 2**attempt, 1.0) * random.uniform(0.5, 1.5)
            logger.debug("batch conflicted with another writer (%s); retrying", error.orig)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def _interrupt(
    session: Session,
    model: type[ProvisionStep] | type[Operation],
    row_id: str,
    statuses: type[StepStatus] | type[OperationStatus],
    now: datetime,
    **values: Any,
) -> None:
    """Mark the row ``row_id`` of ``model`` interrupted at ``now`` if it is still running.

    ``statuses`` holds the model's status values; ``values`` sets more columns.
    """
    session.execute(
        update(model)
        .where(model.id == row_id, model.status == statuses.RUNNING)
        .values(
            status=statuses.INTERRUPTED,
            successful=False,
            completed_at=now,
            updated_at=now,
            **values,
        )
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
        .where(ProvisionStep.status == StepStatus.RUNNING, ProvisionStep.updated_at < cutoff)
        .order_by(ProvisionStep.id)
    ).all()
    clusters: dict[str, str] = {}
    for step_id, cluster_id, name, started_at in steps:
        duration = (now - started_at).total_seconds() if started_at is not None else None
        _interrupt(session, ProvisionStep, step_id, StepStatus, now, duration=duration)
        clusters[cluster_id] = f"interrupted at step {name!r}: no news for {stale_after:g} s"
    operations = session.execute(
        select(Operation.id, Operation.cluster_id, Operation.step_type)
        .where(
            Operation.status == OperationStatus.RUNNING,
            Operation.updated_at < cutoff,
            ~exists().where(  # a step of its trace had news: it is alive
                ProvisionStep.trace_id == Operation.trace_id,
                ProvisionStep.status != StepStatus.INTERRUPTED,
                ProvisionStep.updated_at >= cutoff,
            ),
        )
        .order_by(Operation.id)
    ).all()
    for operation_id, cluster_id, step_type in operations:
        _interrupt(session, Operation, operation_id, OperationStatus, now)
        clusters.setdefault(cluster_id, f"{step_type} was interrupted")
    for cluster_id, description in sorted(clusters.items()):
        store.set_cluster_status(session, cluster_id, ClusterStatus.ERROR, description=description)
    return len(steps) + len(operations)
