"""Span records into the store: one batch, one transaction, the same result in any order.

:func:`write_records` writes a batch inside the caller's transaction; :func:`write_batch`
runs it in a transaction of its own, retries when a concurrent writer got in the way, and
splits it when the database refuses a value, so that one bad record never holds up others.
The outcome depends only on the set of records ever written, never on their order, on how
they were split into batches, or on how often a batch was replayed:

- rows are keyed by their span (trace id and span id; an event's key also holds the
  millisecond it ended), so a span sent again is stored once and counted once;
- an event arriving before its step creates a placeholder step (running, no name) that
  the step's start marker or its span fills in later; a marker never reopens an ended step;
- a step's ``successful`` is null while it runs, false as soon as an event failed, and
  true or false once its span ended;
- an ``operation.start`` marker makes a running operation (with its plan) at once, and
  sets the cluster's name, tenant and status; the operation span ends it, and a marker
  never reopens an ended operation;
- a step links to its operation (its parent span; the operation of its trace while only
  its marker is known) and its place in the operation's plan whichever arrives first;
  the cluster's status follows from the stored rows;
- a record that cannot be used, that the database refuses, or that its writer may not
  write (another tenant's or another cluster's rows: :mod:`~otel_provlog.exporter.ownership`),
  is kept in
  ``rejected_spans`` with the reason, and never affects the others.

"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.exporter import database_errors, ownership, retention, store
from otel_provlog.exporter.database_errors import Failure
from otel_provlog.exporter.mapping import Rejected, bound_text, clean_text
from otel_provlog.exporter.models import (
    REASON_LENGTH,
    SPAN_ID_LENGTH,
    TRACE_ID_LENGTH,
    utcnow,
)
from otel_provlog.exporter.records import SpanRecord

__all__ = [
    "PAYLOAD_LIMIT",
    "WriteResult",
    "write_batch",
    "write_records",
]

logger = logging.getLogger(__name__)

PAYLOAD_LIMIT: Final = 64 * 1024
"""Most characters of a rejected record kept in ``rejected_spans.payload``."""

_RACES: Final = 3
"""Most attempts of one record whose key conflicts: a lost race heals on the next one."""
_REJECTED_NAMESPACE: Final = uuid.UUID("b5e0f3c2-5d0a-4c47-8f38-0e5b8f1a7d21")


@dataclass
class WriteResult:
    """What one batch did.

    ``written`` counts records that changed the store, ``duplicates`` those already stored
    (or repeated within the batch), ``rejected`` the records that could not be used (they
    are stored in ``rejected_spans``). ``retried`` counts the records written again after
    a rolled-back attempt: the batch's size for every attempt after the first.
    """

    written: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    retried: int = 0


def _rejected_row(rejected: Rejected, at: datetime) -> dict[str, Any]:
    record = rejected.record
    try:
        payload = json.dumps(record, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        payload = repr(record)
    reason = clean_text(rejected.reason, REASON_LENGTH) or "unusable"
    digest = hashlib.sha256(f"{reason}\n{payload}".encode("utf-8", "replace")).hexdigest()
    ids: Mapping[str, Any] = record if isinstance(record, Mapping) else {}
    return {
        "id": str(uuid.uuid5(_REJECTED_NAMESPACE, digest)),
        "trace_id": clean_text(ids.get("trace_id"), TRACE_ID_LENGTH),
        "span_id": clean_text(ids.get("span_id"), SPAN_ID_LENGTH),
        "reason": reason,
        "payload": bound_text(payload, PAYLOAD_LIMIT) or "",
        "created_at": at,
    }


def _ascii_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return a rejected row in plain ASCII (non-ASCII characters escaped), ids left out."""

    def plain(text: str) -> str:
        return text.encode("ascii", "backslashreplace").decode("ascii")

    return {
        **row,
        "trace_id": None,
        "span_id": None,
        "reason": plain(row["reason"])[:REASON_LENGTH],
        "payload": plain(row["payload"])[:PAYLOAD_LIMIT],
    }


def write_records(
    session: Session, records: Sequence[SpanRecord], *, scope: str | None = None
) -> WriteResult:
    """Write one batch of span records inside the caller's transaction.

    ``scope`` is the writer's tenant (None: unscoped); the spans it may not write are
    rejected (:func:`~otel_provlog.exporter.ownership.admit`). Concurrent writers of
    overlapping batches can make this raise :class:`~sqlalchemy.exc.IntegrityError` (or a
    deadlock) on PostgreSQL and MariaDB; the caller then rolls back and retries, as
    :func:`write_batch` does.
    """
    admission = ownership.admit(session, records, scope=scope)
    mapped = admission.mapped
    result = WriteResult(duplicates=mapped.repeated, rejected=list(mapped.rejected))
    store.merge_clusters(session, mapped.clusters)
    operations_applied, operations_unchanged = store.merge_operations(
        session, mapped.operations, mapped.operation_markers
    )
    applied, unchanged = store.merge_steps(
        session, mapped.steps, mapped.markers, mapped.placeholders
    )
    events = retention.without_pruned_events(session, mapped.events)  # pruned: duplicates
    new_events = store.add_events(session, events)
    linked = (*mapped.operations, *mapped.operation_markers, *mapped.steps, *mapped.markers)
    store.link_steps(session, {row["trace_id"] for row in (*linked, *mapped.placeholders)})
    # A cluster's status follows from its operations and named steps, and from which of
    # its steps failed: events that succeeded cannot change it.
    store.refresh_cluster_status(
        session,
        {row["cluster_id"] for row in linked}
        | {row["cluster_id"] for row in new_events if not row["successful"]},
    )
    admission.verify(session)
    if mapped.rejected:
        now = utcnow()
        store.add_rejected(session, [_rejected_row(item, now) for item in mapped.rejected])
    result.written = operations_applied + applied + len(new_events)
    result.duplicates += operations_unchanged + unchanged + len(mapped.events) - len(new_events)
    return result


