"""The JSON documents the API returns: a cluster, a page of cluster summaries, a list page.

A cluster GET reads the cluster, its steps, its latest operation and, per distinct step
name, a bounded list of earlier durations (:mod:`~otel_provlog.api.estimates`): its cost
grows with the number of steps, never with the number of events (the steps' ``completed``
and ``failed`` counts are kept on the step rows). Only ``show_progress=true`` reads events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from otel_provlog.api import serialize
from otel_provlog.api.auth import Principal
from otel_provlog.api.estimates import cluster_estimates
from otel_provlog.api.params import MAX_PAGE_SIZE
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import Cluster, ProvisionStep
from otel_provlog.exporter.rows import ClusterRow

__all__ = ["cluster_document", "cluster_summaries", "page_body"]

Json = dict[str, Any]


def _sahara_events(
    session: Session, steps: Sequence[ProvisionStep], *, show_stacktrace: bool
) -> dict[str, list[Json]]:
    found = queries.events_of_steps(
        session, [step.id for step in steps], limit_per_step=MAX_PAGE_SIZE
    )
    return {
        step_id: [serialize.sahara_event_json(e, show_stacktrace=show_stacktrace) for e in events]
        for step_id, events in found.items()
    }


def cluster_document(
    session: Session,
    cluster: Cluster,
    *,
    principal: Principal,
    show_progress: bool,
    tenant_key: str,
    now: datetime,
    trace_url: str | None = None,
) -> Json:
    """Return ``{"cluster": ...}`` with ``provisioning_progress`` and Sahara's fields.

    ``trace_url`` is the ``PROVLOG_TRACE_URL`` template of the operation's trace link.
    """
    steps = queries.list_steps(session, cluster.id)
    operation = queries.latest_operations(session, [cluster.id]).get(cluster.id)
    estimates, operation_estimate = cluster_estimates(
        session, steps, operation, tenant_id=cluster.tenant_id, now=now
    )
    events = (
        _sahara_events(session, steps, show_stacktrace=principal.is_admin)
        if show_progress
        else None
    )
    body = serialize.cluster_json(cluster, tenant_key=tenant_key)
    body["operation"] = (
        serialize.operation_json(
            operation,
            estimate=operation_estimate.to_json() if operation_estimate is not None else None,
            trace_url=trace_url,
        )
        if operation is not None
        else None
    )
    body["provisioning_progress"] = [
        serialize.step_json(step, now=now, estimate=estimates[step.id].to_json()) for step in steps
    ]
    body["provision_progress"] = [
        serialize.sahara_step_json(
            step,
            tenant_id=cluster.tenant_id,
            tenant_key=tenant_key,
            events=events.get(step.id, []) if events is not None else None,
        )
        for step in steps
    ]
    return {"cluster": body}


def cluster_summaries(
    session: Session,
    clusters: Iterable[ClusterRow],
    *,
    tenant_key: str,
    now: datetime,
    trace_url: str | None = None,
) -> list[Json]:
    """Return list entries for ``clusters``: their fields, steps and latest operation."""
    listed = list(clusters)
    ids = [cluster.id for cluster in listed]
    steps = queries.steps_of_clusters(session, ids)
    operations = queries.latest_operations(session, ids)
    found: list[Json] = []
    for cluster in listed:
        body = serialize.cluster_json(cluster, tenant_key=tenant_key)
        operation = operations.get(cluster.id)
        body["operation"] = (
            serialize.operation_json(operation, trace_url=trace_url) if operation else None
        )
        body["provisioning_progress"] = [
            serialize.step_json(step, now=now) for step in steps[cluster.id]
        ]
        body["provision_progress"] = [
            serialize.sahara_step_json(step, tenant_id=cluster.tenant_id, tenant_key=tenant_key)
            for step in steps[cluster.id]
        ]
        found.append(body)
    return found


def page_body(name: str, items: list[Json], page: queries.Page[Any], *, marker_given: bool) -> Json:
    """Return a list response: ``{name: items}`` plus Sahara's ``markers`` when paging."""
    body: Json = {name: items}
    if page.next is not None or page.prev is not None or marker_given:
        body["markers"] = {"prev": page.prev, "next": page.next}
    return body
