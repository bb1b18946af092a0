"""What the pages show, assembled from the API's own documents and reads.

The cluster list and the cluster header come from the documents the API returns
(:mod:`otel_provlog.api.documents`); the failure groups, events and per-step views from the
reads of :mod:`otel_provlog.exporter`. Each section costs one query or a few, never one per
instance. Values stay raw here: the templates escape every recorded text.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from otel_provlog.api import documents, params, scoping
from otel_provlog.api.auth import Principal
from otel_provlog.api.errors import ApiError, not_found
from otel_provlog.api.progress import format_duration
from otel_provlog.exporter import failure_groups, queries, step_reads
from otel_provlog.exporter.failure_groups import FailureGroup
from otel_provlog.exporter.models import ClusterStatus, RunStatus

__all__ = [
    "CLUSTER_STATUSES",
    "EVENT_PAGE_SIZE",
    "cluster_row",
    "cluster_view",
    "glyph",
    "groups_markdown",
    "instance_view",
]

Json = dict[str, Any]

CLUSTER_STATUSES: Final = (
    ClusterStatus.CREATING,
    ClusterStatus.SCALING,
    ClusterStatus.DELETING,
    ClusterStatus.ACTIVE,
    ClusterStatus.ERROR,
    ClusterStatus.DELETED,
    ClusterStatus.UNKNOWN,
)
EVENT_PAGE_SIZE: Final = 50
"""Events in one page of a step's event list."""
GROUPS_SHOWN: Final = 10
"""Failure groups in one page of the cluster page."""
SLOWEST_SHOWN: Final = 10
"""Running instances listed as the step's slowest."""
EARLIER_KEPT: Final = 32
"""Steps whose earlier instances a memo keeps."""
_GLYPHS: Final = {
    "running": "◔",
    "creating": "◔",
    "scaling": "◔",
    "deleting": "◔",
    "successful": "✓",
    "active": "✓",
    "done": "✓",
    "failed": "✗",
    "error": "✗",
    "interrupted": "⚠",
    "deleted": "\u2013",  # an en dash
    "pending": "·",
    "unknown": "?",
}
_EVENT_SORTS: Final = {
    "failures": queries.Sort("successful"),
    "-created_at": queries.Sort("created_at", descending=True),
    "created_at": queries.Sort("created_at"),
    "instance_name": queries.Sort("instance_name"),
}
_STATES: Final = {"failed": False, "done": True}


def glyph(status: str | None) -> str:
    """Return the glyph shown beside a status (never colour alone)."""
    return _GLYPHS.get((status or "unknown").lower(), "?")


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _elapsed(started: str | None, ended: str | None, now: datetime) -> float | None:
    begin = _time(started)
    if begin is None:
        return None
    return max(0.0, ((_time(ended) or now) - begin).total_seconds())


def _current(steps: Sequence[Json]) -> Json | None:
    running = [step for step in steps if step["status"] == RunStatus.RUNNING]
    chosen = running or list(steps)
    return chosen[-1] if chosen else None


def _own_steps(steps: Sequence[Json], operation: Json | None) -> list[Json]:
    if operation is None:
        return list(steps)
    return [s for s in steps if s["operation_id"] in (operation["id"], None)]


def cluster_row(item: Json, *, now: datetime) -> Json:
    """Return one row of the cluster list from its entry in ``GET /v2/clusters``."""
    operation = item["operation"]
    steps = _own_steps(item["provisioning_progress"], operation)
    step = _current(steps)
    started = operation["started_at"] if operation else item["created_at"]
    ended = operation["completed_at"] if operation else None
    return {
        "id": item["id"],
        "name": item["name"],
        "tenant_id": item["tenant_id"],
        "status": item["status"],
        "operation": operation,
        "step": step,
        "failed": sum(s["failed"] for s in steps),
        "started_at": started,
        "elapsed": format_duration(_elapsed(started, ended, now) or 0.0),
        "running": bool(operation and operation["status"] == RunStatus.RUNNING),
    }


def _estimate_text(operation: Json | None, current: Json | None) -> str | None:
    if operation is None or operation["status"] != RunStatus.RUNNING:
        return None
    estimate = operation.get("estimate") or {}
    seconds = estimate.get("seconds_left")
    if seconds is None:
        return "no history yet"
    basis = (current or {}).get("estimate", {}).get("basis", "history")
    samples = (current or {}).get("estimate", {}).get("history_samples", 0)
    low, high = format_duration(seconds * 0.8), format_duration(seconds * 1.25)
    span = low if low == high else f"{low} to {high}"
    words = {"rate": "the current step's rate", "history": f"{samples} earlier runs"}
    why = words.get(basis, f"the current step's rate and {samples} earlier runs")
    unknown = estimate.get("unknown_steps") or 0
    more = f"; {unknown} step(s) never ran before are not counted" if unknown else ""
    return f"{span} left (from {why}{more})"


