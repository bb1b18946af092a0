"""Target 3, a burst: ``--burst-events`` events made as fast as one thread can is durable
(stored) within twice the time the producer took to make it.

Each round makes the burst through the store path (``configure(drain="process")``, one
handle for the run) and times from its first event to ``force_flush()`` returning (every
span stored). The comparison row makes the same burst in the same round with the SDK's
``BatchSpanProcessor`` (its defaults) and an exporter that stores each batch with the
project's writer (a SQL exporter): it drops what its queue cannot hold; the row says how
many events never reached the store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

from context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from producer import close, store_path
from report import Figure
from spans import event_attributes, step_attributes
from stores import count_events

from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.records import SpanRecord, record_from_span
from otel_provlog.exporter.writer import write_batch

NAME: Final = "burst"


class SqlExporter(SpanExporter):
    """Stores each exported batch with the project's writer, in the exporter's thread."""

    def __init__(self, url: str) -> None:
        self.engine = create_store_engine(url)
        self.factory = session_factory(self.engine)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        records: list[SpanRecord] = [r for r in map(record_from_span, spans) if r is not None]
        try:
            write_batch(self.factory, records)
        except Exception:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.engine.dispose()


def burst(provider: TracerProvider, cluster_id: str, count: int) -> float:
    """Make ``count`` events in one step as fast as possible; return the seconds it took."""
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    with tracer.start_as_current_span("Launching", attributes=step_attributes(cluster_id, count)):
        for n in range(count):
            with tracer.start_as_current_span(
                "instance event", attributes=event_attributes(cluster_id, n)
            ):
                pass
    return time.perf_counter() - started


def run(ctx: Context) -> list[Figure]:
    """Measure target 3 on the context's backend."""
    n = ctx.sizes.burst_events
    url = ctx.databases.new("burst")
    sql_url = ctx.databases.new("batchsql")
    provider, handle = store_path(url, ctx.folder("spool"))
    made: list[float] = []
    durable: list[float] = []
    dropped: list[float] = []
    try:
        for r in range(ctx.sizes.rounds):
            started = time.perf_counter()
            made.append(burst(provider, f"c-burst-{r}", n))
            if not handle.force_flush(3_600_000):
                raise RuntimeError("the burst was not stored within an hour")
            durable.append(time.perf_counter() - started)
            stored = count_events(url, f"c-burst-{r}")
            if stored != n:
                raise RuntimeError(f"{stored} of {n} burst events stored")

            batch_provider = TracerProvider(shutdown_on_exit=False)
            batch_provider.add_span_processor(BatchSpanProcessor(SqlExporter(sql_url)))
            burst(batch_provider, f"c-batch-{r}", n)
            batch_provider.shutdown()
            dropped.append(n - count_events(sql_url, f"c-batch-{r}"))
    finally:
        close(provider, handle)
    return [
        Figure(
            NAME,
            ctx.backend,
            f"{n:,}-event burst durable after",
            "s",
            durable,
            "producer's time",
            made,
            "≤ 2x producer",
            lambda median, ratio: ratio is not None and ratio <= 2.0,
        ),
        Figure(
            NAME,
            ctx.backend,
            "SDK BatchSpanProcessor + SQL exporter: events dropped",
            "events",
            dropped,
            "events made",
            [float(n)],
        ),
    ]
