"""Ownership: no writer reaches another tenant's or another cluster's rows, on every backend."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, or_, select

from otel_provlog import attributes as attr
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.drain import Drain
from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    ClusterOperation,
    ProvisionStep,
    RejectedSpan,
    span_row_id,
)
from otel_provlog.exporter.ownership import OwnershipConflict, admit
from otel_provlog.exporter.records import encode_record
from otel_provlog.exporter.spool import SpoolWriter
from otel_provlog.exporter.writer import write_batch

T0 = 1_780_000_000_000_000_000
SECOND = 1_000_000_000
TB = "b" * 31 + "1"  # tenant t-b's trace
TF = "f" * 31 + "1"  # the trace of a cluster without a tenant
TA = "a" * 31 + "1"  # tenant t-a's trace
OP_B, STEP_B1, STEP_B2 = "b0000000000000a1", "b0000000000000b1", "b0000000000000b2"
EVENT_B = "b0000000000000e1"
STEP_F = "f0000000000000b1"
LONG = "L" * 255  # a cluster id of the longest length
_spans = itertools.count(1)


def _span() -> str:
    return f"{next(_spans):016x}"


def rec(
    kind: str,
    cluster: Any,
    *,
    trace: str = TA,
    span: str | None = None,
    parent: str | None = None,
    tenant: Any = None,
    error: bool = False,
    at: int = 1,
    **attributes: Any,
) -> dict[str, Any]:
    """One span record of ``kind``; the attributes a real span of that kind carries."""
    described: dict[str, Any] = {attr.SPAN_KIND: kind, attr.CLUSTER_ID: cluster}
    if tenant is not None:
        described[attr.TENANT_ID] = tenant
    if kind in (attr.SPAN_OPERATION, attr.SPAN_OPERATION_START):
        described |= {attr.STEP_TYPE: "creating", attr.CLUSTER_NAME: "name", attr.PLAN: ["S"]}
    elif kind in (attr.SPAN_STEP, attr.SPAN_STEP_START):
        described |= {attr.STEP_NAME: "S", attr.STEP_TYPE: "creating", attr.STEP_TOTAL: 3}
    else:
        described |= {attr.INSTANCE_ID: "i", attr.NODE_GROUP_ID: "ng"}
    return {
        "v": 1,
        "trace_id": trace,
        "span_id": span or _span(),
        "parent_span_id": parent,
        "kind": kind,
        "name": kind,
        "start_ns": T0 + at * SECOND,
        "end_ns": T0 + (at + 1) * SECOND,
        "status": "error" if error else "unset",
        "status_message": "failed" if error else None,
        "attributes": {**described, **attributes},
        "exception": None,
    }


def _seed(factory: Any) -> None:
    """Tenant t-b's run (a running step and an ended one), a long id, a cluster without tenant."""
    b = {"trace": TB, "tenant": "t-b"}
    seeded = write_batch(
        factory,
        [
            rec(attr.SPAN_OPERATION_START, "c-b", span=_span(), parent=OP_B, **b),
            rec(attr.SPAN_STEP_START, "c-b", parent=STEP_B1, at=2, **b),
            rec(attr.SPAN_EVENT, "c-b", trace=TB, span=EVENT_B, parent=STEP_B1, at=3),
            rec(attr.SPAN_EVENT, "c-b", trace=TB, parent=STEP_B1, at=3),
            rec(attr.SPAN_STEP, "c-b", span=STEP_B2, parent=OP_B, at=4, **b),
            rec(attr.SPAN_EVENT, "c-b", trace=TB, parent=STEP_B2, at=4, error=True),
            rec(attr.SPAN_STEP, LONG, trace=TB, at=5, tenant="t-b"),
        ],
        scope="t-b",
    )
    assert not seeded.rejected
    result = write_batch(factory, [rec(attr.SPAN_EVENT, "c-free", trace=TF, parent=STEP_F)])
    assert not result.rejected


