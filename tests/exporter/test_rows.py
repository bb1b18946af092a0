"""Plain rows of the cluster list: the same values as the ORM objects, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from otel_provlog.exporter import queries, store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import Cluster, ClusterOperation, ProvisionStep, span_row_id

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _seed(session):
    store.ensure_clusters(session, {"c-a": {"name": "a", "tenant_id": "t-1"}}, at=T0)
    operation = span_row_id(TRACE, "1" * 16)
    session.add(
        ClusterOperation(
            id=operation,
            cluster_id="c-a",
            trace_id=TRACE,
            span_id="1" * 16,
            step_type="creating",
            status="running",
            plan=["ssh", "start"],
            started_at=T0,
            created_at=T0,
            updated_at=T0,
        )
    )
    session.add(
        ProvisionStep(
            id=span_row_id(TRACE, "2" * 16),
            cluster_id="c-a",
            operation_id=operation,
            trace_id=TRACE,
            span_id="2" * 16,
            step_name="ssh",
            step_type="creating",
            position=0,
            completed=3,
            failed=1,
            total=5,
            successful=False,
            status="failed",
            started_at=T0,
            completed_at=T0 + timedelta(seconds=90),
            duration=90.0,
            created_at=T0,
            updated_at=T0 + timedelta(seconds=90),
        )
    )


def _same_fields(row, orm):
    return {name: getattr(orm, name) for name in row._fields} == row._asdict()


def test_rows_hold_what_the_orm_objects_hold(engine):
    """A page's cluster rows, their steps and latest operations equal the ORM objects' fields."""
    with session_factory(engine).begin() as session:
        _seed(session)
    with session_factory(engine)() as session:
        (cluster,) = queries.page_clusters(session).items
        steps = queries.steps_of_clusters(session, [cluster.id])[cluster.id]
        operation = queries.latest_operations(session, [cluster.id])[cluster.id]
        assert _same_fields(cluster, session.scalars(select(Cluster)).one())
        assert [
            _same_fields(row, orm)
            for row, orm in zip(steps, queries.list_steps(session, "c-a"), strict=True)
        ] == [True]
        assert _same_fields(operation, session.scalars(select(ClusterOperation)).one())
        assert operation.plan == ["ssh", "start"]
        assert cluster.created_at == T0
        assert steps[0].completed_at.tzinfo is UTC
