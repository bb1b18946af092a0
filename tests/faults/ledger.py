"""The ledger of a fault case: which spans ended, and the rows they must have made.

A :class:`LedgerSpanProcessor` appends one line per ended provisioning span to a file, with
one ``os.write`` on an ``O_APPEND`` descriptor, so the line survives ``kill -9`` of its
process the moment the call returns. A provisioning process adds two of them around the
store path's own processor::

    provider.add_span_processor(LedgerSpanProcessor(path, "ending"))  # before the spool
    otel_provlog.configure(tracer_provider=provider, ...)               # the spool
    provider.add_span_processor(LedgerSpanProcessor(path, "ended"))   # after the spool

A span whose ``ended`` line exists was in the spool before it was written: it must reach
the store. A span with only its ``ending`` line was being ended when the process died: it
may or may not. A span without either never ended: it must not be stored. So a case asserts
exact outcomes however the process died: ``must <= stored <= may`` for every table (the
rows a span makes are :func:`expected_rows`), nothing else stored, and every step's
counters equal the events stored for it (:func:`check_store`).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode
from sqlalchemy import Engine, select

from otel_provlog import attributes as attr
from otel_provlog.exporter.models import ClusterEvent, ClusterOperation, ProvisionStep, RejectedSpan

Key = tuple[str, str]
"""(trace id, span id) of a row, in lower-case hex."""
TABLES = ("operations", "steps", "events")


@dataclass(frozen=True, slots=True)
class Entry:
    """One ended provisioning span as the ledger saw it."""

    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    successful: bool


def entry_of(span: ReadableSpan) -> Entry | None:
    """Return the ledger entry of an ended span; None when it is no provisioning span."""
    kind = (span.attributes or {}).get(attr.SPAN_KIND)
    context = span.get_span_context()
    if kind is None or context is None:
        return None
    return Entry(
        kind=str(kind),
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else "-",
        successful=span.status.status_code is not StatusCode.ERROR,
    )


class LedgerSpanProcessor(SpanProcessor):
    """Appends ``<phase> <kind> <trace> <span> <parent> <ok|error>`` per provisioning span."""

    def __init__(self, path: Path | str, phase: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._phase = phase
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Do nothing."""

    def on_end(self, span: ReadableSpan) -> None:
        """Write the span's line."""
        entry = entry_of(span)
        if entry is None:
            return
        ok = "ok" if entry.successful else "error"
        line = " ".join(
            (self._phase, entry.kind, entry.trace_id, entry.span_id, entry.parent_span_id, ok)
        )
        with self._lock:
            os.write(self._fd, (line + "\n").encode())

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass
class Ledger:
    """The spans that must be stored (``ended``) and those that may be (``ending``)."""

    must: list[Entry] = field(default_factory=list)
    may: list[Entry] = field(default_factory=list)

    @classmethod
    def read(cls, paths: Iterable[Path]) -> Ledger:
        """Read ledger files; a torn last line (the writer was killed mid-write) is skipped."""
        ledger = cls()
        for path in paths:
            for line in path.read_text().splitlines():
                parts = line.split(" ")
                if len(parts) != 6 or parts[5] not in ("ok", "error"):
                    continue
                phase, kind, trace, span, parent, ok = parts
                entry = Entry(kind, trace, span, parent, ok == "ok")
                (ledger.must if phase == "ended" else ledger.may).append(entry)
        ledger.may = list({*ledger.may, *ledger.must})
        return ledger


def expected_rows(entries: Iterable[Entry]) -> dict[str, set[Key]]:
    """Return the row keys, by table, that these ended spans make.

    An event makes its event row and (as a placeholder until its step ends) its step's row;
    a ``step.start`` marker makes its step's row, an ``operation.start`` its operation's.
    """
    rows: dict[str, set[Key]] = {table: set() for table in TABLES}
    for entry in entries:
        own, parent = (entry.trace_id, entry.span_id), (entry.trace_id, entry.parent_span_id)
        if entry.kind == attr.SPAN_EVENT:
            rows["events"].add(own)
            rows["steps"].add(parent)
        elif entry.kind == attr.SPAN_STEP:
            rows["steps"].add(own)
        elif entry.kind == attr.SPAN_STEP_START:
            rows["steps"].add(parent)
        elif entry.kind == attr.SPAN_OPERATION:
            rows["operations"].add(own)
        elif entry.kind == attr.SPAN_OPERATION_START:
            rows["operations"].add(parent)
    return rows


