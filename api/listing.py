"""The lists the API's blueprints and the web page share, read for the current request.

A request's filters, order and page (see :mod:`~otel_provlog.api.params`) go to the read
functions of :mod:`otel_provlog.exporter.queries`; the rows become documents
(:mod:`~otel_provlog.api.documents`). Blueprints import this, never each other.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from otel_provlog.api import documents, params
from otel_provlog.api.database import read_session
from otel_provlog.api.errors import not_found
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import utcnow

__all__ = ["cluster_filter", "cluster_page"]


def cluster_filter() -> queries.ClusterFilter:
    """Return the cluster filters of the current request."""
    return queries.ClusterFilter(
        statuses=params.choices("status"),
        name=params.text("name"),
        created_after=params.timestamp("created_after"),
        created_before=params.timestamp("created_before"),
    )


def cluster_page(tenant_id: str | None, *, tenant_key: str, allowed: bool = True) -> dict[str, Any]:
    """Return the current request's page of clusters (of ``tenant_id`` when given)."""
    wanted, sort = cluster_filter(), params.sort_by(queries.CLUSTER_SORT_KEYS)
    limit, marker = params.limit(), params.marker()
    if not allowed:
        if marker is not None:
            raise not_found(marker=marker)
        return {"clusters": []}
    session = read_session()
    try:
        page = queries.page_clusters(
            session, tenant_id=tenant_id, filters=wanted, sort=sort, limit=limit, marker=marker
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    items = documents.cluster_summaries(
        session,
        page.items,
        tenant_key=tenant_key,
        now=utcnow(),
        trace_url=current_app.config["PROVLOG_TRACE_URL"],
    )
    return documents.page_body("clusters", items, page, marker_given=marker is not None)
