"""A large operation as its viewers see it: the first step ended, the second one running.

:func:`stores.seed` makes one running step of N instances. :func:`second_step` ends that
step and starts the operation's second step over the same instances, ``done`` of them
already finished in it: the others have no event in it yet, so the page infers they are
running in it (the heavier of the page's step reads). :func:`event_records` makes the
events that finish the next of those instances, as the instrumented engine would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Final

import spans
from sqlalchemy import insert, update
from stores import SEED_SPAN_BASE, T0, StepRef, insert_events

from otel_provlog import attributes as attr
from otel_provlog._ids import event_row_id
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import ProvisionStep, span_row_id
from otel_provlog.exporter.records import SpanRecord

SECOND_SPAN: Final = "00000000000000b2"
"""Span id of the operation's second step."""
_SECOND_EVENTS: Final = SEED_SPAN_BASE + 0x0100_0000_0000
"""Span ids of the second step's seeded events start here."""
_STARTED: Final = T0 + timedelta(hours=1)


def instance_id(n: int) -> str:
    """Return the id :func:`stores.seed` gave its ``n``-th instance."""
    return str(uuid.UUID(int=SEED_SPAN_BASE + n))


def _naive_ns(at: Any) -> tuple[Any, int]:
    naive = at.replace(tzinfo=None)
    return naive, int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def second_step(url: str, first: StepRef, *, done: int) -> StepRef:
    """End ``first`` and start the operation's second step with ``done`` instances finished."""
    second = StepRef(first.cluster_id, first.trace_id, SECOND_SPAN, first.events)
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            ended = T0.replace(tzinfo=None) + timedelta(seconds=first.events // 1000 + 1)
            connection.execute(
                update(ProvisionStep)
                .where(ProvisionStep.id == first.row_id)
                .values(status="failed", successful=False, completed_at=ended, updated_at=ended)
            )
            started, _ = _naive_ns(_STARTED)
            connection.execute(
                insert(ProvisionStep),
                [
                    {
                        "id": second.row_id,
                        "cluster_id": second.cluster_id,
                        "operation_id": span_row_id(first.trace_id, "00000000000000a1"),
                        "trace_id": second.trace_id,
                        "span_id": SECOND_SPAN,
                        "parent_span_id": "00000000000000a1",
                        "step_name": "Configuring instances",
                        "step_type": "creating",
                        "position": 1,
                        "total": first.events,
                        "completed": done,
                        "failed": 0,
                        "status": "running",
                        "started_at": started,
                        "created_at": started,
                        "updated_at": started,
                    }
                ],
            )
            insert_events(connection, _second_events(second, done))
    finally:
        engine.dispose()
    return second


def _second_events(second: StepRef, done: int) -> Iterator[dict[str, Any]]:
    """Yield the rows of the second step's ``done`` finished events."""
    for n in range(done):
        span = f"{_SECOND_EVENTS + n:016x}"
        at, ns = _naive_ns(_STARTED + timedelta(milliseconds=n + 1))
        yield {
            "id": event_row_id(second.trace_id, span, ns),
            "cluster_id": second.cluster_id,
            "provision_step_id": second.row_id,
            "trace_id": second.trace_id,
            "span_id": span,
            "node_group_id": f"ng-{n % 3}",
            "instance_id": instance_id(n),
            "instance_name": f"worker-{n:07d}",
            "successful": True,
            "started_at": at,
            "created_at": at,
            "updated_at": at,
        }


def event_records(step: StepRef, first: int, count: int) -> list[SpanRecord]:
    """Return the events finishing instances ``first`` to ``first + count - 1`` in ``step``.

    Past the step's instances, the events are of new instances.
    """
    records = spans.event_records(step.cluster_id, step.trace_id, step.span_id, first, count)
    for n, record in zip(range(first, first + count), records, strict=True):
        if n < step.events:
            record["attributes"][attr.INSTANCE_ID] = instance_id(n)
            record["attributes"][attr.INSTANCE_NAME] = f"worker-{n:07d}"
    return records
