"""One cluster as the caller may see it: tenant scoping of the reads of a single cluster.

A cluster of another tenant is a 404 worded exactly like a missing one, so a caller learns
nothing about clusters it may not read. Lists are scoped in their queries instead (see
:mod:`~otel_provlog.api.listing`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from otel_provlog.api.errors import not_found
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import Cluster

__all__ = ["visible_cluster"]


def visible_cluster(session: Session, cluster_id: str, *, tenant_id: str | None) -> Cluster:
    """Return the cluster if the tenant may see it (any tenant when None); a 404 otherwise.

    Raises:
        ApiError: 404, worded the same whether the cluster is missing or another tenant's.
    """
    cluster = queries.get_cluster(session, cluster_id, tenant_id=tenant_id)
    if cluster is None:
        raise not_found(id=cluster_id)
    return cluster
