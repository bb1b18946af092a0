"""Pure rows -> JSON: every document the API returns is built here.

Rows come as ORM objects or as the plain rows of :mod:`otel_provlog.exporter.rows` (the
same fields). Timestamps are ISO 8601 in UTC with microseconds (``2026-05-04T10:00:00.250000Z``).
Two vocabularies are served side by side:

- ours (``provisioning_progress``, events with ``provisioning_step_id``), the event-log
  spec's fields and a few more;
- Sahara's (``provision_progress``, events with ``step_id``), field for field as Sahara's
  API shipped them, so Sahara clients keep working. Its v2 API names the tenant
  ``project_id``.

Events of both carry ``stacktrace``: a failure's stack for admins, None for everyone else.
It is a column of its own (``exception.stacktrace`` of the span), so nothing is cut out of
``event_info``, the message every reader sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from otel_provlog.api.progress import progress_text
from otel_provlog.config import trace_link
from otel_provlog.exporter.failure_groups import FailureGroup
from otel_provlog.exporter.models import Cluster, ClusterEvent, ClusterOperation, ProvisionStep
from otel_provlog.exporter.rows import ClusterRow, OperationRow, StepRow

__all__ = [
    "cluster_json",
    "event_json",
    "failure_group_json",
    "iso",
    "operation_json",
    "sahara_event_json",
    "sahara_step_json",
    "step_json",
]

Json = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    """Return ``value`` as ISO 8601 UTC with microseconds and a ``Z``; None stays None."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # as the store returns them: "+00:00" becomes "Z"
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _stacktrace(event: ClusterEvent, show_stacktrace: bool) -> str | None:
    return event.stacktrace if show_stacktrace else None


def event_json(event: ClusterEvent, *, show_stacktrace: bool) -> Json:
    """Return an event in our vocabulary (the spec's fields plus ``started_at``).

    ``stacktrace`` holds the failure's stack when ``show_stacktrace`` (admins), else None.
    """
    return {
        "id": event.id,
        "cluster_id": event.cluster_id,
        "node_group_id": event.node_group_id,
        "instance_id": event.instance_id,
        "instance_name": event.instance_name,
        "provisioning_step_id": event.provision_step_id,
        "event_info": event.event_info,
        "stacktrace": _stacktrace(event, show_stacktrace),
        "successful": event.successful,
        "error_id": event.error_id,
        "started_at": iso(event.started_at),
        "created_at": iso(event.created_at),
        "updated_at": iso(event.updated_at),
    }


def sahara_event_json(event: ClusterEvent, *, show_stacktrace: bool) -> Json:
    """Return an event with Sahara's fields (``step_id``, no cluster id) and ``stacktrace``.

    ``stacktrace`` holds the failure's stack when ``show_stacktrace`` (admins), else None.
    """
    return {
        "id": event.id,
        "node_group_id": event.node_group_id,
        "instance_id": event.instance_id,
        "instance_name": event.instance_name,
        "event_info": event.event_info,
        "stacktrace": _stacktrace(event, show_stacktrace),
        "successful": event.successful,
        "step_id": event.provision_step_id,
        "created_at": iso(event.created_at),
        "updated_at": iso(event.updated_at),
    }


def _seconds(step: ProvisionStep | StepRow, now: datetime) -> float | None:
    if step.duration is not None:
        return step.duration
    if step.started_at is None:
        return None
    end = step.completed_at or now
    return max(0.0, (end - step.started_at).total_seconds())


def step_json(
    step: ProvisionStep | StepRow, *, now: datetime, estimate: Mapping[str, Any] | None = None
) -> Json:
    """Return a step of ``provisioning_progress``: counts, times, text and estimate."""
    found: Json = {
        "id": step.id,
        "cluster_id": step.cluster_id,
        "operation_id": step.operation_id,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "position": step.position,
        "completed": step.completed,
        "failed": step.failed,
        "total": step.total,
        "successful": step.successful,
        "status": step.status,
        "created_at": iso(step.created_at),
        "started_at": iso(step.started_at),
        "completed_at": iso(step.completed_at),
        "updated_at": iso(step.updated_at),
        "duration": step.duration,
        "progress": progress_text(
            step.step_name,
            completed=step.completed,
            failed=step.failed,
            total=step.total,
            status=step.status,
            seconds=_seconds(step, now),
        ),
    }
    if estimate is not None:
        found["estimate"] = dict(estimate)
    return found


def sahara_step_json(
    step: ProvisionStep | StepRow,
    *,
    tenant_id: str | None,
    tenant_key: str = "tenant_id",
    events: Sequence[Json] | None = None,
) -> Json:
    """Return a step of Sahara's ``provision_progress`` (with ``events`` when given)."""
    found: Json = {
        "id": step.id,
        "cluster_id": step.cluster_id,
        tenant_key: tenant_id,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "total": step.total,
        "successful": step.successful,
        "created_at": iso(step.created_at),
        "updated_at": iso(step.updated_at),
    }
    if events is not None:
        found["events"] = list(events)
    return found


def operation_json(
    operation: ClusterOperation | OperationRow,
    *,
    estimate: Mapping[str, Any] | None = None,
    trace_url: str | None = None,
) -> Json:
    """Return an operation (creating, scaling, deleting) with its estimate when given.

    ``trace_url`` is the ``PROVLOG_TRACE_URL`` template of its trace's link (none when None).
    """
    return {
        "id": operation.id,
        "step_type": operation.step_type,
        "status": operation.status,
        "successful": operation.successful,
        "plan": list(operation.plan) if operation.plan is not None else None,
        "created_at": iso(operation.created_at),
        "started_at": iso(operation.started_at),
        "completed_at": iso(operation.completed_at),
        "updated_at": iso(operation.updated_at),
        "estimate": dict(estimate) if estimate is not None else None,
        "trace_id": operation.trace_id,
        "trace_url": trace_link(trace_url, operation.trace_id),
    }


def cluster_json(cluster: Cluster | ClusterRow, *, tenant_key: str = "tenant_id") -> Json:
    """Return a cluster's own fields (``tenant_key`` is ``project_id`` in Sahara's v2)."""
    return {
        "id": cluster.id,
        "name": cluster.name,
        tenant_key: cluster.tenant_id,
        "status": cluster.status,
        "status_description": cluster.status_description,
        "created_at": iso(cluster.created_at),
        "updated_at": iso(cluster.updated_at),
    }


def failure_group_json(group: FailureGroup) -> Json:
    """Return a failure group: its cause, counts, first and last seen, and a few examples.

    ``node_groups`` maps node group ids to counts; events that named no node group count
    under ``""``. Stack traces are never part of a group.
    """
    return {
        "fingerprint": group.fingerprint,
        "pattern": group.pattern,
        "message": group.message,
        "count": group.count,
        "node_groups": {key or "": count for key, count in group.node_groups.items()},
        "first_seen": iso(group.first_seen),
        "last_seen": iso(group.last_seen),
        "examples": [
            {
                "event_id": example.event_id,
                "instance_id": example.instance_id,
                "instance_name": example.instance_name,
                "node_group_id": example.node_group_id,
                "error_id": example.error_id,
                "provisioning_step_id": example.provisioning_step_id,
            }
            for example in group.examples
        ],
    }
