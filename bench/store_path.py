"""Per-event cost on the instrumented thread: baseline, our store path, and Sahara's way.

Run: ``python bench/store_path.py [--events 20000] [--sahara-events 1000]`` (from any
directory; it works in a temporary one). A benchmark, not a test: single runs on a noisy
machine, so read the ratios as orders of magnitude.

Rows (every event is ``with tracer.start_as_current_span(...)`` with the five attributes
of an ``event`` span, inside an open step span):

- baseline: the SDK with a BatchSpanProcessor and a no-op exporter;
- spool only: our SpoolSpanProcessor, nothing draining (the append alone);
- spool + drain process / thread: ``configure(drain=...)`` into a SQLite store, the drain
  storing while the loop runs (``force_flush`` after the loop is not counted);
- Sahara's way: per event, load the cluster with its steps and events, then a transaction
  that loads the step with all its events and inserts one (SQLAlchemy, SQLite WAL); the
  cost grows with the step, so it is shown at 10 and at N events into the step.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from sqlalchemy import ForeignKey, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from otel_provlog import attributes as attr
from otel_provlog.exporter import spool
from otel_provlog.exporter.pipeline import StorePath, configure
from otel_provlog.exporter.processor import SpoolSpanProcessor


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


STEP = {
    attr.SPAN_KIND: attr.SPAN_STEP,
    attr.CLUSTER_ID: "c-bench",
    attr.TENANT_ID: "t-1",
    attr.STEP_NAME: "Launching instances",
    attr.STEP_TYPE: "creating",
}


def _events(count: int) -> list[dict[str, str]]:
    return [
        {
            attr.SPAN_KIND: attr.SPAN_EVENT,
            attr.CLUSTER_ID: "c-bench",
            attr.NODE_GROUP_ID: "ng-1",
            attr.INSTANCE_ID: f"i-{n}",
            attr.INSTANCE_NAME: f"worker-{n}",
        }
        for n in range(count)
    ]


def time_spans(provider: TracerProvider, count: int) -> float:
    """Return the mean seconds per event span on this thread."""
    tracer = provider.get_tracer("bench")
    events = _events(count)
    with tracer.start_as_current_span("Launching instances", attributes=STEP):
        started = time.perf_counter()
        for attributes in events:
            with tracer.start_as_current_span("instance event", attributes=attributes):
                pass
        return (time.perf_counter() - started) / count


def baseline(count: int) -> float:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    try:
        return time_spans(provider, count)
    finally:
        provider.shutdown()


def spool_only(count: int, work: Path) -> float:
    provider = TracerProvider(shutdown_on_exit=False)
    processor = SpoolSpanProcessor(spool.SpoolWriter(work / "spool-only"))
    provider.add_span_processor(processor)
    try:
        return time_spans(provider, count)
    finally:
        processor.writer.close()


def store_path(count: int, work: Path, drain: str) -> tuple[float, float]:
    """Return (seconds per span on the thread, seconds from loop end to all stored)."""
    provider = TracerProvider(shutdown_on_exit=False)
    url = f"sqlite:///{work / f'store-{drain}.db'}"
    handle = configure(
        tracer_provider=provider,
        database_url=url,
        spool_dir=str(work / f"spool-{drain}"),
        drain=drain,  # type: ignore[arg-type]
    )
    assert isinstance(handle, StorePath)
    time_spans(provider, 200)  # the drain starts and the schema is created
    handle.force_flush(60_000)
    per_span = time_spans(provider, count)
    started = time.perf_counter()
    assert handle.force_flush(120_000)
    lag = time.perf_counter() - started
    handle.shutdown()
    return per_span, lag


class Base(DeclarativeBase):
    pass


class SaharaCluster(Base):
    __tablename__ = "clusters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    steps: Mapped[list[SaharaStep]] = relationship(lazy="selectin")


class SaharaStep(Base):
    __tablename__ = "cluster_provision_steps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"))
    step_name: Mapped[str] = mapped_column(String(80))
    events: Mapped[list[SaharaEvent]] = relationship(lazy="selectin")


class SaharaEvent(Base):
    __tablename__ = "cluster_events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("cluster_provision_steps.id"))
    instance_id: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str] = mapped_column(String(80))
    successful: Mapped[bool]


def sahara_way(count: int, work: Path) -> list[tuple[int, float]]:
    """Return (events already in the step, seconds for one more event) samples."""
    engine = create_engine(f"sqlite:///{work / 'sahara.db'}")

    @event.listens_for(engine, "connect")
    def _wal(connection, _record):  # type: ignore[no-untyped-def]
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")

    Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    with factory.begin() as session:
        session.add(SaharaCluster(id="c-1", steps=[SaharaStep(id="s-1", step_name="Launch")]))
    samples = []
    for n in range(count):
        started = time.perf_counter()
        with factory() as session:  # the event wrapper reloads the cluster
            session.get(SaharaCluster, "c-1")
        with factory.begin() as session:  # add_successful_event
            step = session.scalars(select(SaharaStep).where(SaharaStep.id == "s-1")).one()
            _ = len(step.events)
            step.events.append(
                SaharaEvent(
                    id=str(uuid.uuid4()),
                    instance_id=f"i-{n}",
                    instance_name=f"w-{n}",
                    successful=True,
                )
            )
        samples.append((n, time.perf_counter() - started))
    engine.dispose()
    return samples


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sahara-events", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="provlog-bench-") as directory:
        work = Path(directory)
        os.chdir(work)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.events} events")
        base = baseline(args.events)
        rows = [("SDK + BatchSpanProcessor, no-op exporter (baseline)", base, "")]
        rows.append(
            ("SDK + SpoolSpanProcessor, nothing draining", spool_only(args.events, work), "")
        )
        for drain in ("process", "thread"):
            per_span, lag = store_path(args.events, work, drain)
            rows.append(
                (
                    f"configure(drain={drain!r}), SQLite store",
                    per_span,
                    f"all stored {lag * 1000:.0f} ms after the last span",
                )
            )
        base_again = baseline(args.events)
        rows.append(("baseline again", base_again, ""))
        samples = sahara_way(args.sahara_events, work)
        mean_first = sum(s for _, s in samples[:20]) / 20
        mean_last = sum(s for _, s in samples[-20:]) / 20
        rows.append(("Sahara's way, around event 10 of the step", mean_first, ""))
        rows.append((f"Sahara's way, around event {args.sahara_events} of the step", mean_last, ""))
        reference = (base + base_again) / 2
        print(f"{'per event on the instrumented thread':58} {'µs':>9} {'ratio':>8}")
        for name, seconds, note in rows:
            print(f"{name:58} {seconds * 1e6:9.1f} {seconds / reference:7.2f}x  {note}")


if __name__ == "__main__":
    main()