def _pause(attempt: int) -> None:
    time.sleep(min(0.02 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))


class _Batches:
    """Writes one batch, splitting it until the records the database refuses are isolated."""

    def __init__(
        self, session_factory: sessionmaker[Session], attempts: int, scope: str | None
    ) -> None:
        self.session_factory = session_factory
        self.attempts = attempts
        self.scope = scope
        self.result = WriteResult()
        self.refused: list[Rejected] = []

    def write(self, records: Sequence[SpanRecord], *, again: bool) -> None:
        """Store ``records``; those the database refuses end in :attr:`refused`.

        ``again`` tells that these records were part of an attempt that failed.
        Raises the error when the database is unavailable or stays busy.
        """
        error = self._attempt(records, again=again)
        if error is None:
            return
        if len(records) == 1:
            why = database_errors.reason(error)
            logger.warning("otel_provlog: a span record is set aside in rejected_spans: %s", why)
            self.refused.append(Rejected(records[0], why))
            return
        middle = len(records) // 2
        self.write(records[:middle], again=True)
        self.write(records[middle:], again=True)

    def _attempt(self, records: Sequence[SpanRecord], *, again: bool) -> Exception | None:
        """Write ``records`` in one transaction, retried while the database is busy.

        Returns None once stored, or the error by which the database refused the data: at
        once for a batch of several records (the caller splits it) or a refused value, after
        three attempts for a single record whose key conflicts (a lost race heals at once).
        """
        for attempt in range(1, self.attempts + 1):
            self.result.retried += len(records) if again else 0
            try:
                with self.session_factory.begin() as session:
                    result = write_records(session, records, scope=self.scope)
            except Exception as error:
                # A concurrent writer changed what the ownership check saw: the whole batch
                # again (its check then sees those rows), as for a deadlock.
                failure = (
                    Failure.BUSY
                    if isinstance(error, ownership.OwnershipConflict)
                    else database_errors.classify(error)
                )
                invalidated = getattr(error, "connection_invalidated", False)
                if failure is None or (failure is Failure.UNAVAILABLE and not invalidated):
                    raise
                again = True
                last = attempt == self.attempts
                if failure in (Failure.BUSY, Failure.UNAVAILABLE):
                    if last:
                        raise
                elif failure is Failure.REFUSED or len(records) > 1 or attempt >= _RACES or last:
                    return error
                logger.debug("otel_provlog: batch interrupted (%s); trying again", error)
                _pause(attempt)
                continue
            self.result.written += result.written
            self.result.duplicates += result.duplicates
            self.result.rejected.extend(result.rejected)
            return None
        raise AssertionError("unreachable")  # pragma: no cover

    def set_aside(self) -> None:
        """Store the refused records in ``rejected_spans``, as plain ASCII if need be.

        Raises the error when the database is unavailable or stays busy.
        """
        if not self.refused:
            return
        now = utcnow()
        rows = [_rejected_row(item, now) for item in self.refused]
        plain = False
        for attempt in range(1, self.attempts + 1):
            try:
                with self.session_factory.begin() as session:
                    store.add_rejected(session, rows)
                break
            except Exception as error:
                failure = database_errors.classify(error)
                if failure is Failure.REFUSED and not plain:
                    rows, plain = [_ascii_row(row) for row in rows], True
                    continue
                if failure is Failure.REFUSED:
                    logger.error("otel_provlog: refused span records not stored: %s", error)
                    break
                busy = failure in (Failure.BUSY, Failure.CONFLICT)
                if not (busy or getattr(error, "connection_invalidated", False)):
                    raise
                if attempt == self.attempts:
                    raise
                _pause(attempt)
        else:
            logger.error("otel_provlog: refused span records not stored in rejected_spans")
        self.result.rejected.extend(self.refused)


def write_batch(
    session_factory: sessionmaker[Session],
    records: Sequence[SpanRecord],
    *,
    attempts: int = 5,
    scope: str | None = None,
) -> WriteResult:
    """Write one batch in a transaction of its own; no record the database refuses holds it up.

    Failures are told apart by :mod:`~otel_provlog.exporter.database_errors`:

    - a deadlock, a lock timeout or a lost connection rolls the transaction back; it is
      tried again after a short randomised pause, up to ``attempts`` times in all, and the
      last error is raised;
    - an unavailable database (refused connections, a full disk, a missing table) raises
      at once: nothing is stored, the caller tries the whole batch again later;
    - a value the database refuses, or a constraint that fails, splits the batch in halves,
      each in a transaction of its own, down to single records. The records the database
      still refuses alone (a key conflict after three tries, so that a concurrent writer's
      race is not mistaken for bad data) go to ``rejected_spans`` with the database's
      reason, and appear in the result's ``rejected``; all the others are stored.

    Replaying a batch stores nothing twice and sets each refused record aside once. The
    result's ``retried`` counts the records of every attempt after a failed one. ``scope`` is the
    writer's tenant, as for :func:`write_records`.

    Raises:
        ValueError: when ``attempts`` is less than 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    batches = _Batches(session_factory, attempts, scope)
    batches.write(list(records), again=False)
    batches.set_aside()
    return batches.result
