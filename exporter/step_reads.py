"""Reads behind the web page's step views: one query each, whatever the step's size.

- :func:`cluster_version`: what changes whenever anything shown about a cluster changes
  (the page's ETag), in one small aggregate query;
- :func:`step_instances`: every instance of a step with its state, done, failed or
  running, in two queries: the step's events, and (:func:`earlier_instances`) the
  instances of its operation seen in earlier steps, which a caller may keep while the
  earlier steps do not change.

Event spans are stored only once they end, so no row says that an instance started a step.
While a step runs, an instance of its operation that had an event in an earlier step of the
operation and has none yet in this one is taken to be running in it (Sahara works on all of
a step's instances at once), since the later of the step's start and its previous event's
end. Once the step ended, nothing runs in it. Instances never seen before (all of them in an
operation's first step) cannot be told apart: the page counts them as pending.

Like :mod:`otel_provlog.exporter.queries`, these take a session and never write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import NullType

from otel_provlog.exporter.models import (
    Cluster,
    ClusterEvent,
    ClusterOperation,
    ProvisionStep,
    RunStatus,
)

__all__ = [
    "DONE",
    "FAILED",
    "RUNNING",
    "EarlierInstances",
    "InstanceCell",
    "NodeGroupCount",
    "StepInstances",
    "cluster_version",
    "earlier_instances",
    "step_instances",
]

DONE: Final = "done"
FAILED: Final = "failed"
RUNNING: Final = "running"


class InstanceCell(NamedTuple):
    """One instance of a step: node group, id, name, state, and since when it runs."""

    node_group_id: str | None
    instance_id: str | None
    instance_name: str | None
    state: str
    """:data:`DONE`, :data:`FAILED` (its latest event in the step) or :data:`RUNNING`."""
    since: datetime | None = None
    """A running instance's start in the step: the later of the step's start and the end
    of the instance's previous event (None for a finished one)."""


@dataclass(frozen=True, slots=True)
class NodeGroupCount:
    """A node group's instances in one step: done, failed and (inferred) running."""

    node_group_id: str | None
    done: int
    failed: int
    running: int


@dataclass(frozen=True, slots=True)
class EarlierInstances:
    """The instances of a running step's operation seen in its earlier steps."""

    started: datetime
    """The step's start."""
    instances: tuple[tuple[str | None, str | None, str | None, datetime], ...]
    """Node group, instance id, name and the end of its latest earlier event, each."""


@dataclass(frozen=True, slots=True)
class StepInstances:
    """Every instance of a step the store knows of, by node group and name."""

    cells: list[InstanceCell]
    node_groups: list[NodeGroupCount]
    running: list[InstanceCell]
    """The running instances, longest running first."""

    @property
    def finished(self) -> int:
        """Instances whose latest event in the step is stored."""
        return len(self.cells) - len(self.running)


def cluster_version(
    session: Session, cluster_id: str, *, tenant_id: str | None = None
) -> tuple[Any, ...] | None:
    """Return a value that changes whenever the cluster, its operations or steps change.

    None when the cluster is missing (or, with ``tenant_id``, another tenant's): the same
    scoping as :func:`~otel_provlog.exporter.queries.get_cluster`, in one query.
    """
    operations = (
        select(func.max(ClusterOperation.updated_at))
        .where(ClusterOperation.cluster_id == Cluster.id)
        .correlate(Cluster)
        .scalar_subquery()
    )
    query = (
        select(
            Cluster.status,
            Cluster.updated_at,
            Cluster.name,
            operations,
            func.count(ProvisionStep.id),
            func.max(ProvisionStep.updated_at),
            func.sum(ProvisionStep.completed + ProvisionStep.failed),
        )
        .outerjoin(ProvisionStep, ProvisionStep.cluster_id == Cluster.id)
        .where(Cluster.id == cluster_id)
        .group_by(Cluster.id, Cluster.status, Cluster.updated_at, Cluster.name)
    )
    if tenant_id is not None:
        query = query.where(Cluster.tenant_id == tenant_id)
    found = session.execute(query).one_or_none()
    return None if found is None else tuple(found)