@dataclass
class StoredRows:
    """What a store holds: row keys by table, steps' counters and rows, rejected spans."""

    keys: dict[str, set[Key]]
    steps: dict[Key, dict[str, Any]]
    events: dict[Key, dict[str, Any]]
    rejected: list[tuple[str | None, str | None, str]]


def read_store(engine: Engine) -> StoredRows:
    """Read every row key, step and event of the store behind ``engine``."""
    with engine.connect() as connection:
        operations = {
            (t, s)
            for t, s in connection.execute(
                select(ClusterOperation.trace_id, ClusterOperation.span_id)
            )
        }
        steps = {
            (row.trace_id, row.span_id): dict(row._mapping)
            for row in connection.execute(
                select(
                    ProvisionStep.id,
                    ProvisionStep.trace_id,
                    ProvisionStep.span_id,
                    ProvisionStep.status,
                    ProvisionStep.completed,
                    ProvisionStep.failed,
                    ProvisionStep.events_pruned_at,
                )
            )
        }
        events = {
            (row.trace_id, row.span_id): dict(row._mapping)
            for row in connection.execute(
                select(
                    ClusterEvent.trace_id,
                    ClusterEvent.span_id,
                    ClusterEvent.provision_step_id,
                    ClusterEvent.successful,
                )
            )
        }
        rejected = [
            (row.trace_id, row.span_id, row.reason)
            for row in connection.execute(
                select(RejectedSpan.trace_id, RejectedSpan.span_id, RejectedSpan.reason)
            )
        ]
    keys = {"operations": operations, "steps": set(steps), "events": set(events)}
    return StoredRows(keys, steps, events, rejected)


def check_store(
    engine: Engine, ledger: Ledger, *, pruned_ok: bool = False, rejected_ok: bool = False
) -> StoredRows:
    """Assert the store holds exactly what the ledger says: nothing lost, nothing doubled.

    For every table, the rows of the spans that surely ended are stored, and nothing is
    stored that no span being ended made. Every step's ``completed``/``failed`` counters
    equal its stored events; with ``pruned_ok``, a step whose events the clean-up removed
    keeps counters equal to the events the ledger says ended for it instead. A step whose
    own span surely ended is not running. No span is rejected unless ``rejected_ok``.
    """
    stored = read_store(engine)
    must, may = expected_rows(ledger.must), expected_rows(ledger.may)
    pruned_steps = {
        step["id"] for step in stored.steps.values() if step["events_pruned_at"] is not None
    }
    problems: list[str] = []
    pruned_keys = {key for key, step in stored.steps.items() if step["id"] in pruned_steps}
    step_of = {(e.trace_id, e.span_id): (e.trace_id, e.parent_span_id) for e in ledger.may}
    for table in TABLES:
        lost = must[table] - stored.keys[table]
        if table == "events" and pruned_ok:  # the clean-up removed them, by design
            lost = {key for key in lost if step_of[key] not in pruned_keys}
        extra = stored.keys[table] - may[table]
        if lost:
            problems.append(f"{table}: {len(lost)} lost, e.g. {sorted(lost)[:3]}")
        if extra:
            problems.append(f"{table}: {len(extra)} never ended, e.g. {sorted(extra)[:3]}")
    counted = Counter(
        (event["provision_step_id"], bool(event["successful"])) for event in stored.events.values()
    )
    ended_events = Counter(
        ((e.trace_id, e.parent_span_id), e.successful)
        for e in ledger.must
        if e.kind == attr.SPAN_EVENT
    )
    for key, step in stored.steps.items():
        if step["id"] in pruned_steps and pruned_ok:
            expected = (ended_events[(key, True)], ended_events[(key, False)])
        else:
            expected = (counted[(step["id"], True)], counted[(step["id"], False)])
        if (step["completed"], step["failed"]) != expected:
            problems.append(
                f"step {key}: counters {(step['completed'], step['failed'])} != {expected}"
            )
    for entry in ledger.must:
        if entry.kind == attr.SPAN_STEP:
            status = stored.steps.get((entry.trace_id, entry.span_id), {}).get("status")
            if status == "running":
                problems.append(f"step {entry.span_id} ended but is shown running")
    if stored.rejected and not rejected_ok:
        problems.append(f"{len(stored.rejected)} rejected: {stored.rejected[:3]}")
    assert not problems, "\n".join(problems)
    return stored
