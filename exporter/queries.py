"""Data access for readers: queries that take a session and never write.

The API, the web page and the command line read the store through these functions only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from otel_provlog.exporter.models import Cluster, ClusterEvent, ProvisionStep

__all__ = ["current_step", "get_cluster", "list_events", "list_steps"]


def get_cluster(
    session: Session, cluster_id: str, *, tenant_id: str | None = None
) -> Cluster | None:
    """Return the cluster ``cluster_id``, or None; with ``tenant_id``, only if it owns it."""
    query = select(Cluster).where(Cluster.id == cluster_id)
    if tenant_id is not None:
        query = query.where(Cluster.tenant_id == tenant_id)
    return session.scalars(query).one_or_none()


def list_steps(session: Session, cluster_id: str) -> Sequence[ProvisionStep]:
    """Return the cluster's steps, oldest first (``created_at``, then ``id``)."""
    query = (
        select(ProvisionStep)
        .where(ProvisionStep.cluster_id == cluster_id)
        .order_by(ProvisionStep.created_at, ProvisionStep.id)
    )
    return session.scalars(query).all()


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
