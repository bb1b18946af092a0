"""Target 1, the drain rate: events/s through the real drain, empty store against full ones.

Each round spools ``--drain-events`` new event records (as the span processor writes them)
and times :class:`~otel_provlog.exporter.drain.Drain` storing them, from the first read of
the spool to the last checkpoint, into three stores in turn: an empty one (emptied before
every round), one holding ``--events`` events in one trace and step (the new events go to
that step), and one holding them spread over ``--spread-clusters`` traces. The same
round times the raw driver's bulk inserts of the same event rows (as the drain maps them)
into an empty ``cluster_events`` table, in batches of 1,000 rows committed one by one:
``sqlite3`` ``executemany``; psycopg ``executemany`` and ``COPY``; PyMySQL ``executemany``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from context import Context
from report import Figure
from spans import event_records, write_spool
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from stores import STEP_SPAN, TENANT, empty, trace_id

from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.drain import Drain
from otel_provlog.exporter.mapping import map_records
from otel_provlog.exporter.models import Cluster, ClusterEvent, ProvisionStep
from otel_provlog.exporter.records import SpanRecord

NAME: Final = "drain-rate"
BATCH: Final = 1000
COLUMNS: Final = [c.name for c in ClusterEvent.__table__.columns]


def drain_spool(url: str, spool_dir: Path, expected: int) -> float:
    """Store a spool with the real drain; return the seconds it took."""
    drain = Drain(spool_dir, url, upgrade=False)
    started = time.perf_counter()
    try:
        while drain.drain_once():
            pass
        elapsed = time.perf_counter() - started
        if drain.pending() or drain.counters.written != expected:
            raise RuntimeError(f"the drain stored {drain.counters.written} of {expected} records")
    finally:
        drain.close()
    return elapsed


def _rows(records: Sequence[SpanRecord]) -> list[dict[str, Any]]:
    return map_records(records).events


def _prepare_raw_store(url: str, rows: Sequence[dict[str, Any]]) -> None:
    """Empty the store, then give the events' cluster and step their rows."""
    empty(url)
    first = rows[0]
    at = first["created_at"]
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(Cluster).values(
                    id=first["cluster_id"],
                    tenant_id=TENANT,
                    status="Creating",
                    created_at=at,
                    updated_at=at,
                )
            )
            connection.execute(
                insert(ProvisionStep).values(
                    id=first["provision_step_id"],
                    cluster_id=first["cluster_id"],
                    trace_id=first["trace_id"],
                    span_id=STEP_SPAN,
                    step_name="Launching instances",
                    status="running",
                    created_at=at,
                    updated_at=at,
                )
            )
    finally:
        engine.dispose()


def _value(value: Any, sqlite: bool) -> Any:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds") if sqlite else value
    return value


def _tuples(rows: Sequence[dict[str, Any]], sqlite: bool) -> list[tuple[Any, ...]]:
    return [tuple(_value(row.get(c), sqlite) for c in COLUMNS) for row in rows]


def _insert_sql(placeholder: str) -> str:
    marks = ", ".join(placeholder for _ in COLUMNS)
    return f"INSERT INTO cluster_events ({', '.join(COLUMNS)}) VALUES ({marks})"


