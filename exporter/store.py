"""Data access for writers: idempotent inserts and merges that take a session.

The exporter and the command line write through these functions; the API reads through
:mod:`otel_provlog.exporter.queries`. Every function takes a :class:`~sqlalchemy.orm.Session`
and leaves the transaction to its caller (``with factory.begin() as session: ...``), so one
batch of spans is one transaction however many functions it calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, insert, select, tuple_, update
from sqlalchemy.orm import Session

from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    ClusterStatus,
    ProvisionStep,
    utcnow,
)

__all__ = [
    "add_events",
    "ensure_clusters",
    "insert_missing",
    "set_cluster_status",
]

Row = Mapping[str, Any]
"""A row as a mapping of column names to values."""

_KEY_BATCH = 500


def insert_missing(
    session: Session, model: type[Base], rows: Sequence[Row], key: Sequence[str]
) -> list[Row]:
    """Insert the ``rows`` whose ``key`` columns match no stored row; return those inserted.

    Rows repeating a key within ``rows`` are inserted once (the first wins). Portable across
    SQLite, PostgreSQL and MariaDB: existing keys are read, then the rest is inserted in one
    statement. A concurrent writer inserting the same key makes the insert fail with an
    integrity error; the caller retries its transaction, which then skips that row.
    """
    if not rows:
        return []
    table: Table = model.__table__  # type: ignore[assignment]
    columns = [table.c[name] for name in key]
    unique: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        unique.setdefault(tuple(row[name] for name in key), row)
    keys = list(unique)
    for start in range(0, len(keys), _KEY_BATCH):
        chunk = keys[start : start + _KEY_BATCH]
        if len(columns) == 1:
            found = select(columns[0]).where(columns[0].in_([k[0] for k in chunk]))
        else:
            found = select(*columns).where(tuple_(*columns).in_(chunk))
        for existing in session.execute(found):
            unique.pop(tuple(existing), None)
    new_rows = list(unique.values())
    if new_rows:
        session.execute(insert(table), new_rows)
    return new_rows


def ensure_clusters(session: Session, clusters: Mapping[str, Row], *, at: datetime) -> None:
    """Make sure every cluster in ``clusters`` (id -> ``name``/``tenant_id``) has a row.

    Missing clusters are created with status ``Unknown``; for existing ones, a non-empty
    ``name`` or ``tenant_id`` given here fills or replaces the stored value.
    """
    if not clusters:
        return
    rows = [
        {
            "id": cluster_id,
            "name": info.get("name"),
            "tenant_id": info.get("tenant_id"),
            "status": ClusterStatus.UNKNOWN,
            "created_at": at,
            "updated_at": at,
        }
        for cluster_id, info in clusters.items()
    ]
    inserted = {row["id"] for row in insert_missing(session, Cluster, rows, ["id"])}
    for cluster_id, info in clusters.items():
        values = {k: info[k] for k in ("name", "tenant_id") if info.get(k)}
        if cluster_id in inserted or not values:
            continue
        session.execute(
            update(Cluster).where(Cluster.id == cluster_id).values(**values, updated_at=at)
        )


def set_cluster_status(
    session: Session, cluster_id: str, status: str, *, description: str | None = None
) -> None:
    """Set a cluster's status (one of :class:`ClusterStatus`) and its description."""
    session.execute(
        update(Cluster)
        .where(Cluster.id == cluster_id)
        .values(status=status, status_description=description, updated_at=utcnow())
    )


def add_events(session: Session, rows: Iterable[Row]) -> list[Row]:
    """Insert event rows not stored yet and count them into their steps; return the new ones.

    Each row holds the :class:`ClusterEvent` columns; its step row must exist. Replaying
    the same events inserts nothing and counts nothing, so the steps' ``completed`` and
    ``failed`` stay exact however often a batch is retried. A failed event makes its step's
    ``successful`` false at once.
    """
    new_rows = insert_missing(session, ClusterEvent, list(rows), ["trace_id", "span_id"])
    per_step: dict[str, list[Row]] = {}
    for row in new_rows:
        per_step.setdefault(row["provision_step_id"], []).append(row)
    for step_id, events in per_step.items():
        succeeded = sum(1 for event in events if event["successful"])
        failed = len(events) - succeeded
        latest = max(event["created_at"] for event in events)
        values: dict[str, Any] = {
            "completed": ProvisionStep.completed + succeeded,
            "failed": ProvisionStep.failed + failed,
            "updated_at": case(
                (ProvisionStep.updated_at < latest, latest), else_=ProvisionStep.updated_at
            ),
        }
        if failed:
            values["successful"] = False
        session.execute(update(ProvisionStep).where(ProvisionStep.id == step_id).values(**values))
    return new_rows
