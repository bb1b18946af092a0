"""Target 5, the instrumented thread: per-event cost against a bare SDK span.

Every event is ``with tracer.start_as_current_span(...)`` with the attributes of an
``event`` span, inside an open step span. Each round times ``--thread-events`` events of
every row in turn (the order changes per round), so the rows share the machine's moods:

- OpenTelemetry's no-op tracer, and the SDK with no processor;
- the baseline: the SDK with a ``BatchSpanProcessor`` and a no-op exporter;
- the store path: ``configure(drain="process")``, its drain process storing into the
  backend's store while the rounds run (the target: ≤ 1.5x the baseline);
- Sahara's way (one transaction per event that reloads the step): per event, load the
  cluster with its steps and events, then a transaction that loads the step with all its
  events and inserts one (SQLAlchemy ORM, on the backend), around the 10th and around the
  ``--sahara-events``-th event of the step.
"""

from __future__ import annotations

import time
import uuid
from typing import Final

from context import Context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from producer import close, store_path
from report import Figure
from spans import NoopExporter, event_attributes, step_attributes
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from otel_provlog.exporter.database import create_store_engine, session_factory

NAME: Final = "thread"


def time_events(tracer: trace.Tracer, count: int) -> float:
    """Return the mean microseconds per event span on this thread."""
    events = [event_attributes("c-thread", n) for n in range(count)]
    with tracer.start_as_current_span("Launching", attributes=step_attributes("c-thread", count)):
        started = time.perf_counter()
        for attributes in events:
            with tracer.start_as_current_span("instance event", attributes=attributes):
                pass
        return (time.perf_counter() - started) / count * 1e6


class _Base(DeclarativeBase):
    pass


class SaharaCluster(_Base):
    __tablename__ = "sahara_clusters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    steps: Mapped[list[SaharaStep]] = relationship(lazy="selectin")


class SaharaStep(_Base):
    __tablename__ = "sahara_steps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("sahara_clusters.id"))
    step_name: Mapped[str] = mapped_column(String(80))
    events: Mapped[list[SaharaEvent]] = relationship(lazy="selectin")


class SaharaEvent(_Base):
    __tablename__ = "sahara_events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("sahara_steps.id"))
    instance_id: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str] = mapped_column(String(80))
    successful: Mapped[bool]


def sahara_way(url: str, count: int) -> list[float]:
    """Return the microseconds each of ``count`` events into one step took, Sahara's way."""
    engine = create_store_engine(url)
    try:
        _Base.metadata.create_all(engine)
        factory = session_factory(engine)
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
            samples.append((time.perf_counter() - started) * 1e6)
        return samples
    finally:
        engine.dispose()


def run(ctx: Context) -> list[Figure]:
    """Measure target 5 (with the drain running) on the context's backend."""
    n = ctx.sizes.thread_events
    bare = TracerProvider(shutdown_on_exit=False)
    batch = TracerProvider(shutdown_on_exit=False)
    batch.add_span_processor(BatchSpanProcessor(NoopExporter()))
    ours, handle = store_path(ctx.databases.new("thread"), ctx.folder("spool"))
    rows = {
        "noop": trace.NoOpTracer(),
        "bare": bare.get_tracer("bench"),
        "batch": batch.get_tracer("bench"),
        "ours": ours.get_tracer("bench"),
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    order = list(rows)
    try:
        for tracer in rows.values():  # warm up
            time_events(tracer, min(n, 200))
        for r in range(ctx.sizes.rounds * 2):
            turn = r % len(order)
            for name in order[turn:] + order[:turn]:
                times[name].append(time_events(rows[name], n))
    finally:
        close(ours, handle)
        bare.shutdown()
        batch.shutdown()
    sahara = sahara_way(ctx.databases.new("sahara"), max(ctx.sizes.sahara_events, 30))
    base = "SDK + BatchSpanProcessor, no-op exporter"
    figures = [
        Figure(
            NAME,
            ctx.backend,
            "store path, drain process running",
            "µs/event",
            times["ours"],
            base,
            times["batch"],
            "≤ 1.5x",
            lambda median, ratio: ratio is not None and ratio <= 1.5,
        ),
        Figure(
            NAME,
            ctx.backend,
            "bare SDK span, no processor",
            "µs/event",
            times["bare"],
            base,
            times["batch"],
        ),
        Figure(
            NAME,
            ctx.backend,
            "OpenTelemetry no-op tracer",
            "µs/event",
            times["noop"],
            base,
            times["batch"],
        ),
        Figure(
            NAME,
            ctx.backend,
            "Sahara's way, events 1-20 of the step",
            "µs/event",
            sahara[:20],
            base,
            times["batch"],
        ),
        Figure(
            NAME,
            ctx.backend,
            f"Sahara's way, the last 20 of {len(sahara):,} events of the step",
            "µs/event",
            sahara[-20:],
            base,
            times["batch"],
        ),
    ]
    return figures