def step_instances(
    session: Session, step_id: str, *, earlier: EarlierInstances | None = None
) -> StepInstances:
    """Return every known instance of the step with its state, in two queries.

    A finished instance shows its latest event's outcome (a retry replaces a failure); a
    running one is inferred as the module says, and only while the step runs. ``earlier``
    is :func:`earlier_instances` of the step read before, when the caller knows that the
    earlier steps did not change since (then it takes one query).
    """
    query = (
        select(
            ClusterEvent.node_group_id,
            ClusterEvent.instance_id,
            ClusterEvent.instance_name,
            ClusterEvent.successful,
        )
        .where(ClusterEvent.provision_step_id == step_id)
        .order_by(ClusterEvent.created_at, ClusterEvent.id)
    )
    latest: dict[tuple[str | None, str], InstanceCell] = {}
    for number, (group, instance, name, successful) in enumerate(
        session.connection().execute(query)
    ):
        key = (group, instance or f"#{number}")
        latest.pop(key, None)
        latest[key] = InstanceCell(group, instance, name, DONE if successful else FAILED)
    if earlier is None:
        earlier = earlier_instances(session, step_id)
    finished = {cell.instance_id for cell in latest.values() if cell.instance_id}
    running = [
        InstanceCell(group, instance, name, RUNNING, max(ended, earlier.started))
        for group, instance, name, ended in earlier.instances
        if instance not in finished
    ]
    cells = sorted(
        [*latest.values(), *running],
        key=lambda cell: (
            cell.node_group_id or "",
            cell.instance_name or "",
            cell.instance_id or "",
        ),
    )
    counts: dict[str | None, list[int]] = {}
    for cell in cells:
        row = counts.setdefault(cell.node_group_id, [0, 0, 0])
        row[(DONE, FAILED, RUNNING).index(cell.state)] += 1
    node_groups = [
        NodeGroupCount(group, *counts[group])
        for group in sorted(counts, key=lambda group: group or "")
    ]
    slowest = sorted(running, key=lambda cell: (cell.since, cell.instance_name or ""))
    return StepInstances(cells, node_groups, slowest)


def earlier_instances(session: Session, step_id: str) -> EarlierInstances:
    """Return the instances of the step's operation seen in its earlier steps, in one query.

    None once the step ended. Those with an event in the step itself are left out by
    :func:`step_instances` rather than by this query: a correlated ``NOT EXISTS`` made
    SQLite read the whole step once per instance.
    """
    step = aliased(ProvisionStep, name="step")
    earlier = aliased(ProvisionStep, name="earlier")
    query = (
        select(
            ClusterEvent.node_group_id,
            ClusterEvent.instance_id,
            func.max(ClusterEvent.instance_name),
            type_coerce(func.max(ClusterEvent.created_at), NullType()),
            type_coerce(func.coalesce(step.started_at, step.created_at), NullType()),
        )
        .select_from(step)
        .join(
            earlier,
            (earlier.cluster_id == step.cluster_id)
            & (earlier.trace_id == step.trace_id)
            & (earlier.created_at < step.created_at),
        )
        .join(ClusterEvent, ClusterEvent.provision_step_id == earlier.id)
        .where(
            step.id == step_id,
            step.status == RunStatus.RUNNING,
            ClusterEvent.instance_id.is_not(None),
        )
        .group_by(
            ClusterEvent.node_group_id, ClusterEvent.instance_id, step.started_at, step.created_at
        )
    )
    rows = session.connection().execute(query).all()
    if not rows:
        return EarlierInstances(datetime.min.replace(tzinfo=UTC), ())
    return EarlierInstances(
        _utc(rows[0][4]),  # the step's start: the same on every row
        tuple((group, instance, name, _utc(ended)) for group, instance, name, ended, _ in rows),
    )


def _utc(raw: Any) -> datetime:
    """Return a timestamp as the driver gave it (text on SQLite), aware in UTC.

    The running instances' times are read raw: the column type's processing of 10,000 of
    them cost more than the query.
    """
    value = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
