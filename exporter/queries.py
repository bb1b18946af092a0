"""Data access for readers: queries that take a session and never write.

The API, the web page and the command line read the store through these functions only.

Lists are paged by keyset (:mod:`~otel_provlog.exporter.keyset`): rows come in a stable
order of (sort key, ``id``) and a page starts after the *marker*, the id of the last row of
the page before. Sort keys are columns that do not change once a row exists (``created_at``,
names), so a row cannot move behind the marker while it is being read. A list here is a
declaration: its model, the scope its markers must lie in, and its filters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any, Final

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from otel_provlog.exporter.keyset import (
    AnyResult,
    AnySelect,
    Keyset,
    MarkerNotFoundError,
    Ordering,
    Page,
    Sort,
    boundary_of,
)
from otel_provlog.exporter.models import Cluster, ClusterEvent, ClusterOperation, ProvisionStep
from otel_provlog.exporter.rows import ClusterRow, OperationRow, StepRow, columns_of, read_rows

__all__ = [
    "CLUSTER_SORT_KEYS",
    "EVENT_SORT_KEYS",
    "STEP_SORT_KEYS",
    "ClusterFilter",
    "EventFilter",
    "MarkerNotFoundError",
    "Page",
    "Sort",
    "StepFilter",
    "current_step",
    "events_of_steps",
    "get_cluster",
    "get_step",
    "latest_operations",
    "list_events",
    "list_steps",
    "page_clusters",
    "page_events",
    "page_steps",
    "step_durations",
    "steps_of_clusters",
]

CLUSTER_SORT_KEYS: Final = ("created_at", "name", "id")
"""Keys a cluster list may be sorted by."""
STEP_SORT_KEYS: Final = ("created_at", "step_name", "id")
"""Keys a step list may be sorted by."""
EVENT_SORT_KEYS: Final = ("created_at", "instance_name", "id")
"""Keys an event list may be sorted by."""

_CLUSTERS: Final = Cluster.__table__
_OPERATIONS: Final = ClusterOperation.__table__
_STEPS: Final = ProvisionStep.__table__


@dataclass(frozen=True, slots=True)
class _Window:
    created_after: datetime | None = None
    created_before: datetime | None = None

    def conditions(
        self, column: InstrumentedAttribute[datetime] | ColumnElement[datetime]
    ) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.created_after is not None:
            found.append(column >= self.created_after)
        if self.created_before is not None:
            found.append(column < self.created_before)
        return found


@dataclass(frozen=True, slots=True)
class ClusterFilter(_Window):
    """What a cluster list keeps: any given status, an exact name, a creation window."""

    statuses: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True, slots=True)
class StepFilter(_Window):
    """What a step list keeps: status, type, name, outcome (tri-state), operation, window."""

    statuses: tuple[str, ...] = ()
    step_types: tuple[str, ...] = ()
    step_name: str | None = None
    successful: bool | None = None
    running: bool = False
    """Keep steps whose ``successful`` is still null (ignores ``successful``)."""
    operation_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventFilter(_Window):
    """What an event list keeps: step, node group, instance, outcome, error, window.

    ``instance_name`` is an exact name; ``error_fingerprint`` keeps one failure group.
    """

    step_id: str | None = None
    node_group_ids: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    successful: bool | None = None
    error_id: str | None = None
    instance_name: str | None = None
    error_fingerprint: str | None = None


def get_cluster(
    session: Session, cluster_id: str, *, tenant_id: str | None = None
) -> Cluster | None:
    """Return the cluster ``cluster_id``, or None; with ``tenant_id``, only if it owns it."""
    query = select(Cluster).where(Cluster.id == cluster_id)
    if tenant_id is not None:
        query = query.where(Cluster.tenant_id == tenant_id)
    return session.scalars(query).one_or_none()


def get_step(session: Session, cluster_id: str, step_id: str) -> ProvisionStep | None:
    """Return the step ``step_id`` of the cluster ``cluster_id``, or None."""
    query = select(ProvisionStep).where(
        ProvisionStep.id == step_id, ProvisionStep.cluster_id == cluster_id
    )
    return session.scalars(query).one_or_none()


def list_steps(session: Session, cluster_id: str) -> Sequence[ProvisionStep]:
    """Return the cluster's steps, oldest first (``created_at``, then ``id``)."""
    query = (
        select(ProvisionStep)
        .where(ProvisionStep.cluster_id == cluster_id)
        .order_by(ProvisionStep.created_at, ProvisionStep.id)
    )
    return session.scalars(query).all()


@cache
def _steps_of_clusters_query() -> AnySelect:
    steps = _STEPS.c
    return (
        select(*columns_of(_STEPS, StepRow))
        .where(steps.cluster_id.in_(bindparam("cluster_ids", expanding=True)))
        .order_by(steps.created_at, steps.id)
    )


