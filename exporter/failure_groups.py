"""A cluster's failures grouped by cause: reads over ``error_fingerprint``, never writes.

Failed events share a group when they share an ``error_fingerprint`` (see
:mod:`otel_provlog.exporter.fingerprints`). Groups come largest first, then by fingerprint;
a page starts after its *marker*, the fingerprint of the last group of the page before, by
the same keyset paging (:mod:`otel_provlog.exporter.keyset`) as the other lists. A page
costs three queries whatever the number of failures: the groups (from the index on
``cluster_id``, ``error_fingerprint``), their counts per node group, and a few examples of
each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from otel_provlog.exporter.keyset import Keyset, Ordering, Page, boundary_of
from otel_provlog.exporter.models import ClusterEvent

__all__ = ["EXAMPLES", "FailureExample", "FailureGroup", "page_failure_groups"]

EXAMPLES: Final = 5
"""Example failures given with each group."""


@dataclass(frozen=True, slots=True)
class FailureExample:
    """One failed event of a group, with what finds it again."""

    event_id: str
    instance_id: str | None
    instance_name: str | None
    node_group_id: str | None
    error_id: str | None
    provisioning_step_id: str
    event_info: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed events of one cause: how many, where, when, and a few of them (oldest first)."""

    fingerprint: str
    pattern: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    node_groups: dict[str | None, int] = field(default_factory=dict)
    """Failures per node group id (None: events that named no node group)."""
    examples: list[FailureExample] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        """One real message of the group (its oldest example's ``event_info``)."""
        return self.examples[0].event_info if self.examples else None

    @property
    def id(self) -> str:
        """The group's marker: its fingerprint."""
        return self.fingerprint


def _conditions(
    cluster_id: str, step_id: str | None, node_group_ids: Sequence[str]
) -> list[ColumnElement[bool]]:
    found = [
        ClusterEvent.cluster_id == cluster_id,
        ClusterEvent.error_fingerprint.is_not(None),
        ClusterEvent.successful.is_(False),
    ]
    if step_id is not None:
        found.append(ClusterEvent.provision_step_id == step_id)
    if node_group_ids:
        found.append(ClusterEvent.node_group_id.in_(node_group_ids))
    return found


def page_failure_groups(
    session: Session,
    cluster_id: str,
    *,
    step_id: str | None = None,
    node_group_ids: Sequence[str] = (),
    limit: int = 100,
    marker: str | None = None,
) -> Page[FailureGroup]:
    """Return one page of the cluster's failure groups, largest first.

    ``step_id`` and ``node_group_ids`` keep only the failures of that step and those node
    groups; counts, first and last seen and examples are of the failures kept.

    Raises:
        MarkerNotFoundError: the marker is no fingerprint of the failures kept.
    """
    conditions = _conditions(cluster_id, step_id, node_group_ids)
    key = ClusterEvent.error_fingerprint
    size = func.count()
    boundary = None
    if marker is not None:
        counted = select(size, key).where(*conditions, key == marker).group_by(key)
        boundary = boundary_of(session, counted, marker)
    keyset: Keyset[Row[*tuple[Any, ...]]] = Keyset(
        select(
            key,
            size,
            func.min(ClusterEvent.created_at),
            func.max(ClusterEvent.created_at),
            func.max(ClusterEvent.error_pattern),
        )
        .where(*conditions)
        .group_by(key),
        (Ordering(size, descending=True), Ordering(key)),
        read=lambda result: result.all(),
        values=lambda row: (row[1], row[0]),
        grouped=True,
    )
    page = keyset.page(session, limit=limit, boundary=boundary)
    rows = page.items
    groups = [
        FailureGroup(
            fingerprint=row[0],
            pattern=row[4],
            count=int(row[1]),
            first_seen=row[2],
            last_seen=row[3],
        )
        for row in rows
    ]
    _add_details(session, conditions, {group.fingerprint: group for group in groups})
    return Page(items=groups, next=page.next, prev=page.prev)


def _add_details(
    session: Session, conditions: list[ColumnElement[bool]], groups: dict[str, FailureGroup]
) -> None:
    """Fill each group's counts per node group and its examples (two queries in all)."""
    if not groups:
        return
    key = ClusterEvent.error_fingerprint
    within = [*conditions, key.in_(list(groups))]
    per_node_group = (
        select(key, ClusterEvent.node_group_id, func.count())
        .where(*within)
        .group_by(key, ClusterEvent.node_group_id)
        .order_by(key, ClusterEvent.node_group_id)
    )
    for counted in session.execute(per_node_group):
        groups[str(counted[0])].node_groups[counted[1]] = int(counted[2])
    rank = (
        func.row_number()
        .over(partition_by=key, order_by=(ClusterEvent.created_at, ClusterEvent.id))
        .label("rank")
    )
    ranked = select(ClusterEvent.id, rank).where(*within).subquery()
    examples = (
        select(
            key,
            ClusterEvent.id,
            ClusterEvent.instance_id,
            ClusterEvent.instance_name,
            ClusterEvent.node_group_id,
            ClusterEvent.error_id,
            ClusterEvent.provision_step_id,
            ClusterEvent.event_info,
            ClusterEvent.created_at,
        )
        .join(ranked, ranked.c.id == ClusterEvent.id)
        .where(ranked.c.rank <= EXAMPLES)
        .order_by(key, ClusterEvent.created_at, ClusterEvent.id)
    )
    for example in session.execute(examples):
        groups[str(example[0])].examples.append(FailureExample(*example[1:]))