def _plan(operation: Json | None, steps: Sequence[Json]) -> list[Json]:
    """Return the operation's declared steps in order, each with its step once it started."""
    by_name = {step["step_name"]: step for step in steps}
    rows: list[Json] = []
    for name in (operation or {}).get("plan") or []:
        rows.append({"name": name, "step": by_name.pop(name, None)})
    rows += [{"name": step["step_name"], "step": step} for step in by_name.values()]
    return rows


def _timeline(steps: Sequence[Json], now: datetime) -> list[Json]:
    """Each started step's bar, as percentages of the span from first start to last end."""
    timed: list[tuple[Json, datetime, datetime]] = []
    for step in steps:
        begin = _time(step["started_at"])
        if begin is not None:
            timed.append((step, begin, _time(step["completed_at"]) or now))
    if not timed:
        return []
    first = min(begin for _, begin, _ in timed)
    span = max((max(end for _, _, end in timed) - first).total_seconds(), 1e-3)
    return [
        {
            "step": step,
            "x": round(100 * (begin - first).total_seconds() / span, 2),
            "width": max(round(100 * (end - begin).total_seconds() / span, 2), 0.3),
        }
        for step, begin, end in timed
    ]


def _chosen_step(steps: Sequence[Json], args: Mapping[str, str]) -> Json | None:
    wanted = params.step_id("step") if args.get("step") else None
    if wanted is None:
        return _current(steps)
    for step in steps:
        if step["id"] == wanted:
            return step
    raise not_found(step=wanted)


def _events(session: Session, cluster_id: str, step: Json | None, args: Mapping[str, str]) -> Json:
    state = args.get("state") or None
    if state is not None and state not in _STATES:
        raise ApiError(400, "'state' must be failed or done", name="VALIDATION_ERROR")
    sort = _EVENT_SORTS.get(args.get("sort") or "failures")
    if sort is None:
        raise ApiError(400, f"'sort' must be one of {list(_EVENT_SORTS)}", name="VALIDATION_ERROR")
    wanted = queries.EventFilter(
        step_id=step["id"] if step else None,
        node_group_ids=params.choices("ng"),
        successful=None if state is None else _STATES[state],
        instance_name=params.text("name"),
        error_fingerprint=params.text("fp"),
    )
    marker = params.marker()
    try:
        page = queries.page_events(
            session, cluster_id, filters=wanted, sort=sort, limit=EVENT_PAGE_SIZE, marker=marker
        )
    except queries.MarkerNotFoundError:
        raise not_found(marker=marker or "") from None
    return {"items": page.items, "next": page.next, "prev": page.prev, "marker": marker}


def _earlier_key(steps: Sequence[Json], step: Json) -> tuple[Any, ...]:
    """Return what the instances seen before ``step`` depend on: the earlier steps."""
    earlier = [
        (s["id"], s["completed"], s["failed"], s["status"], s["updated_at"])
        for s in steps
        if s["operation_id"] == step["operation_id"] and s["created_at"] < step["created_at"]
    ]
    return (step["id"], step["status"], tuple(earlier))


