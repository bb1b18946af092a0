"""Time-left estimates read from the store: the tenant's latest runs, the planned steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from otel_provlog.api.estimates import HISTORY_SAMPLES, cluster_estimates, step_estimates
from otel_provlog.exporter import queries, store
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import ClusterOperation, ProvisionStep, span_row_id

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
RUNS = HISTORY_SAMPLES + 5


def _step(n, cluster_id, **values):
    span = f"{n:016x}"
    row = {
        "id": span_row_id(TRACE, span),
        "cluster_id": cluster_id,
        "trace_id": TRACE,
        "span_id": span,
        "step_name": "ssh",
        "step_type": "creating",
        "created_at": T0,
        "updated_at": T0,
    }
    return row | values


def _seed(session):
    store.ensure_clusters(
        session,
        {
            "c-old": {"tenant_id": "t-1"},
            "c-other": {"tenant_id": "t-2"},
            "c-new": {"tenant_id": "t-1"},
        },
        at=T0,
    )
    ended = [
        _step(
            n,
            "c-old",
            successful=True,
            status="successful",
            duration=float(n),
            completed_at=T0 + timedelta(minutes=n),
        )
        for n in range(1, RUNS + 1)
    ]
    other = _step(
        RUNS + 1,
        "c-other",
        successful=True,
        status="successful",
        duration=1000.0,
        completed_at=T0 + timedelta(minutes=RUNS + 1),
    )
    operation = span_row_id(TRACE, "f" * 16)
    session.add(
        ClusterOperation(
            id=operation,
            cluster_id="c-new",
            trace_id=TRACE,
            span_id="f" * 16,
            step_type="creating",
            status="running",
            plan=["ssh", "start"],
            started_at=NOW - timedelta(seconds=5),
            created_at=NOW,
            updated_at=NOW,
        )
    )
    running = _step(
        RUNS + 2,
        "c-new",
        operation_id=operation,
        total=10,
        status="running",
        started_at=NOW - timedelta(seconds=5),
        created_at=NOW,
    )
    session.add(ProvisionStep(**running))
    store.insert_missing(session, ProvisionStep, [*ended, other], ["trace_id", "span_id"])


def test_estimates_use_the_tenants_latest_runs_and_the_plan(engine):
    """The expected duration is the median of the tenant's latest runs; planned steps add up."""
    with session_factory(engine).begin() as session:
        _seed(session)
    with session_factory(engine)() as session:
        steps = queries.list_steps(session, "c-new")
        operation = queries.latest_operations(session, ["c-new"])["c-new"]
        estimates, whole = cluster_estimates(session, steps, operation, tenant_id="t-1", now=NOW)
        (estimate,) = estimates.values()
        latest = range(RUNS, RUNS - HISTORY_SAMPLES, -1)
        assert estimate.history_samples == HISTORY_SAMPLES
        assert estimate.expected_duration == (latest[9] + latest[10]) / 2
        assert estimate.basis == "history"
        assert estimate.seconds_left == estimate.expected_duration - 5
        assert whole is not None
        assert (whole.steps_left, whole.unknown_steps) == (1, 1)
        assert whole.seconds_left == estimate.seconds_left
        every = step_estimates(session, steps, tenant_id=None, now=NOW)
        assert every[steps[0].id].expected_duration == (latest[9] + latest[8]) / 2
