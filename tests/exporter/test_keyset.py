"""Keyset paging of any ordered list: markers forward and back, mixed directions, grouped rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from otel_provlog.exporter import store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.keyset import Keyset, MarkerNotFoundError, Ordering, boundary_of
from otel_provlog.exporter.models import Cluster

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
STATUSES = ["a", "b", "b", "c", "c", "c", "d", "d", "d", "d"]


def _statuses(session):
    """A grouped list: statuses by how many clusters have them, most first, then by name."""
    size = func.count()
    return Keyset(
        select(Cluster.status, size).group_by(Cluster.status),
        (Ordering(size, descending=True), Ordering(Cluster.status)),
        read=lambda result: result.all(),
        values=lambda row: (row[1], row[0]),
        grouped=True,
    )


def _boundary(session, marker):
    size = func.count()
    query = select(size, Cluster.status).where(Cluster.status == marker)
    return boundary_of(session, query.group_by(Cluster.status), marker)


def _page(session, limit, marker=None):
    boundary = None if marker is None else _boundary(session, marker)
    return _statuses(session).page(session, limit=limit, boundary=boundary)


def test_grouped_rows_page_in_mixed_directions_both_ways(engine):
    """Pages follow (count descending, name ascending); next and prev markers lead both ways."""
    with session_factory(engine).begin() as session:
        for n, status in enumerate(STATUSES):
            store.ensure_clusters(session, {f"c-{n}": {}}, at=T0)
            store.set_cluster_status(session, f"c-{n}", status)
    with session_factory(engine)() as session:
        first = _page(session, 1)
        assert [(row[0], row[1]) for row in first.items] == [("d", 4)]
        assert (first.next, first.prev) == ("d", None)
        second = _page(session, 1, first.next)
        assert [row[0] for row in second.items] == ["c"]
        assert second.prev is None  # the page before is the first one
        last = _page(session, 2, "c")
        assert [row[0] for row in last.items] == ["b", "a"]
        assert (last.next, last.prev) == (None, None)
        third = _page(session, 1, "b")
        assert [row[0] for row in third.items] == ["a"]
        assert third.prev == "c"
        past = _page(session, 1, "a")
        assert past.items == []
        assert past.prev == "b"
        with pytest.raises(MarkerNotFoundError):
            _page(session, 1, "e")