def _step_view(
    session: Session,
    step: Json,
    steps: Sequence[Json],
    now: datetime,
    memo: MutableMapping[Any, Any] | None,
) -> Json:
    """Return the chosen step's node groups, instance map and slowest running instances.

    Pending instances (never seen by the store: no node group known) count at the step
    level: its ``total`` less the done, failed and running ones. With ``memo`` the
    instances of earlier steps are read again only when those steps changed.
    """
    key = _earlier_key(steps, step)
    earlier = None if memo is None else memo.get(key)
    if earlier is None:
        earlier = step_reads.earlier_instances(session, step["id"])
        if memo is not None:
            if len(memo) >= EARLIER_KEPT:
                memo.clear()
            memo[key] = earlier
    found = step_reads.step_instances(session, step["id"], earlier=earlier)
    known = len(found.cells)
    total = step["total"]
    unseen = max(0, total - known) if total is not None else 0
    ended = step["status"] != RunStatus.RUNNING
    groups = [
        (group, list(members))
        for group, members in itertools.groupby(found.cells, key=lambda cell: cell.node_group_id)
    ]
    slowest = [
        {"cell": cell, "seconds": max(0.0, (now - cell.since).total_seconds())}
        for cell in found.running[:SLOWEST_SHOWN]
        if cell.since is not None
    ]
    return {
        "node_groups": found.node_groups,
        "groups": groups,
        "running": len(found.running),
        "pending": 0 if ended else unseen,
        "missing": unseen if ended else 0,
        "beyond_total": total is not None and known > total,
        "slowest": slowest,
    }


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def groups_markdown(cluster: Json, groups: Sequence[FailureGroup]) -> str:
    """Return the failure groups as a Markdown table to paste into a ticket."""
    name = cluster["name"] or cluster["id"]
    lines = [
        f"Failures of cluster {_md(name)} ({_md(cluster['id'])}), by cause:",
        "",
        "| failures | cause | node groups | first seen | last seen | example error ids |",
        "|---:|---|---|---|---|---|",
    ]
    for group in groups:
        node_groups = ", ".join(f"{_md(k or '-')}: {v}" for k, v in group.node_groups.items())
        errors = ", ".join(_md(e.error_id) for e in group.examples if e.error_id)
        first, last = (
            f"{group.first_seen:%Y-%m-%d %H:%M:%S}",
            f"{group.last_seen:%Y-%m-%d %H:%M:%S}",
        )
        lines.append(
            f"| {group.count} | `{_md(group.message or group.pattern)}` | {node_groups} | "
            f"{first} | {last} | {errors} |"
        )
    return "\n".join(lines)


def cluster_view(
    session: Session,
    cluster_id: str,
    *,
    principal: Principal,
    args: Mapping[str, str],
    trace_url: str | None,
    now: datetime,
    memo: MutableMapping[Any, Any] | None = None,
) -> Json:
    """Return everything the cluster page shows (a few queries per section, none per row).

    ``memo`` (a mapping kept between calls) saves reading a running step's earlier
    instances again while the earlier steps do not change.
    """
    cluster = scoping.visible_cluster(session, cluster_id, tenant_id=principal.tenant_scope)
    doc = documents.cluster_document(
        session,
        cluster,
        principal=principal,
        show_progress=False,
        tenant_key="tenant_id",
        now=now,
        trace_url=trace_url,
    )["cluster"]
    operation, steps = doc["operation"], doc["provisioning_progress"]
    own = _own_steps(steps, operation)
    step = _chosen_step(steps, args)
    groups_marker = params.text("groups_marker")
    try:
        groups = failure_groups.page_failure_groups(
            session, cluster.id, limit=GROUPS_SHOWN, marker=groups_marker
        )
    except queries.MarkerNotFoundError:
        raise not_found(groups_marker=groups_marker or "") from None
    started = operation["started_at"] if operation else doc["created_at"]
    ended = operation["completed_at"] if operation else None
    running = bool(
        (operation and operation["status"] == RunStatus.RUNNING)
        or any(s["status"] == RunStatus.RUNNING for s in own)
    )
    return {
        "cluster": doc,
        "operation": operation,
        "running": running,
        "started_at": started,
        "elapsed": _elapsed(started, ended, now),
        "estimate": _estimate_text(operation, _current(own)),
        "plan": _plan(operation, own),
        "timeline": _timeline(steps, now),
        "steps": steps,
        "step": step,
        "instances": _step_view(session, step, steps, now, memo) if step else None,
        "groups": groups,
        "markdown": groups_markdown(doc, groups.items) if groups.items else "",
        "events": _events(session, cluster.id, step, args),
        "args": args,
        "trace_url": operation["trace_url"] if operation else None,
    }


def instance_view(
    session: Session, cluster_id: str, instance_id: str, *, principal: Principal
) -> Json:
    """Return one instance's events across steps and operations, oldest first."""
    cluster = scoping.visible_cluster(session, cluster_id, tenant_id=principal.tenant_scope)
    page = queries.page_events(
        session,
        cluster.id,
        filters=queries.EventFilter(instance_ids=(instance_id,)),
        limit=params.MAX_PAGE_SIZE,
    )
    if not page.items:
        raise not_found(instance_id=instance_id)
    steps = {step.id: step for step in queries.list_steps(session, cluster.id)}
    return {
        "cluster": cluster,
        "instance_id": instance_id,
        "instance_name": page.items[-1].instance_name,
        "events": [(event, steps.get(event.provision_step_id)) for event in page.items],
        "show_stacktrace": principal.is_admin,
    }
