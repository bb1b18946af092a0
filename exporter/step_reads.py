"""Reads behind the web page's step views: one query each, whatever the step's size.

- :func:`cluster_version`: what changes whenever anything shown about a cluster changes
  (the page's ETag), in one small aggregate query;
- :func:`node_group_counts`: a step's finished events per node group, done and failed;
- :func:`instance_cells`: one tiny row per instance of a step (the instance map);
- :func:`slowest_events`: a step's events that took longest.

Like :mod:`otel_provlog.exporter.queries`, these take a session and never write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Float, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from otel_provlog.exporter.models import Cluster, ClusterEvent, Operation, ProvisionStep

__all__ = [
    "InstanceCell",
    "NodeGroupCount",
    "cluster_version",
    "instance_cells",
    "node_group_counts",
    "slowest_events",
]


class InstanceCell(NamedTuple):
    """One instance of a step: its node group, id, name and whether its event succeeded."""

    node_group_id: str | None
    instance_id: str | None
    instance_name: str | None
    successful: bool


@dataclass(frozen=True, slots=True)
class NodeGroupCount:
    """A node group's finished events in one step."""

    node_group_id: str | None
    done: int
    failed: int


def cluster_version(
    session: Session, cluster_id: str, *, tenant_id: str | None = None
) -> tuple[Any, ...] | None:
    """Return a value that changes whenever the cluster, its operations or steps change.

    None when the cluster is missing (or, with ``tenant_id``, another tenant's): the same
    scoping as :func:`~otel_provlog.exporter.queries.get_cluster`, in one query.
    """
    operations = (
        select(func.max(Operation.updated_at))
        .where(Operation.cluster_id == Cluster.id)
        .correlate(Cluster)
        .scalar_subquery()
    )
    query = (
        select(
            Cluster.status,
            Cluster.updated_at,
            Cluster.name,
            operations,
            func.count(ProvisionStep.id),
            func.max(ProvisionStep.updated_at),
            func.sum(ProvisionStep.completed + ProvisionStep.failed),
        )
        .outerjoin(ProvisionStep, ProvisionStep.cluster_id == Cluster.id)
        .where(Cluster.id == cluster_id)
        .group_by(Cluster.id, Cluster.status, Cluster.updated_at, Cluster.name)
    )
    if tenant_id is not None:
        query = query.where(Cluster.tenant_id == tenant_id)
    found = session.execute(query).one_or_none()
    return None if found is None else tuple(found)


def node_group_counts(session: Session, step_id: str) -> list[NodeGroupCount]:
    """Return the step's finished events per node group (done, failed), by node group id."""
    failed = func.sum(case((ClusterEvent.successful.is_(False), 1), else_=0))
    query = (
        select(ClusterEvent.node_group_id, func.count(), failed)
        .where(ClusterEvent.provision_step_id == step_id)
        .group_by(ClusterEvent.node_group_id)
        .order_by(ClusterEvent.node_group_id)
    )
    return [
        NodeGroupCount(group, int(count) - int(bad or 0), int(bad or 0))
        for group, count, bad in session.execute(query)
    ]


def instance_cells(session: Session, step_id: str) -> list[InstanceCell]:
    """Return one cell per instance of the step, by node group and name.

    An instance with several events in the step (a retry) shows its latest outcome.
    """
    query = (
        select(
            ClusterEvent.node_group_id,
            ClusterEvent.instance_id,
            ClusterEvent.instance_name,
            ClusterEvent.successful,
        )
        .where(ClusterEvent.provision_step_id == step_id)
        .order_by(ClusterEvent.created_at, ClusterEvent.id)
    )
    latest: dict[tuple[str | None, str | None], InstanceCell] = {}
    for number, row in enumerate(session.execute(query)):
        cell = InstanceCell(*row)
        key = (cell.node_group_id, cell.instance_id or f"#{number}")
        latest.pop(key, None)
        latest[key] = cell
    return sorted(
        latest.values(),
        key=lambda cell: (
            cell.node_group_id or "",
            cell.instance_name or "",
            cell.instance_id or "",
        ),
    )


def slowest_events(session: Session, step_id: str, *, limit: int = 10) -> Sequence[ClusterEvent]:
    """Return the step's events that took longest (from ``started_at`` to ``created_at``)."""
    seconds = _seconds(session, ClusterEvent.started_at, ClusterEvent.created_at)
    query = (
        select(ClusterEvent)
        .where(ClusterEvent.provision_step_id == step_id, ClusterEvent.started_at.is_not(None))
        .order_by(seconds.desc(), ClusterEvent.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def _seconds(session: Session, start: Any, end: Any) -> Any:
    """Seconds from ``start`` to ``end`` in the session's SQL dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    if dialect in ("mysql", "mariadb"):
        return func.timestampdiff(literal_column("MICROSECOND"), start, end)
    return cast(func.julianday(end) - func.julianday(start), Float)
