"""Who may write what: the tenant and cluster rules a batch passes before it is stored.

Every batch, from OTLP ingest and from the local spool alike, goes through :func:`admit`
inside the write transaction. It maps the batch with the writer's own mapping
(:func:`~otel_provlog.exporter.mapping.map_records`), so ownership is decided on the
cleaned values that will be stored, and sets aside the spans the writer may not write,
each with its reason (they end in ``rejected_spans`` like any unusable record).

A *scoped* writer writes for one tenant (an API ``writer`` token or identity of that
tenant); an unscoped one (an admin, ``PROVLOG_AUTH=none``, the local spool's drain) for
none in particular. The rules:

- a cluster's tenant, once set, never changes;
- a scoped writer's spans get its tenant: a span naming another tenant is rejected, one
  naming none gets the writer's;
- a scoped writer creates clusters (for its tenant) and writes into its tenant's clusters
  only: a span about a cluster of another tenant is rejected, and so is one about a stored
  cluster without a tenant (no claiming: such a cluster is visible to admins only until an
  unscoped writer's span names its tenant);
- a scoped writer writes only into traces whose stored operations and steps all belong to
  its tenant's clusters;
- for every writer: a span whose parent span id, or (for operations, steps and their
  markers) own span id, is stored as an operation or step under another cluster is
  rejected, so nothing stored moves to another cluster, counts into another cluster's
  step, or is linked across clusters (an event is inserted once and never updated: one
  repeating a stored event's id is a duplicate); spans of one batch that give one span id
  different clusters are all rejected, and a record repeating the span id of a rejected
  one is not written in its place;
- an unscoped writer's span naming a tenant other than its stored cluster's is rejected;
  spans of one batch naming different tenants for a cluster without one are rejected;
- the spans of a batch whose parent was rejected by these rules go with it (a rejected
  step's marker and events).

Cluster ids are looked up with the database's own comparison (on MariaDB, ids that differ
by trailing spaces are one id), so the owner found is the row the write would reach. The
stored clusters are locked (``FOR UPDATE``) and the new ones inserted before anything else
is written, so a concurrent writer cannot slip a cluster in between the check and the
write: that conflict rolls the transaction back and ``write_batch`` retries it;
:meth:`Admission.verify` catches the same race on span ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import String, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from otel_provlog import attributes as attr
from otel_provlog.exporter import store
from otel_provlog.exporter.database import chunks
from otel_provlog.exporter.mapping import MappedRecords, MappedSpan, Rejected, map_records
from otel_provlog.exporter.models import (
    Cluster,
    Operation,
    ProvisionStep,
    span_row_id,
)

__all__ = ["Admission", "OwnershipConflict", "admit"]

SpanKey = tuple[str, str]
"""(trace id, span id), lower-case hex."""


class OwnershipConflict(IntegrityError):
    """A concurrent writer changed what the ownership check relied on: retry the batch."""

    def __init__(self, message: str) -> None:
        super().__init__("ownership check", None, ValueError(message))


@dataclass(slots=True)
class _Claim:
    """What one usable record would write: its cluster, the tenant it names, its span ids."""

    index: int
    cluster_id: str
    """The cluster id as the writer will store it."""
    target: str
    """The stored cluster that id reaches (the database compares ids), else the id itself."""
    tenant_id: str | None
    trace_id: str
    own: SpanKey
    parent: SpanKey | None
    keys: tuple[SpanKey, ...]
    """Its own span id and its parent's."""
    reaches: tuple[SpanKey, ...]
    """The span ids of the stored operations and steps it may change or count into: its
    own and its parent's, or an event's parent only (an event is inserted once and never
    updated, so its own id reaches nothing stored)."""

    @property
    def clusters(self) -> set[str]:
        """The cluster ids a stored row of this span may carry."""
        return {self.cluster_id, self.target}


@dataclass
class Admission:
    """The rows of the admitted records, and what :meth:`verify` checks after the write."""

    mapped: MappedRecords
    expected: dict[str, set[str]] = field(default_factory=dict)
    """Row id -> its cluster ids, for rows at span ids that were not stored at check time."""

    def verify(self, session: Session) -> None:
        """Check, before commit, that no concurrent writer put those rows in another cluster.

        Raises:
            OwnershipConflict: the batch must be retried (its check will then see the rows).
        """
        for row_id, clusters in _stored_rows(session, self.expected):
            if clusters - self.expected[row_id]:
                raise OwnershipConflict(f"row {row_id} was stored under another cluster")


