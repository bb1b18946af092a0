"""Target 4, reads stay flat: API reads on a large store within 1.5x of a small one.

Two stores: a small one (a step of ``--few-events`` events, 100 clusters: a full first
page) and a large one (a step of ``--read-events`` events, ``--clusters`` clusters),
seeded in bulk. Each round sends ``--requests`` requests per endpoint to each store in
turn (small, large, small...) through the Flask test client, in-process, so the figures
are the application's and the database's work. Every 50th event failed; ``/failures``
asks for as many rows as the small store has failures, so both first pages are full. The
figure is the median of the per-round medians on the large store; the baseline the same
on the small one. PostgreSQL's stores are analyzed once seeded, as autovacuum would have
done. On SQLite the median must also stay at or under 10 ms.
"""

from __future__ import annotations

import statistics
import time
from typing import Final

from context import Context
from report import Figure
from sqlalchemy import create_engine
from stores import TENANT, failed_events, seed

from otel_provlog.api import create_app
from otel_provlog.config import Settings

NAME: Final = "reads"
CLUSTER: Final = "c-read-000000"
PAGE: Final = 100
"""The API's default page size: the small store fills a first page of clusters."""
LIMIT_MS: Final = 10.0


def _endpoints(failures: int) -> dict[str, str]:
    return {
        "cluster GET": f"/v1.1/{TENANT}/clusters/{CLUSTER}",
        "/progress first page": f"/v1.1/{TENANT}/clusters/{CLUSTER}/progress",
        "/events first page": f"/v2/clusters/{CLUSTER}/events",
        # as many rows as the small store has failures, so both pages are full alike
        f"/failures first page of {failures}": f"/v2/clusters/{CLUSTER}/failures?limit={failures}",
        "/v2/clusters first page": "/v2/clusters",
    }


def _store(ctx: Context, label: str, events: int, clusters: int) -> str:
    url = ctx.databases.new(label)
    seed(url, "read", clusters=1, events=events)
    seed(url, "list", clusters=clusters - 1, events=0)
    if ctx.backend == "postgresql":
        # A store in use has planner statistics (autovacuum gathers them); a store seeded in
        # bulk a second ago has none, and PostgreSQL then guesses 33 rows for any table.
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
        finally:
            engine.dispose()
    return url


def run(ctx: Context) -> list[Figure]:
    """Measure target 4 on the context's backend."""
    big_events, clusters = ctx.sizes.read_events, ctx.sizes.clusters
    few = ctx.sizes.few_events
    small = create_app(Settings(database_url=_store(ctx, "small", few, PAGE), auth="none"))
    big = create_app(Settings(database_url=_store(ctx, "large", big_events, clusters), auth="none"))
    clients = {"small": small.test_client(), "big": big.test_client()}
    endpoints = _endpoints(max(1, failed_events(few)))
    medians: dict[tuple[str, str], list[float]] = {}
    try:
        for path in endpoints.values():
            for client in clients.values():
                for _ in range(3):
                    response = client.get(path)
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {path}: {response.status_code}")
        for _ in range(ctx.sizes.rounds):
            for name, path in endpoints.items():
                timings: dict[str, list[float]] = {"small": [], "big": []}
                for _ in range(ctx.sizes.requests):
                    for which, client in clients.items():
                        started = time.perf_counter()
                        client.get(path)
                        timings[which].append((time.perf_counter() - started) * 1000)
                for which, values in timings.items():
                    medians.setdefault((name, which), []).append(statistics.median(values))
    finally:
        for app in (small, big):
            app.extensions["provlog"]["engine"].dispose()
    sqlite = ctx.backend == "sqlite"
    figures = []
    for name in endpoints:
        figures.append(
            Figure(
                NAME,
                ctx.backend,
                f"{name}, {big_events:,} events"
                + (f", {clusters:,} clusters" if "v2/clusters" in name else ""),
                "ms",
                medians[(name, "big")],
                f"same, {few} events" + (f", {PAGE} clusters" if "v2/clusters" in name else ""),
                medians[(name, "small")],
                "≤ 1.5x small" + ("; ≤ 10 ms" if sqlite else ""),
                (lambda median, ratio: ratio is not None and ratio <= 1.5 and median <= LIMIT_MS)
                if sqlite
                else (lambda median, ratio: ratio is not None and ratio <= 1.5),
            )
        )
    return figures
