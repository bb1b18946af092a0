"""The cluster documents the views return, assembled from a few queries over step rows.

A cluster GET reads the cluster, its steps, its latest operation and, per distinct step
name, a bounded list of earlier durations: its cost grows with the number of steps, never
with the number of events (the steps' ``completed`` and ``failed`` counts are kept on the
step rows). Only ``show_progress=true`` reads events.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from otel_provlog.api import serialize
from otel_provlog.api.auth import Principal
from otel_provlog.api.errors import not_found
from otel_provlog.api.params import MAX_PAGE_SIZE
from otel_provlog.api.progress import StepEstimate, estimate_operation, estimate_step
from otel_provlog.exporter import queries
from otel_provlog.exporter.models import (
    Cluster,
    ClusterOperation,
    ProvisionStep,
    RunStatus,
)

__all__ = [
    "HISTORY_SAMPLES",
    "cluster_document",
    "cluster_summaries",
    "page_body",
    "step_estimates",
    "visible_cluster",
]

HISTORY_SAMPLES: Final = 20
"""Earlier runs of a step its expected duration is the median of."""
_FETCHED: Final = 3 * HISTORY_SAMPLES

Json = dict[str, Any]


class _History:
    """Earlier durations of steps, fetched once per (name, type) for one document."""

    def __init__(self, session: Session, tenant_id: str | None) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._cache: dict[tuple[str, str | None], list[tuple[datetime, float]]] = {}

    def durations(self, name: str, step_type: str | None, before: datetime) -> list[float]:
        key = (name, step_type)
        if key not in self._cache:
            self._cache[key] = queries.step_durations(
                self._session,
                name,
                step_type=step_type,
                tenant_id=self._tenant_id,
                limit=_FETCHED,
            )
        return [seconds for ended, seconds in self._cache[key] if ended < before][:HISTORY_SAMPLES]


def _estimate(step: ProvisionStep, history: _History, now: datetime) -> StepEstimate:
    ended = step.status != RunStatus.RUNNING
    before = (step.started_at or step.created_at) if ended else now
    return estimate_step(
        total=step.total,
        done=step.completed + step.failed,
        started_at=step.started_at,
        duration=step.duration,
        ended=ended,
        history=history.durations(step.step_name, step.step_type, before),
        now=now,
    )


def step_estimates(
    session: Session, steps: Sequence[ProvisionStep], *, tenant_id: str | None, now: datetime
) -> dict[str, StepEstimate]:
    """Return each step's estimate by step id (one history query per distinct step name)."""
    history = _History(session, tenant_id)
    return {step.id: _estimate(step, history, now) for step in steps}


def _operation_estimate(
    operation: ClusterOperation,
    steps: Sequence[ProvisionStep],
    estimates: dict[str, StepEstimate],
    history: _History,
    now: datetime,
) -> Json | None:
    if operation.status != RunStatus.RUNNING:
        return None
    own = [step for step in steps if step.operation_id in (operation.id, None)]
    running = [estimates[s.id] for s in own if s.status == RunStatus.RUNNING]
    seen = {step.step_name for step in own if step.operation_id == operation.id}
    planned: list[float | None] = []
    for name in operation.plan or []:
        if name in seen:
            continue
        durations = history.durations(name, operation.step_type, now)
        planned.append(statistics.median(durations) if durations else None)
    return estimate_operation(running, planned).to_json()


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
    history = _History(session, cluster.tenant_id)
    estimates = {step.id: _estimate(step, history, now) for step in steps}
    events = (
        _sahara_events(session, steps, show_stacktrace=principal.is_admin)
        if show_progress
        else None
    )
    body = serialize.cluster_json(cluster, tenant_key=tenant_key)
    body["operation"] = (
        serialize.operation_json(
            operation,
            estimate=_operation_estimate(operation, steps, estimates, history, now),
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
    clusters: Iterable[Cluster],
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


def visible_cluster(session: Session, cluster_id: str, *, tenant_id: str | None) -> Cluster:
    """Return the cluster if the tenant may see it; a 404 otherwise, missing or not.

    Raises:
        ApiError: 404, worded the same whether the cluster is missing or another tenant's.
    """
    cluster = queries.get_cluster(session, cluster_id, tenant_id=tenant_id)
    if cluster is None:
        raise not_found(id=cluster_id)
    return cluster


def page_body(name: str, items: list[Json], page: queries.Page[Any], *, marker_given: bool) -> Json:
    """Return a list response: ``{name: items}`` plus Sahara's ``markers`` when paging."""
    body: Json = {name: items}
    if page.next is not None or page.prev is not None or marker_given:
        body["markers"] = {"prev": page.prev, "next": page.next}
    return body