def _quote(value: str) -> str:
    return repr(value if len(value) <= 64 else value[:64] + "...")


def _claim(span: MappedSpan) -> _Claim:
    trace_id = span.trace_id
    own = (trace_id, span.span_id)
    parent = None if span.parent_span_id is None else (trace_id, span.parent_span_id)
    keys = (own,) if parent is None else (own, parent)
    event_reaches = () if parent is None else (parent,)
    reaches = event_reaches if span.kind == attr.SPAN_EVENT else keys
    return _Claim(
        index=span.position,
        cluster_id=span.cluster_id,
        target=span.cluster_id,
        tenant_id=span.tenant_id,
        trace_id=trace_id,
        own=own,
        parent=parent,
        keys=keys,
        reaches=reaches,
    )


def _chunks(values: Iterable[str]) -> Iterable[Sequence[str]]:
    return chunks(sorted(set(values)))


def _clusters(session: Session, asked: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """Return asked id -> (stored id, tenant) for the stored clusters, locked for update.

    The database compares the ids (a join on ``clusters.id``), with the column's collation.
    """
    found: dict[str, str] = {}
    for chunk in _chunks(asked):
        values = union_all(*(select(literal(v, String).label("v")) for v in chunk)).subquery()
        query = select(values.c.v, Cluster.id).join(Cluster, Cluster.id == values.c.v)
        found.update((str(v), str(stored)) for v, stored in session.execute(query))
    tenants: dict[str, str | None] = {}
    for chunk in _chunks(found.values()):
        query = select(Cluster.id, Cluster.tenant_id).where(Cluster.id.in_(chunk))
        for stored, tenant_id in session.execute(query.with_for_update()):
            tenants[stored] = tenant_id
    return {v: (stored, tenants[stored]) for v, stored in found.items() if stored in tenants}


_TABLES: Final = (Operation, ProvisionStep)


def _stored_rows(session: Session, row_ids: Iterable[str]) -> Iterable[tuple[str, set[str]]]:
    """Yield (row id, the clusters of the stored operations and steps with that id)."""
    found: dict[str, set[str]] = {}
    for chunk in _chunks(row_ids):
        for model in _TABLES:
            query = select(model.id, model.cluster_id).where(model.id.in_(chunk))
            for row_id, cluster_id in session.execute(query):
                found.setdefault(row_id, set()).add(cluster_id)
    return found.items()


def _trace_owners(session: Session, trace_ids: Iterable[str]) -> dict[str, set[str | None]]:
    """Return trace id -> the tenants of the clusters of its stored operations and steps."""
    owners: dict[str, set[str | None]] = {}
    for chunk in _chunks(trace_ids):
        for model in _TABLES:
            query = (
                select(model.trace_id, Cluster.tenant_id)
                .join(Cluster, Cluster.id == model.cluster_id)
                .where(model.trace_id.in_(chunk))
                .distinct()
            )
            for trace_id, tenant_id in session.execute(query):
                owners.setdefault(trace_id, set()).add(tenant_id)
    return owners


def _cluster_reason(
    claim: _Claim, stored: tuple[str, str | None] | None, scope: str | None
) -> str | None:
    """Why ``claim`` may not write its cluster, or None."""
    named = claim.tenant_id
    if scope is not None and named is not None and named != scope:
        return f"names another tenant ({_quote(named)}) than the writer's"
    if stored is None:
        return None
    owner = stored[1]
    if scope is not None and owner is None:
        return (
            f"cluster {_quote(claim.cluster_id)} has no tenant; a tenant's writer cannot claim it"
        )
    if scope is not None and owner != scope:
        return f"cluster {_quote(claim.cluster_id)} belongs to another tenant"
    if scope is None and owner is not None and named is not None and named != owner:
        return (
            f"cluster {_quote(claim.cluster_id)} belongs to tenant {_quote(owner)}, "
            f"the span names {_quote(named)}"
        )
    return None


def _batch_conflicts(claims: Sequence[_Claim], scope: str | None) -> dict[int, str]:
    """Reasons for spans of the batch that disagree with each other (order-independent)."""
    reasons: dict[int, str] = {}
    by_key: dict[SpanKey, set[str]] = {}
    for claim in claims:
        for key in claim.keys:
            by_key.setdefault(key, set()).add(claim.target)
    tenants: dict[str, set[str]] = {}
    if scope is None:
        for claim in claims:
            if claim.tenant_id is not None:
                tenants.setdefault(claim.target, set()).add(claim.tenant_id)
    for claim in claims:
        for key in claim.keys:
            if len(by_key[key]) > 1:
                reasons[claim.index] = f"spans of the batch give span {key[1]} different clusters"
        named = tenants.get(claim.target, set())
        if claim.tenant_id is not None and len(named) > 1:
            listed = ", ".join(_quote(t) for t in sorted(named))
            reasons[claim.index] = (
                f"spans of the batch name tenants {listed} for cluster {_quote(claim.cluster_id)}"
            )
    return reasons


def _cascade(claims: Sequence[_Claim], refused: dict[int, str]) -> None:
    """Refuse the spans whose parent span was refused (its marker, a step's events)."""
    children: dict[SpanKey, list[_Claim]] = {}
    for claim in claims:
        if claim.parent is not None:
            children.setdefault(claim.parent, []).append(claim)
    by_index = {claim.index: claim for claim in claims}
    pending = [by_index[i].own for i in refused if i in by_index]
    while pending:
        for child in children.get(pending.pop(), []):
            if child.index not in refused:
                refused[child.index] = f"its parent span {child.parent[1]} was rejected"  # type: ignore[index]
                pending.append(child.own)


def _insert_new_clusters(
    session: Session, mapped: MappedRecords, stored: Mapping[str, tuple[str, str | None]]
) -> None:
    """Insert the clusters that are not stored yet, so a concurrent creator conflicts now."""
    rows = [
        store.new_cluster_row(cluster_id, info)
        for cluster_id, info in sorted(mapped.clusters.items())
        if cluster_id not in stored
    ]
    if rows:
        session.execute(insert(Cluster), rows)


def admit(session: Session, records: Sequence[Any], *, scope: str | None) -> Admission:
    """Map ``records`` for writing, setting aside those the writer may not write.

    ``scope`` is the writer's tenant (None: an unscoped writer); see the module docstring
    for the rules. Runs inside the caller's write transaction, before anything is written;
    call :meth:`Admission.verify` after the write. The rejected records are in
    ``mapped.rejected`` with their reasons, next to the records the mapping could not use.
    """
    mapped = map_records(records)
    claims = [_claim(span) for span in mapped.spans]
    clusters = _clusters(session, {c.cluster_id for c in claims})
    for claim in claims:  # the row the database will reach is the cluster of the span
        if claim.cluster_id in clusters:
            claim.target = clusters[claim.cluster_id][0]
    refused = _batch_conflicts(claims, scope)
    reached = {key for claim in claims for key in claim.reaches}
    row_ids = {key: span_row_id(*key) for key in reached}
    stored_rows = dict(_stored_rows(session, row_ids.values()))
    owners = _trace_owners(session, {c.trace_id for c in claims}) if scope is not None else {}
    for claim in claims:
        if claim.index in refused:
            continue
        reason = _cluster_reason(claim, clusters.get(claim.cluster_id), scope)
        for key in claim.reaches:
            if reason is None and stored_rows.get(row_ids[key], set()) - claim.clusters:
                reason = f"span {key[1]} of trace {key[0]} is stored under another cluster"
        if reason is None and owners.get(claim.trace_id, set()) - {scope}:
            reason = f"trace {claim.trace_id} holds spans of another tenant's clusters"
        if reason is not None:
            refused[claim.index] = reason
    _cascade(claims, refused)
    if refused:
        # Only what was checked is written: a record repeating the span id of a rejected
        # one stays a duplicate (it would be mapped in its place otherwise).
        checked = {claim.index for claim in claims if claim.index not in refused}
        unusable = {id(item.record) for item in mapped.rejected}
        repeated = mapped.repeated
        mapped = map_records(
            [r for i, r in enumerate(records) if i in checked or id(r) in unusable]
        )
        mapped.repeated = repeated
        mapped.rejected.extend(Rejected(records[i], why) for i, why in sorted(refused.items()))
    if scope is not None:
        for info in mapped.clusters.values():
            info["tenant_id"] = scope
    _insert_new_clusters(session, mapped, clusters)
    admission = Admission(mapped)
    for claim in claims:
        if claim.index not in refused:
            for key in claim.reaches:
                if row_ids[key] not in stored_rows:
                    admission.expected.setdefault(row_ids[key], set()).update(claim.clusters)
    return admission