def _theirs(factory: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of tenant t-b and of the cluster without tenant, or in their traces."""
    clusters = ["c-b", LONG, "c-free"]
    rows: dict[str, list[dict[str, Any]]] = {}
    with factory() as session:
        query = select(*Cluster.__table__.columns).where(
            or_(Cluster.id.in_(clusters), Cluster.tenant_id == "t-b")
        )
        rows["clusters"] = [dict(r) for r in session.execute(query.order_by(Cluster.id)).mappings()]
        for model in (ClusterOperation, ProvisionStep, ClusterEvent):
            query = select(*model.__table__.columns).where(
                or_(model.cluster_id.in_(clusters), model.trace_id.in_([TB, TF]))
            )
            found = session.execute(query.order_by(model.id)).mappings()
            rows[model.__tablename__] = [dict(r) for r in found]
    assert rows["clusters"]
    assert rows["provision_steps"]
    assert rows["cluster_events"]
    return rows


def _a_run(cluster: str = "c-a", trace: str = TA) -> list[dict[str, Any]]:
    """A valid run of tenant t-a, its spans without a tenant attribute (its writer's tenant)."""
    op, step = _span(), _span()
    return [
        rec(attr.SPAN_EVENT, cluster, trace=trace, parent=step, at=3),
        rec(attr.SPAN_STEP, cluster, trace=trace, span=step, parent=op, at=2),
        rec(attr.SPAN_OPERATION, cluster, trace=trace, span=op, at=1),
    ]


def _a_stored(factory: Any, cluster: str = "c-a") -> tuple[str | None, int, int]:
    with factory() as session:
        found = session.get(Cluster, cluster)
        step = session.scalars(select(ProvisionStep).where(ProvisionStep.cluster_id == cluster))
        completed = [s.completed for s in step]
        events = session.scalar(
            select(func.count()).select_from(ClusterEvent).where(ClusterEvent.cluster_id == cluster)
        )
    return (found.tenant_id if found else None, sum(completed), events or 0)


EVENT, STEP, OPERATION = attr.SPAN_EVENT, attr.SPAN_STEP, attr.SPAN_OPERATION
STEP_START, OPERATION_START = attr.SPAN_STEP_START, attr.SPAN_OPERATION_START
OTHER_TENANT = "belongs to another tenant"
ELSEWHERE = "stored under another cluster"
TRACE = "another tenant's clusters"
ATTACKS: dict[str, tuple[list[dict[str, Any]], str | None]] = {
    "a NUL after the id": ([rec(EVENT, "c-b\x00", parent=_span())], OTHER_TENANT),
    "a NUL inside the id": ([rec(STEP, "c-\x00b", tenant="t-a")], OTHER_TENANT),
    "a NUL after the longest id": ([rec(EVENT, LONG + "\x00", parent=_span())], OTHER_TENANT),
    "one character past the longest id": ([rec(EVENT, LONG + "x", parent=_span())], "longer"),
    "the id as a number": ([rec(STEP, 7)], None),
    # Ids are stored without surrounding whitespace, on every backend: this is c-b.
    "a trailing space": ([rec(EVENT, "c-b ", parent=_span())], OTHER_TENANT),
    "its step as parent, its cluster": (
        [rec(EVENT, "c-a", trace=TB, parent=STEP_B1, error=True)],
        ELSEWHERE,
    ),
    "its step as parent, a new cluster": (
        [rec(EVENT, "c-new", trace=TB, parent=STEP_B1, error=True)],
        ELSEWHERE,
    ),
    "its ended step as parent": ([rec(EVENT, "c-a", trace=TB, parent=STEP_B2)], ELSEWHERE),
    "its step's id": ([rec(STEP, "c-a", trace=TB, span=STEP_B1, error=True)], ELSEWHERE),
    "its step's marker": ([rec(STEP_START, "c-a", trace=TB, parent=STEP_B1)], ELSEWHERE),
    "its operation's id": ([rec(OPERATION, "c-a", trace=TB, span=OP_B, error=True)], ELSEWHERE),
    "its operation's marker": ([rec(OPERATION_START, "c-a", trace=TB, parent=OP_B)], ELSEWHERE),
    "its event's id": ([rec(EVENT, "c-a", trace=TB, span=EVENT_B, parent=_span())], TRACE),
    "its operation as parent": ([rec(STEP, "c-a", trace=TB, parent=OP_B, error=True)], ELSEWHERE),
    "another operation in its trace": ([rec(OPERATION, "c-a", trace=TB, error=True)], TRACE),
    "its tenant named": ([rec(STEP, "c-new", tenant="t-b")], "names another tenant"),
    "its cluster and tenant": ([rec(STEP, "c-b", tenant="t-b")], "names another tenant"),
    "its cluster": ([rec(STEP, "c-b", tenant="t-a", error=True)], OTHER_TENANT),
    "a cluster without tenant": ([rec(EVENT, "c-free", parent=_span())], "no tenant"),
    "a cluster without tenant, named": ([rec(STEP, "c-free", tenant="t-a")], "no tenant"),
    "a step of a cluster without tenant": (
        [rec(EVENT, "c-a", trace=TF, parent=STEP_F, error=True)],
        ELSEWHERE,
    ),
    "a step and its events": (
        [
            rec(STEP, "c-a", span="a0000000000000c1", tenant="t-b"),
            rec(EVENT, "c-a", parent="a0000000000000c1"),
            rec(STEP_START, "c-a", parent="a0000000000000c1"),
        ],
        "was rejected",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_scoped_writer_never_changes_another_tenants_rows(
    engine: Any, backend: str, attack: str
) -> None:
    """Each attack is rejected with its reason; the victim's rows stay; the writer's run is kept."""
    factory = session_factory(engine)
    _seed(factory)
    before = _theirs(factory)
    hostile, reason = ATTACKS[attack]
    result = write_batch(factory, [*hostile, *_a_run()], scope="t-a")
    assert _theirs(factory) == before
    assert _a_stored(factory) == ("t-a", 1, 1)
    if reason is not None:
        assert len(result.rejected) == len(hostile)
        assert all(reason in item.reason for item in result.rejected[-1:]), result.rejected
        with factory() as session:
            stored = session.scalars(select(RejectedSpan.reason)).all()
        assert any(reason in text for text in stored)
    else:  # another cluster, of the writer's tenant
        assert result.rejected == []


def test_a_span_repeating_a_rejected_one_is_not_written_in_its_place(engine: Any) -> None:
    """The first of two records with one span id is rejected: the second stays a duplicate."""
    factory = session_factory(engine)
    _seed(factory)
    before = _theirs(factory)
    span = _span()
    result = write_batch(
        factory,
        [
            rec(EVENT, "c-a", trace=TB, span=span, parent=_span(), tenant="t-b"),
            rec(EVENT, "c-a", trace=TB, span=span, parent=STEP_B1, error=True),
        ],
        scope="t-a",
    )
    assert [item.reason for item in result.rejected] == [
        "names another tenant ('t-b') than the writer's"
    ]
    assert (result.written, result.duplicates) == (0, 1)
    assert _theirs(factory) == before


def test_a_scoped_writers_spans_get_its_tenant_whatever_the_order(engine: Any) -> None:
    """Events first, spans without a tenant attribute: the cluster is the writer's tenant's."""
    factory = session_factory(engine)
    run = _a_run()
    for record in run:
        result = write_batch(factory, [record], scope="t-a")
        assert result.rejected == []
    assert _a_stored(factory) == ("t-a", 1, 1)
    later = write_batch(factory, _a_run(trace="a" * 31 + "2"), scope="t-a")
    assert later.rejected == []
    assert _a_stored(factory) == ("t-a", 2, 2)


def test_unscoped_writers_never_move_rows_or_change_a_tenant(engine: Any) -> None:
    """Admins and the spool path: no row moves to another cluster; a tenant never changes."""
    factory = session_factory(engine)
    _seed(factory)
    before = _theirs(factory)
    hostile = [
        rec(STEP, "c-a", trace=TB, span=STEP_B1, error=True),
        rec(EVENT, "c-a", trace=TB, parent=STEP_B2, error=True),
        rec(STEP_START, "c-a", trace=TB, parent=STEP_B1),
        rec(STEP, "c-b", tenant="t-a"),
    ]
    result = write_batch(factory, hostile)
    reasons = [item.reason for item in result.rejected]
    assert len(reasons) == 4
    assert all(ELSEWHERE in reason for reason in reasons[:3]), reasons
    assert "belongs to tenant 't-b', the span names 't-a'" in reasons[3]
    assert _theirs(factory) == before
    same_cluster = write_batch(factory, [rec(EVENT, "c-b", trace=TB, parent=STEP_B1)])
    assert same_cluster.rejected == []


def test_the_spool_path_applies_the_same_rules(database_url: str, tmp_path: Path) -> None:
    """The drain writes unscoped through the same check: no row moves, no tenant changes."""
    engine = create_store_engine(database_url)
    factory = session_factory(engine)
    try:
        _seed(factory)
        before = _theirs(factory)
        writer = SpoolWriter(tmp_path / "spool")
        for record in (
            rec(STEP, "c-a", trace=TB, span=STEP_B1, error=True),
            rec(STEP, "c-b", tenant="t-a"),
            rec(STEP, "c-free", tenant="t-f"),
        ):
            writer.append(encode_record(record))
        writer.close()
        drain = Drain(tmp_path / "spool", database_url, upgrade=False)
        try:
            assert drain.drain_once() == 3
        finally:
            drain.close()
        with factory() as session:
            reasons = sorted(session.scalars(select(RejectedSpan.reason)))
            claimed = session.get(Cluster, "c-free")
        assert len(reasons) == 2
        assert "belongs to tenant 't-b', the span names 't-a'" in reasons[0]
        assert ELSEWHERE in reasons[1]
        assert claimed is not None
        assert claimed.tenant_id == "t-f"
        after = _theirs(factory)
        for rows in (before, after):  # c-free took its tenant and its step: t-b's stay
            for table, found in rows.items():
                rows[table] = [r for r in found if "c-free" not in (r["id"], r.get("cluster_id"))]
        assert after == before
    finally:
        engine.dispose()


def test_only_an_unscoped_writer_gives_a_cluster_without_tenant_its_tenant(engine: Any) -> None:
    """A cluster without tenant is claimed by the first unscoped span naming one, never after."""
    factory = session_factory(engine)
    _seed(factory)
    named = rec(STEP, "c-free", trace=TF, span=STEP_F, tenant="t-f")
    assert write_batch(factory, [named], scope="t-f").rejected[0].reason.endswith("claim it")
    assert write_batch(factory, [named]).rejected == []
    with factory() as session:
        assert session.get(Cluster, "c-free").tenant_id == "t-f"
    again = write_batch(factory, [rec(STEP, "c-free", trace=TF, tenant="t-g")])
    assert "belongs to tenant 't-f'" in again.rejected[0].reason
    assert write_batch(factory, _a_run("c-free", TF), scope="t-f").rejected == []


def test_spans_of_one_batch_that_disagree_are_all_rejected(engine: Any) -> None:
    """Two tenants for one new cluster, or two clusters for one span id: none is stored."""
    factory = session_factory(engine)
    step = _span()
    result = write_batch(
        factory,
        [
            rec(STEP, "c-x", tenant="t-1"),
            rec(STEP, "c-x", tenant="t-2"),
            rec(STEP, "c-y", span=step),
            rec(EVENT, "c-z", parent=step),
            rec(EVENT, "c-x", parent=_span()),
        ],
    )
    reasons = sorted(item.reason for item in result.rejected)
    assert len(reasons) == 4
    assert sum("different clusters" in reason for reason in reasons) == 2
    assert sum("name tenants 't-1', 't-2'" in reason for reason in reasons) == 2
    with factory() as session:
        assert session.get(Cluster, "c-x").tenant_id is None
        assert session.get(Cluster, "c-y") is None
        assert session.get(Cluster, "c-z") is None


def test_a_row_slipped_in_by_a_concurrent_writer_fails_the_check(engine: Any) -> None:
    """A step stored under another cluster between the check and the commit: retry the batch."""
    factory = session_factory(engine)
    step = _span()
    with factory() as session:
        admission = admit(session, [rec(EVENT, "c-a", parent=step)], scope="t-a")
        session.add(Cluster(id="c-other", tenant_id="t-o"))
        session.add(
            ProvisionStep(id=span_row_id(TA, step), cluster_id="c-other", trace_id=TA, span_id=step)
        )
        session.flush()
        with pytest.raises(OwnershipConflict):
            admission.verify(session)


_trace = st.sampled_from([TB, TF, TA, "c" * 32])
_span_id = st.sampled_from([OP_B, STEP_B1, STEP_B2, EVENT_B, STEP_F, "a0000000000000d1"])
_cluster = st.sampled_from(
    ["c-b", "c-b\x00", "c-\x00b", "c-b ", "C-B", LONG, LONG + "\x00", "c-free", "c-a", "c-n", 3]
)
_tenant = st.sampled_from([None, "t-a", "t-b", "", "t-b\x00", "T-B", 0])
_record = st.builds(
    rec,
    st.sampled_from(sorted(attr.SPAN_KINDS)),
    _cluster,
    trace=_trace,
    span=_span_id | st.none(),
    parent=_span_id | st.none(),
    tenant=_tenant,
    error=st.booleans(),
    at=st.integers(1, 20),
)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(_record, max_size=12))
def test_hostile_batches_never_change_another_tenants_rows(engine: Any, batch: Any) -> None:
    """Generated batches of a scoped writer, with the victim's ids: its rows never change."""
    factory = session_factory(engine)
    with factory.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    _seed(factory)
    before = _theirs(factory)
    write_batch(factory, batch, scope="t-a")
    assert _theirs(factory) == before
    with factory() as session:
        tenants = set(
            session.scalars(
                select(Cluster.tenant_id).where(Cluster.id.not_in(["c-b", LONG, "c-free"]))
            )
        )
    assert tenants <= {"t-a"}