def steps_of_clusters(session: Session, cluster_ids: Iterable[str]) -> dict[str, list[StepRow]]:
    """Return the steps of each cluster in ``cluster_ids``, oldest first, in one query."""
    ids = list(cluster_ids)
    found: dict[str, list[StepRow]] = {cluster_id: [] for cluster_id in ids}
    if not ids:
        return found
    result = session.execute(_steps_of_clusters_query(), {"cluster_ids": ids})
    for step in read_rows(StepRow, result):
        found[step.cluster_id].append(step)
    return found


@cache
def _latest_operations_query() -> AnySelect:
    # The newest per cluster, by the database (one index lookup per cluster): a cluster's
    # older operations are not loaded.
    operations, other = _OPERATIONS.c, _OPERATIONS.alias().c
    newest = (
        select(other.id)
        .where(other.cluster_id == operations.cluster_id)
        .order_by(other.created_at.desc(), other.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(*columns_of(_OPERATIONS, OperationRow)).where(
        operations.cluster_id.in_(bindparam("cluster_ids", expanding=True)),
        operations.id == newest,
    )


def latest_operations(session: Session, cluster_ids: Iterable[str]) -> dict[str, OperationRow]:
    """Return the newest operation of each cluster in ``cluster_ids`` that has one."""
    ids = list(cluster_ids)
    if not ids:
        return {}
    result = session.execute(_latest_operations_query(), {"cluster_ids": ids})
    return {row.cluster_id: row for row in read_rows(OperationRow, result)}


def current_step(session: Session, cluster_id: str) -> ProvisionStep | None:
    """Return the step the cluster is in: the newest one, or None before its first step."""
    query = (
        select(ProvisionStep)
        .where(ProvisionStep.cluster_id == cluster_id)
        .order_by(ProvisionStep.created_at.desc(), ProvisionStep.id.desc())
        .limit(1)
    )
    return session.scalars(query).one_or_none()


def list_events(
    session: Session, cluster_id: str, *, step_id: str | None = None, limit: int | None = None
) -> Sequence[ClusterEvent]:
    """Return the cluster's events (of one step when ``step_id`` is given), oldest first."""
    query = select(ClusterEvent).where(ClusterEvent.cluster_id == cluster_id)
    if step_id is not None:
        query = query.where(ClusterEvent.provision_step_id == step_id)
    query = query.order_by(ClusterEvent.created_at, ClusterEvent.id)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def events_of_steps(
    session: Session, step_ids: Iterable[str], *, limit_per_step: int
) -> dict[str, list[ClusterEvent]]:
    """Return up to ``limit_per_step`` events of each step, oldest first (one query a step)."""
    found: dict[str, list[ClusterEvent]] = {}
    for step_id in step_ids:
        query = (
            select(ClusterEvent)
            .where(ClusterEvent.provision_step_id == step_id)
            .order_by(ClusterEvent.created_at, ClusterEvent.id)
            .limit(limit_per_step)
        )
        found[step_id] = list(session.scalars(query))
    return found


def step_durations(
    session: Session,
    step_name: str,
    *,
    step_type: str | None,
    tenant_id: str | None = None,
    limit: int = 20,
) -> list[tuple[datetime, float]]:
    """Return (ended, seconds) of the latest successful runs of a step, newest first.

    Only ended steps of the same name and type count; with ``tenant_id``, only steps of
    that tenant's clusters.
    """
    query = (
        select(ProvisionStep.completed_at, ProvisionStep.duration)
        .where(
            ProvisionStep.step_name == step_name,
            ProvisionStep.duration.is_not(None),
            ProvisionStep.completed_at.is_not(None),
            ProvisionStep.successful.is_(True),
        )
        .order_by(ProvisionStep.completed_at.desc(), ProvisionStep.id.desc())
        .limit(limit)
    )
    if step_type is not None:
        query = query.where(ProvisionStep.step_type == step_type)
    if tenant_id is not None:
        query = query.join(Cluster, Cluster.id == ProvisionStep.cluster_id).where(
            Cluster.tenant_id == tenant_id
        )
    return [
        (ended, float(seconds))
        for ended, seconds in session.execute(query)
        if ended is not None and seconds is not None
    ]


_TEXT_KEYS: Final = frozenset({"name", "step_name", "instance_name"})
"""Sort keys that may be null: they sort as the empty text."""


def _entities(result: AnyResult) -> Sequence[Any]:
    return result.scalars().all()


def _page(
    session: Session,
    columns: Any,
    selected: Sequence[Any],
    read: Callable[[AnyResult], Sequence[Any]],
    scope: Sequence[ColumnElement[bool]],
    conditions: Sequence[ColumnElement[bool]],
    sort: Sort | None,
    *,
    limit: int,
    marker: str | None,
) -> Page[Any]:
    """Return one page of the ``selected`` rows within ``scope`` and ``conditions``.

    ``columns`` names the list's columns (an ORM model, or a table's ``c``); ``read`` makes
    rows of a result. The marker must name a row within ``scope`` (conditions aside).
    """
    sort = sort or Sort()
    column = getattr(columns, sort.key)
    key = func.coalesce(column, "") if sort.key in _TEXT_KEYS else column
    ident = columns.id
    boundary = None
    if marker is not None:
        boundary = boundary_of(session, select(key, ident).where(*scope, ident == marker), marker)

    def values(row: Any) -> tuple[Any, str]:
        value = getattr(row, sort.key)
        return ("" if value is None else value, row.id)

    keyset: Keyset[Any] = Keyset(
        select(*selected).where(*scope, *conditions),
        (Ordering(key, sort.descending), Ordering(ident, sort.descending)),
        read=read,
        values=values,
    )
    return keyset.page(session, limit=limit, boundary=boundary)


def _cluster_conditions(wanted: ClusterFilter) -> list[ColumnElement[bool]]:
    found = wanted.conditions(_CLUSTERS.c.created_at)
    if wanted.statuses:
        found.append(_CLUSTERS.c.status.in_(wanted.statuses))
    if wanted.name is not None:
        found.append(_CLUSTERS.c.name == wanted.name)
    return found


def _step_conditions(wanted: StepFilter) -> list[ColumnElement[bool]]:
    found = wanted.conditions(ProvisionStep.created_at)
    if wanted.statuses:
        found.append(ProvisionStep.status.in_(wanted.statuses))
    if wanted.step_types:
        found.append(ProvisionStep.step_type.in_(wanted.step_types))
    if wanted.step_name is not None:
        found.append(ProvisionStep.step_name == wanted.step_name)
    if wanted.running:
        found.append(ProvisionStep.successful.is_(None))
    elif wanted.successful is not None:
        found.append(ProvisionStep.successful.is_(wanted.successful))
    if wanted.operation_id is not None:
        found.append(ProvisionStep.operation_id == wanted.operation_id)
    return found


def _event_conditions(wanted: EventFilter) -> list[ColumnElement[bool]]:
    found = wanted.conditions(ClusterEvent.created_at)
    if wanted.step_id is not None:
        found.append(ClusterEvent.provision_step_id == wanted.step_id)
    if wanted.node_group_ids:
        found.append(ClusterEvent.node_group_id.in_(wanted.node_group_ids))
    if wanted.instance_ids:
        found.append(ClusterEvent.instance_id.in_(wanted.instance_ids))
    if wanted.successful is not None:
        found.append(ClusterEvent.successful.is_(wanted.successful))
    if wanted.error_id is not None:
        found.append(ClusterEvent.error_id == wanted.error_id)
    if wanted.instance_name is not None:
        found.append(ClusterEvent.instance_name == wanted.instance_name)
    if wanted.error_fingerprint is not None:
        found.append(ClusterEvent.error_fingerprint == wanted.error_fingerprint)
    return found


def page_clusters(
    session: Session,
    *,
    tenant_id: str | None = None,
    filters: ClusterFilter | None = None,
    sort: Sort | None = None,
    limit: int = 100,
    marker: str | None = None,
) -> Page[ClusterRow]:
    """Return one page of clusters (of ``tenant_id`` when given), as plain rows.

    Raises:
        MarkerNotFoundError: the marker names no cluster of that tenant.
    """
    # Core columns and plain rows: a page of a hundred clusters loads no ORM object.
    scope = [] if tenant_id is None else [_CLUSTERS.c.tenant_id == tenant_id]
    conditions = _cluster_conditions(filters or ClusterFilter())
    selected, read = columns_of(_CLUSTERS, ClusterRow), partial(read_rows, ClusterRow)
    return _page(
        session, _CLUSTERS.c, selected, read, scope, conditions, sort, limit=limit, marker=marker
    )


def page_steps(
    session: Session,
    cluster_id: str,
    *,
    filters: StepFilter | None = None,
    sort: Sort | None = None,
    limit: int = 100,
    marker: str | None = None,
) -> Page[ProvisionStep]:
    """Return one page of the cluster's steps.

    Raises:
        MarkerNotFoundError: the marker names no step of that cluster.
    """
    scope = [ProvisionStep.cluster_id == cluster_id]
    conditions = _step_conditions(filters or StepFilter())
    return _page(
        session,
        ProvisionStep,
        [ProvisionStep],
        _entities,
        scope,
        conditions,
        sort,
        limit=limit,
        marker=marker,
    )


def page_events(
    session: Session,
    cluster_id: str,
    *,
    filters: EventFilter | None = None,
    sort: Sort | None = None,
    limit: int = 100,
    marker: str | None = None,
) -> Page[ClusterEvent]:
    """Return one page of the cluster's events.

    Raises:
        MarkerNotFoundError: the marker names no event of that cluster.
    """
    scope = [ClusterEvent.cluster_id == cluster_id]
    conditions = _event_conditions(filters or EventFilter())
    return _page(
        session,
        ClusterEvent,
        [ClusterEvent],
        _entities,
        scope,
        conditions,
        sort,
        limit=limit,
        marker=marker,
    )
