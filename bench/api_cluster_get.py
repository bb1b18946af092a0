"""Latency of the cluster GET with 100 and with 100,000 stored events: it must not grow.

Run: ``python bench/api_cluster_get.py [--events 100000] [--requests 300]
[--database-url URL]`` (from any directory; SQLite stores go to a temporary one). With
``--database-url`` (an empty PostgreSQL or MariaDB database) both stores are made there,
one after the other, and its tables dropped again at the end.

Each store holds one cluster of a creating operation with eight steps (six ended, one
failed with its tracebacks, one running) and a second cluster with the history of the same
steps. The events are spread over the steps, as the exporter writes them (the steps'
``completed``/``failed`` counts agree with the event rows). The GET is served in-process by
the Flask application, so the figures are the application's and the database's work, not
the network's. Exit code 1 when the median with many events exceeds 1.5 times the median
with few.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update

from otel_provlog.api import create_app
from otel_provlog.config import Settings
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    Operation,
    ProvisionStep,
    span_row_id,
)

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
TRACE = "0af7651916cd43dd8448eb211c80319c"
STEPS = [
    "Create Heat stack",
    "Assign IPs",
    "Wait for instance accessibility",
    "Configure instances",
    "Configure HDFS",
    "Configure YARN",
    "Start services",
    "Run smoke tests",
]
BATCH = 5000


def _span(n: int) -> str:
    return f"{n:016x}"


def seed(url: str, events: int) -> None:
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    counter = iter(range(1, 10**9))
    with session_factory(engine).begin() as session:
        for cluster in ("c-bench", "c-history"):
            session.execute(
                insert(Cluster).values(
                    id=cluster,
                    name=cluster,
                    tenant_id="t-1",
                    status="Creating",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        operation = span_row_id(TRACE, _span(next(counter)))
        session.execute(
            insert(Operation).values(
                id=operation,
                cluster_id="c-bench",
                trace_id=TRACE,
                span_id=_span(1),
                step_type="creating",
                status="running",
                plan=STEPS,
                started_at=T0,
                created_at=T0,
                updated_at=T0,
            )
        )
        steps: list[dict[str, Any]] = []
        for cluster in ("c-history", "c-bench"):
            for position, name in enumerate(STEPS):
                if cluster == "c-bench" and position == 7:
                    break
                at = T0 + timedelta(minutes=10 * position)
                running = cluster == "c-bench" and position == 6
                span = _span(next(counter))
                steps.append(
                    {
                        "id": span_row_id(TRACE, span),
                        "cluster_id": cluster,
                        "trace_id": TRACE,
                        "span_id": span,
                        "step_name": name,
                        "step_type": "creating",
                        "position": position,
                        "operation_id": operation if cluster == "c-bench" else None,
                        "total": 0,
                        "completed": 0,
                        "failed": 0,
                        "successful": None if running else position != 5,
                        "status": "running"
                        if running
                        else ("failed" if cluster == "c-bench" and position == 5 else "successful"),
                        "started_at": at,
                        "created_at": at,
                        "updated_at": at,
                        "completed_at": None if running else at + timedelta(minutes=8),
                        "duration": None if running else 480.0,
                    }
                )
        bench_steps = [s for s in steps if s["cluster_id"] == "c-bench"]
        per_step = max(1, events // len(bench_steps))
        for step in bench_steps:
            step["total"] = per_step
        session.execute(insert(ProvisionStep), steps)
    written = 0
    for step in bench_steps:
        rows = []
        failed = 0
        for n in range(per_step):
            if written >= events:
                break
            ok = not (step["status"] == "failed" and n % 50 == 0)
            failed += not ok
            span = _span(next(counter))
            at = step["started_at"] + timedelta(milliseconds=n)
            rows.append(
                {
                    "id": span_row_id(TRACE, span),
                    "cluster_id": "c-bench",
                    "provision_step_id": step["id"],
                    "trace_id": TRACE,
                    "span_id": span,
                    "node_group_id": f"ng-{n % 3}",
                    "instance_id": f"i-{n}",
                    "instance_name": f"worker-{n:06d}",
                    "successful": ok,
                    "event_info": None if ok else "boom",
                    "stacktrace": None if ok else "Traceback (most recent call last):",
                    "error_id": None if ok else f"00000000-0000-4000-8000-{n:012d}",
                    "started_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
            )
            written += 1
        with session_factory(engine).begin() as session:
            for start in range(0, len(rows), BATCH):
                session.execute(insert(ClusterEvent), rows[start : start + BATCH])
            session.execute(
                update(ProvisionStep)
                .where(ProvisionStep.id == step["id"])
                .values(completed=len(rows) - failed, failed=failed)
            )
    engine.dispose()


def measure(url: str, requests: int) -> list[float]:
    app = create_app(Settings(database_url=url, auth="none"))
    client = app.test_client()
    for _ in range(20):
        assert client.get("/v1.1/t-1/clusters/c-bench").status_code == 200
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/v1.1/t-1/clusters/c-bench")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    app.extensions["provlog"]["engine"].dispose()
    return timings


def empty(url: str) -> None:
    engine = create_store_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (args.few, args.events):
            url = args.database_url or f"sqlite:///{Path(tmp) / f'bench-{count}.db'}"
            started = time.perf_counter()
            seed(url, count)
            seeded = time.perf_counter() - started
            timings = measure(url, args.requests)
            if args.database_url:
                empty(url)
            medians[count] = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(
                f"{count:>8} events: median {medians[count] * 1000:7.2f} ms, "
                f"p95 {p95 * 1000:7.2f} ms over {args.requests} GETs (seeded in {seeded:.1f} s)"
            )
    if args.database_url:  # leave the database as empty as it was given
        migrate.downgrade(args.database_url)
        engine = create_store_engine(args.database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    ratio = medians[args.events] / medians[args.few]
    print(f"ratio {args.events} / {args.few} events: {ratio:.2f} (limit 1.5)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
