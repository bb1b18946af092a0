"""The v1.1 API (Sahara's paths): a tenant's clusters, one cluster, its current step's events.

- ``GET /v1.1/<tenant_id>/clusters``
- ``GET /v1.1/<tenant_id>/clusters/<cluster_id>`` (``show_progress``)
- ``GET /v1.1/<tenant_id>/clusters/<cluster_id>/progress`` (``provision_step``)

Every path is scoped to ``<tenant_id>``; a caller who is not an admin sees its own tenant
only, and another tenant's path looks exactly like a tenant without clusters.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from otel_provlog.api import documents, estimates, listing, params, scoping, serialize
from otel_provlog.api.auth import Principal, require_read
from otel_provlog.api.database import read_session
from otel_provlog.api.errors import not_found
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import utcnow

__all__ = ["blueprint"]

blueprint = Blueprint("clusters", __name__, url_prefix="/v1.1/<tenant_id>")

_LIST_PARAMS = ("name", "status", "created_after", "created_before")


def _caller(tenant_id: str) -> tuple[Principal, str, bool]:
    """Return the caller, the tenant id as stored, and whether the caller may read it."""
    tenant_id = params.path_id("tenant_id", tenant_id)
    principal = require_read()
    return principal, tenant_id, principal.is_admin or principal.tenant_id == tenant_id


@blueprint.get("/clusters")
def list_clusters(tenant_id: str) -> dict[str, Any]:
    """List the tenant's clusters (filters: name, status, creation window; paginated)."""
    _principal, tenant_id, allowed = _caller(tenant_id)
    return listing.cluster_page(tenant_id, tenant_key="tenant_id", allowed=allowed)


@blueprint.get("/clusters/<cluster_id>")
def get_cluster(tenant_id: str, cluster_id: str) -> dict[str, Any]:
    """Show one cluster with ``provisioning_progress`` (and events with show_progress)."""
    principal, tenant_id, allowed = _caller(tenant_id)
    cluster_id = params.path_id("cluster_id", cluster_id)
    show_progress = params.sahara_flag("show_progress")
    if not allowed:
        raise not_found(id=cluster_id)
    session = read_session()
    cluster = scoping.visible_cluster(session, cluster_id, tenant_id=tenant_id)
    return documents.cluster_document(
        session,
        cluster,
        principal=principal,
        show_progress=show_progress,
        tenant_key="tenant_id",
        now=utcnow(),
        trace_url=current_app.config["PROVLOG_TRACE_URL"],
    )


@blueprint.get("/clusters/<cluster_id>/progress")
def get_progress(tenant_id: str, cluster_id: str) -> dict[str, Any]:
    """List the events of the cluster's current step, or of ``provision_step`` (paginated)."""
    principal, tenant_id, allowed = _caller(tenant_id)
    cluster_id = params.path_id("cluster_id", cluster_id)
    step_id = params.step_id("provision_step")
    sort, limit, marker = params.sort_by(queries.EVENT_SORT_KEYS), params.limit(), params.marker()
    if not allowed:
        raise not_found(id=cluster_id)
    session = read_session()
    cluster = scoping.visible_cluster(session, cluster_id, tenant_id=tenant_id)
    if step_id is not None:
        step = queries.get_step(session, cluster.id, step_id)
        if step is None:
            raise not_found(provision_step=step_id)
    else:
        step = queries.current_step(session, cluster.id)
        if step is None:
            return {"events": [], "step": None}
    try:
        page = queries.page_events(
            session,
            cluster.id,
            filters=queries.EventFilter(step_id=step.id),
            sort=sort,
            limit=limit,
            marker=marker,
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    now = utcnow()
    estimate = estimates.step_estimates(session, [step], tenant_id=cluster.tenant_id, now=now)
    items = [serialize.event_json(e, show_stacktrace=principal.is_admin) for e in page.items]
    body = documents.page_body("events", items, page, marker_given=marker is not None)
    body["step"] = serialize.step_json(step, now=now, estimate=estimate[step.id].to_json())
    return body
