"""Drilling down into one cluster: its steps, its events and its failures, filtered and paged.

- ``GET /v2/clusters/<cluster_id>/steps`` (status, step_type, step_name, successful,
  operation_id, creation window)
- ``GET /v2/clusters/<cluster_id>/steps/<step_id>`` (one step with its estimate)
- ``GET /v2/clusters/<cluster_id>/events`` (provision_step, node_group_id, instance_id,
  successful, creation window)
- ``GET /v2/clusters/<cluster_id>/failures`` (the failed events; also error_id)
- ``GET /v2/clusters/<cluster_id>/failure-groups`` (the failed events grouped by cause;
  provision_step, node_group_id)

Every list takes ``limit`` and ``marker``, and all but the failure groups (largest first)
``sort_by`` (``-created_at`` for newest first).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from otel_provlog import attributes
from otel_provlog.api import documents, estimates, params, scoping, serialize
from otel_provlog.api.auth import Principal, require_read
from otel_provlog.api.database import read_session
from otel_provlog.api.errors import not_found
from otel_provlog.exporter import failure_groups, queries
from otel_provlog.exporter.models import RUN_STATUSES, Cluster, utcnow

__all__ = ["blueprint"]

blueprint = Blueprint("events", __name__, url_prefix="/v2/clusters/<cluster_id>")

_WINDOW = ("created_after", "created_before")
_STEP_PARAMS = ("status", "step_type", "step_name", "successful", "operation_id", *_WINDOW)
_EVENT_PARAMS = ("provision_step", "node_group_id", "instance_id", "successful", *_WINDOW)
_FAILURE_PARAMS = ("provision_step", "node_group_id", "instance_id", "error_id", *_WINDOW)
_GROUP_PARAMS = ("provision_step", "node_group_id", "limit", "marker")


def _cluster(cluster_id: str) -> tuple[Principal, Cluster]:
    principal = require_read()
    cluster_id = params.path_id("cluster_id", cluster_id)
    cluster = scoping.visible_cluster(read_session(), cluster_id, tenant_id=principal.tenant_scope)
    return principal, cluster


def _event_page(cluster_id: str, *, failures: bool) -> dict[str, Any]:
    params.check_allowed(
        "failures" if failures else "events", _FAILURE_PARAMS if failures else _EVENT_PARAMS
    )
    wanted = queries.EventFilter(
        step_id=params.step_id("provision_step"),
        node_group_ids=params.choices("node_group_id"),
        instance_ids=params.choices("instance_id"),
        successful=False if failures else params.boolean("successful"),
        error_id=params.id_text("error_id") if failures else None,
        created_after=params.timestamp("created_after"),
        created_before=params.timestamp("created_before"),
    )
    sort, limit, marker = params.sort_by(queries.EVENT_SORT_KEYS), params.limit(), params.marker()
    principal, cluster = _cluster(cluster_id)
    try:
        page = queries.page_events(
            read_session(), cluster.id, filters=wanted, sort=sort, limit=limit, marker=marker
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    items = [serialize.event_json(e, show_stacktrace=principal.is_admin) for e in page.items]
    name = "failures" if failures else "events"
    return documents.page_body(name, items, page, marker_given=marker is not None)


@blueprint.get("/steps")
def list_steps(cluster_id: str) -> dict[str, Any]:
    """List the cluster's steps, filtered and paginated."""
    params.check_allowed("steps", _STEP_PARAMS)
    given, successful = params.tristate("successful")
    wanted = queries.StepFilter(
        statuses=params.choices("status", RUN_STATUSES),
        step_types=params.choices("step_type", attributes.STEP_TYPES),
        step_name=params.text("step_name"),
        successful=successful,
        running=given and successful is None,
        operation_id=params.text("operation_id"),
        created_after=params.timestamp("created_after"),
        created_before=params.timestamp("created_before"),
    )
    sort, limit, marker = params.sort_by(queries.STEP_SORT_KEYS), params.limit(), params.marker()
    _principal, cluster = _cluster(cluster_id)
    session = read_session()
    try:
        page = queries.page_steps(
            session, cluster.id, filters=wanted, sort=sort, limit=limit, marker=marker
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    now = utcnow()
    items = [serialize.step_json(step, now=now) for step in page.items]
    return documents.page_body("steps", items, page, marker_given=marker is not None)


@blueprint.get("/steps/<step_id>")
def get_step(cluster_id: str, step_id: str) -> dict[str, Any]:
    """Show one step of the cluster, with its estimate."""
    params.check_allowed("step", [], paginated=False)
    _principal, cluster = _cluster(cluster_id)
    params.path_id("step_id", step_id)
    session = read_session()
    step = queries.get_step(session, cluster.id, step_id)
    if step is None:
        raise not_found(id=step_id)
    now = utcnow()
    estimate = estimates.step_estimates(session, [step], tenant_id=cluster.tenant_id, now=now)
    return {"step": serialize.step_json(step, now=now, estimate=estimate[step.id].to_json())}


@blueprint.get("/events")
def list_events(cluster_id: str) -> dict[str, Any]:
    """List the cluster's events, filtered and paginated."""
    return _event_page(cluster_id, failures=False)


@blueprint.get("/failures")
def list_failures(cluster_id: str) -> dict[str, Any]:
    """List the cluster's failed events (with their error ids), filtered and paginated."""
    return _event_page(cluster_id, failures=True)


@blueprint.get("/failure-groups")
def list_failure_groups(cluster_id: str) -> dict[str, Any]:
    """List the cluster's failures grouped by cause, largest group first, paginated."""
    params.check_allowed("failure groups", _GROUP_PARAMS, paginated=False)
    step_id, node_group_ids = params.step_id("provision_step"), params.choices("node_group_id")
    limit, marker = params.limit(), params.marker()
    _principal, cluster = _cluster(cluster_id)
    try:
        page = failure_groups.page_failure_groups(
            read_session(),
            cluster.id,
            step_id=step_id,
            node_group_ids=node_group_ids,
            limit=limit,
            marker=marker,
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    items = [serialize.failure_group_json(group) for group in page.items]
    return documents.page_body("failure_groups", items, page, marker_given=marker is not None)
