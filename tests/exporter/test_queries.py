"""Readers' data access: keyset pages, filters and step history on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from otel_provlog.exporter import queries, store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import Cluster, ProvisionStep, span_row_id

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _clusters(session, names):
    for n, name in enumerate(names):
        store.ensure_clusters(
            session,
            {f"c-{n}": {"name": name, "tenant_id": "t-1" if n % 2 == 0 else "t-2"}},
            at=T0 + timedelta(seconds=n // 2),
        )


def _walk(session, **kwargs):
    seen, marker = [], None
    while True:
        page = queries.page_clusters(session, limit=2, marker=marker, **kwargs)
        seen += [cluster.id for cluster in page.items]
        if page.next is None:
            return seen
        marker = page.next


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (queries.Sort(), ["c-0", "c-1", "c-2", "c-3", "c-4"]),
        (queries.Sort(descending=True), ["c-4", "c-3", "c-2", "c-1", "c-0"]),
        (queries.Sort("name"), ["c-2", "c-4", "c-1", "c-0", "c-3"]),
        (queries.Sort("name", descending=True), ["c-3", "c-0", "c-1", "c-4", "c-2"]),
        (queries.Sort("id", descending=True), ["c-4", "c-3", "c-2", "c-1", "c-0"]),
    ],
)
def test_pages_walk_in_a_stable_order(engine, sort, expected):
    """Pages follow (sort key, id), ties and nulls included, in both directions."""
    with session_factory(engine).begin() as session:
        _clusters(session, ["m", "k", None, "z", None])
    with session_factory(engine)() as session:
        assert _walk(session, sort=sort) == expected


def test_pages_are_scoped_and_filtered(engine):
    """A tenant sees its clusters only; filters narrow the page; foreign markers fail."""
    with session_factory(engine).begin() as session:
        _clusters(session, ["a", "b", "c", "d"])
        store.set_cluster_status(session, "c-2", "Active")
    with session_factory(engine)() as session:
        assert _walk(session, tenant_id="t-1") == ["c-0", "c-2"]
        active = queries.ClusterFilter(statuses=("Active",))
        assert _walk(session, filters=active) == ["c-2"]
        window = queries.ClusterFilter(created_after=T0 + timedelta(seconds=1))
        assert _walk(session, filters=window) == ["c-2", "c-3"]
        with pytest.raises(queries.MarkerNotFoundError):
            queries.page_clusters(session, tenant_id="t-1", marker="c-1")


def test_prev_markers_lead_back(engine):
    """``prev`` is the marker of the page before, None when that page is the first."""
    with session_factory(engine).begin() as session:
        _clusters(session, [f"n{n}" for n in range(7)])
    with session_factory(engine)() as session:
        first = queries.page_clusters(session, limit=3)
        assert first.prev is None
        second = queries.page_clusters(session, limit=3, marker=first.next)
        assert [c.id for c in second.items] == ["c-3", "c-4", "c-5"]
        assert second.prev is None
        third = queries.page_clusters(session, limit=3, marker=second.next)
        assert [c.id for c in third.items] == ["c-6"]
        assert third.prev == "c-2"
        assert third.next is None
        past = queries.page_clusters(session, limit=3, marker="c-6")
        assert past.items == []
        assert past.prev == "c-3"


def test_step_durations_keep_successful_runs_of_the_tenant(engine):
    """History holds ended successful runs of the same step name and type, newest first."""
    factory = session_factory(engine)
    with factory.begin() as session:
        store.ensure_clusters(
            session,
            {"c-a": {"tenant_id": "t-1"}, "c-b": {"tenant_id": "t-2"}},
            at=T0,
        )
        rows = []
        for n, (cluster, name, ok, seconds) in enumerate(
            [
                ("c-a", "ssh", True, 10.0),
                ("c-a", "ssh", True, 20.0),
                ("c-a", "ssh", False, 99.0),
                ("c-a", "other", True, 5.0),
                ("c-b", "ssh", True, 30.0),
            ]
        ):
            span = f"{n + 1:016x}"
            ended = T0 + timedelta(minutes=n)
            rows.append(
                {
                    "id": span_row_id(TRACE, span),
                    "cluster_id": cluster,
                    "trace_id": TRACE,
                    "span_id": span,
                    "step_name": name,
                    "step_type": "creating",
                    "successful": ok,
                    "duration": seconds,
                    "completed_at": ended,
                    "created_at": T0,
                    "updated_at": ended,
                }
            )
        store.insert_missing(session, ProvisionStep, rows, ["trace_id", "span_id"])
    with factory() as session:
        mine = queries.step_durations(session, "ssh", step_type="creating", tenant_id="t-1")
        assert [seconds for _, seconds in mine] == [20.0, 10.0]
        every = queries.step_durations(session, "ssh", step_type="creating")
        assert [seconds for _, seconds in every] == [30.0, 20.0, 10.0]
        assert queries.step_durations(session, "ssh", step_type="scaling") == []


def test_steps_and_operations_of_many_clusters_in_one_go(engine):
    """Steps and latest operations come grouped by cluster, clusters without any included."""
    factory = session_factory(engine)
    with factory.begin() as session:
        store.ensure_clusters(session, {"c-a": {}, "c-b": {}}, at=T0)
        span = "1" * 16
        store.insert_missing(
            session,
            ProvisionStep,
            [
                {
                    "id": span_row_id(TRACE, span),
                    "cluster_id": "c-a",
                    "trace_id": TRACE,
                    "span_id": span,
                    "step_name": "x",
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
            ["trace_id", "span_id"],
        )
        session.execute(update(Cluster).values(name="n"))
    with factory() as session:
        grouped = queries.steps_of_clusters(session, ["c-a", "c-b"])
        assert [len(grouped["c-a"]), len(grouped["c-b"])] == [1, 0]
        assert queries.latest_operations(session, ["c-a"]) == {}
        assert queries.steps_of_clusters(session, []) == {}


def test_latest_operations_is_the_newest_of_each_cluster(engine):
    """Each cluster's newest operation (by time, then id), whatever its history holds."""
    from otel_provlog.exporter.models import ClusterOperation

    factory = session_factory(engine)
    with factory.begin() as session:
        store.ensure_clusters(session, {"c-a": {}, "c-b": {}}, at=T0)
        rows = [
            ("c-a", "1" * 16, 0, "creating"),
            ("c-a", "2" * 16, 30, "scaling"),
            ("c-a", "3" * 16, 10, "scaling"),
            ("c-b", "4" * 16, 5, "creating"),
            ("c-b", "5" * 16, 5, "deleting"),  # the same time: the larger id wins
        ]
        for cluster_id, span, seconds, step_type in rows:
            at = T0 + timedelta(seconds=seconds)
            session.add(
                ClusterOperation(
                    id=span_row_id(TRACE, span),
                    cluster_id=cluster_id,
                    trace_id=TRACE,
                    span_id=span,
                    step_type=step_type,
                    status="successful",
                    created_at=at,
                    updated_at=at,
                )
            )
    tie = max(span_row_id(TRACE, "4" * 16), span_row_id(TRACE, "5" * 16))
    with factory() as session:
        latest = queries.latest_operations(session, ["c-a", "c-b", "c-none"])
        assert {cluster: op.id for cluster, op in latest.items()} == {
            "c-a": span_row_id(TRACE, "2" * 16),
            "c-b": tie,
        }