def _timed_batches(
    connect: Callable[[], Any],
    work: Callable[[Any, list[tuple[Any, ...]]], None],
    data: list[tuple[Any, ...]],
) -> float:
    connection = connect()
    try:
        started = time.perf_counter()
        for start in range(0, len(data), BATCH):
            work(connection, data[start : start + BATCH])
            connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def raw_methods(backend: str, url: str) -> dict[str, Callable[[list[tuple[Any, ...]]], float]]:
    """Return the raw driver's bulk inserts for the backend: name -> timed insert."""
    parsed = make_url(url)
    if backend == "sqlite":

        def sqlite_connect() -> Any:
            connection = sqlite3.connect(parsed.database or "")
            connection.execute("PRAGMA synchronous = NORMAL")
            return connection

        def sqlite_many(connection: Any, batch: list[tuple[Any, ...]]) -> None:
            connection.executemany(_insert_sql("?"), batch)

        return {
            "sqlite3 executemany": lambda data: _timed_batches(sqlite_connect, sqlite_many, data)
        }
    if backend == "postgresql":
        import psycopg

        def pg_connect() -> Any:
            return psycopg.connect(
                host=parsed.host,
                port=parsed.port,
                user=parsed.username,
                password=parsed.password,
                dbname=parsed.database,
            )

        def pg_many(connection: Any, batch: list[tuple[Any, ...]]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(_insert_sql("%s"), batch)

        def pg_copy(connection: Any, batch: list[tuple[Any, ...]]) -> None:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY cluster_events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in batch:
                    copy.write_row(row)

        return {
            "psycopg executemany": lambda data: _timed_batches(pg_connect, pg_many, data),
            "psycopg COPY": lambda data: _timed_batches(pg_connect, pg_copy, data),
        }
    import pymysql

    def my_connect() -> Any:
        return pymysql.connect(
            host=parsed.host,
            port=parsed.port or 3306,
            user=parsed.username,
            password=parsed.password or "",
            database=parsed.database,
            charset="utf8mb4",
        )

    def my_many(connection: Any, batch: list[tuple[Any, ...]]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(_insert_sql("%s"), batch)

    return {"pymysql executemany": lambda data: _timed_batches(my_connect, my_many, data)}


def run(ctx: Context) -> list[Figure]:
    """Measure target 1 on the context's backend."""
    n: int = ctx.sizes.drain_events
    empty_url = ctx.databases.new("empty")
    raw_url = ctx.databases.new("raw")
    one_url, one_step = ctx.one_trace()
    spread_url, spread_steps = ctx.spread()
    raw = raw_methods(ctx.backend, raw_url)
    rates: dict[str, list[float]] = {
        "empty": [],
        "one": [],
        "spread": [],
        **{name: [] for name in raw},
    }

    def empty_case(r: int) -> float:
        empty(empty_url)
        records = event_records("c-empty-0", trace_id("empty", 0), STEP_SPAN, 0, n)
        folder = ctx.folder("spool")
        write_spool(folder, records)
        return n / drain_spool(empty_url, folder, n)

    def one_case(r: int) -> float:
        records = event_records(one_step.cluster_id, one_step.trace_id, STEP_SPAN, r * n, n)
        folder = ctx.folder("spool")
        write_spool(folder, records)
        return n / drain_spool(one_url, folder, n)

    def spread_case(r: int) -> float:
        step = spread_steps[(r * 7919) % len(spread_steps)]
        records = event_records(step.cluster_id, step.trace_id, STEP_SPAN, r * n, n)
        folder = ctx.folder("spool")
        write_spool(folder, records)
        return n / drain_spool(spread_url, folder, n)

    rows = _rows(event_records("c-raw-0", trace_id("raw", 0), STEP_SPAN, 0, n))

    def raw_case(name: str) -> Callable[[int], float]:
        data = _tuples(rows, ctx.backend == "sqlite")

        def case(r: int) -> float:
            _prepare_raw_store(raw_url, rows)
            return n / raw[name](data)

        return case

    cases: list[tuple[str, Callable[[int], float]]] = [
        ("empty", empty_case),
        ("one", one_case),
        ("spread", spread_case),
        *((name, raw_case(name)) for name in raw),
    ]
    for r in range(ctx.sizes.rounds):
        turn = r % len(cases)
        for key, case in cases[turn:] + cases[:turn]:  # a different order every round
            rates[key].append(case(r))
        done = ", ".join(f"{key} {values[-1]:,.0f}/s" for key, values in rates.items())
        print(f"  [{ctx.backend}] round {r + 1}/{ctx.sizes.rounds}: {done}", flush=True)
    best_raw = [max(rates[name][r] for name in raw) for r in range(ctx.sizes.rounds)]
    events = f"{ctx.sizes.events:,}"
    within = "≥ 0.8x empty"
    figures = [
        Figure(
            NAME,
            ctx.backend,
            "drain into an empty store",
            "events/s",
            rates["empty"],
            "best raw bulk insert",
            best_raw,
            "≥ 0.5x raw",
            lambda median, ratio: ratio is not None and ratio >= 0.5,
        ),
        Figure(
            NAME,
            ctx.backend,
            f"drain into {events} events in one trace",
            "events/s",
            rates["one"],
            "drain into an empty store",
            rates["empty"],
            within,
            lambda median, ratio: ratio is not None and ratio >= 0.8,
        ),
        Figure(
            NAME,
            ctx.backend,
            f"drain into {events} events over {ctx.sizes.spread_clusters:,} traces",
            "events/s",
            rates["spread"],
            "drain into an empty store",
            rates["empty"],
            within,
            lambda median, ratio: ratio is not None and ratio >= 0.8,
        ),
    ]
    for name in raw:
        figures.append(Figure(NAME, ctx.backend, f"raw: {name}", "rows/s", rates[name]))
    return figures
