"""Sahara's v2 API paths: the caller's clusters, and one cluster with ``show_progress``.

- ``GET /v2/clusters`` (every tenant for an admin; ``project_id`` narrows it down)
- ``GET /v2/clusters/<cluster_id>?show_progress=true``

As in Sahara's v2, the tenant is called ``project_id`` (on the cluster and on each step of
``provision_progress``) and query parameters are strict: an unknown one is a 400
``INVALID_PARAMS_ON_REQUEST``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from otel_provlog.api import documents, listing, params, scoping
from otel_provlog.api.auth import require_read
from otel_provlog.api.database import read_session
from otel_provlog.exporter.models import utcnow

__all__ = ["blueprint"]

blueprint = Blueprint("sahara_v2", __name__, url_prefix="/v2")

_LIST_PARAMS = ("name", "status", "project_id", "created_after", "created_before")


@blueprint.get("/clusters")
def list_clusters() -> dict[str, Any]:
    """List the caller's clusters (an admin's: every tenant's, or ``project_id``'s)."""
    params.check_allowed("clusters_list", _LIST_PARAMS)
    principal = require_read()
    wanted = params.id_text("project_id")
    tenant = principal.tenant_scope
    allowed = True
    if wanted is not None:
        allowed = tenant is None or wanted == tenant
        tenant = wanted
    return listing.cluster_page(tenant, tenant_key="project_id", allowed=allowed)


@blueprint.get("/clusters/<cluster_id>")
def get_cluster(cluster_id: str) -> dict[str, Any]:
    """Show one cluster, Sahara v2 style (``project_id``; events with show_progress)."""
    params.check_allowed("clusters_get", ["show_progress"])
    principal = require_read()
    cluster_id = params.path_id("cluster_id", cluster_id)
    show_progress = params.sahara_flag("show_progress")
    session = read_session()
    cluster = scoping.visible_cluster(session, cluster_id, tenant_id=principal.tenant_scope)
    return documents.cluster_document(
        session,
        cluster,
        principal=principal,
        show_progress=show_progress,
        tenant_key="project_id",
        now=utcnow(),
        trace_url=current_app.config["PROVLOG_TRACE_URL"],
    )
