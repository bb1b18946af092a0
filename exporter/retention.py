"""Retention: the periodic clean-up of events of steps that completed successfully long ago.

Sahara's event log dropped the events of successfully completed steps periodically; so do
we, after ``PROVLOG_EVENT_RETENTION`` (24 h by default). What goes and what stays:

- the event rows of a step whose status is ``successful`` and that has had no news (its
  ``completed_at`` and ``updated_at``) for the retention period are deleted;
- events of failed, interrupted and running steps stay, whatever their age;
- the step rows stay, with their ``completed``/``failed`` counts, and get
  ``events_pruned_at`` set, which the API may show.

It is idempotent (a pruned step is never looked at again) and safe next to writers: each
batch locks its step rows (``SELECT ... FOR UPDATE``), marks them, then deletes their
events, in one transaction; a writer adding events locks the same rows first
(:func:`without_pruned_events`) and treats the events of a pruned step as duplicates, so a
late replay of a pruned event is neither stored again nor counted twice.

Run it with ``provlog prune`` (once), in a thread of your own with a
:class:`RetentionWorker`, periodically with ``provlog prune --every 1h``, or in a process of
its own with :func:`start_retention_process` (what ``provlog serve`` does)::

    from otel_provlog.exporter.retention import prune_events
    result = prune_events(session_factory(engine), retention=24 * 3600)
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.exporter import database_errors
from otel_provlog.exporter.database import chunks
from otel_provlog.exporter.models import ClusterEvent, ProvisionStep, RunStatus, utcnow

__all__ = [
    "DEFAULT_BATCH_STEPS",
    "PruneResult",
    "RetentionWorker",
    "default_interval",
    "prune_events",
    "pruned_steps",
    "run_retention",
    "start_retention_process",
    "without_pruned_events",
]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_STEPS: Final = 50
"""Steps whose events one transaction removes."""
_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one clean-up removed."""

    steps: int = 0
    """Steps whose events were removed (now marked ``events_pruned_at``)."""
    events: int = 0
    """Event rows deleted."""


def _eligible(cutoff: datetime) -> Any:
    return (
        ProvisionStep.status == RunStatus.SUCCESSFUL,
        ProvisionStep.events_pruned_at.is_(None),
        ProvisionStep.completed_at.is_not(None),
        ProvisionStep.completed_at < cutoff,
        ProvisionStep.updated_at < cutoff,
    )


def _prune_batch(session: Session, cutoff: datetime, now: datetime, size: int) -> PruneResult:
    ids = list(
        session.scalars(
            select(ProvisionStep.id)
            .where(*_eligible(cutoff))
            .order_by(ProvisionStep.id)
            .limit(size)
            .with_for_update()
        )
    )
    if not ids:
        return PruneResult()
    session.execute(
        update(ProvisionStep)
        .where(ProvisionStep.id.in_(ids), ProvisionStep.events_pruned_at.is_(None))
        .values(events_pruned_at=now)
    )
    deleted = session.execute(delete(ClusterEvent).where(ClusterEvent.provision_step_id.in_(ids)))
    return PruneResult(steps=len(ids), events=max(deleted.rowcount or 0, 0))  # type: ignore[attr-defined]


def prune_events(
    sessions: sessionmaker[Session],
    *,
    retention: float,
    now: datetime | None = None,
    batch_steps: int = DEFAULT_BATCH_STEPS,
    should_stop: Callable[[], bool] | None = None,
) -> PruneResult:
    """Remove the events of steps that completed successfully ``retention`` seconds ago.

    Works in transactions of ``batch_steps`` steps until nothing is left (or
    ``should_stop()`` says so); a batch that meets a deadlock or lock timeout is retried.

    Raises:
        ValueError: for a negative ``retention`` or a batch size below 1.
    """
    if retention < 0:
        raise ValueError(f"retention must not be negative, got {retention}")
    if batch_steps < 1:
        raise ValueError(f"batch_steps must be at least 1, got {batch_steps}")
    now = now or utcnow()
    cutoff = now - timedelta(seconds=retention)
    steps = events = 0
    while should_stop is None or not should_stop():
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with sessions.begin() as session:
                    batch = _prune_batch(session, cutoff, now, batch_steps)
                break
            except DBAPIError as error:
                if attempt == _ATTEMPTS or not database_errors.transient(error):
                    raise
                time.sleep(0.05 * attempt * random.uniform(0.5, 1.5))
        steps += batch.steps
        events += batch.events
        if batch.steps < batch_steps:
            break
    if steps:
        logger.info("retention: removed %d events of %d completed steps", events, steps)
    return PruneResult(steps=steps, events=events)


def without_pruned_events(session: Session, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Return the event ``rows`` whose step's events were not pruned; lock those steps.

    Call it in the writer's transaction before inserting events: it locks the step rows
    the events belong to (so the clean-up cannot prune them until the transaction ends)
    and leaves out the events of steps already pruned, which are replays of events that
    were stored, counted and removed.
    """
    step_ids = sorted({row["provision_step_id"] for row in rows})
    if not step_ids:
        return list(rows)
    pruned: set[str] = set()
    for chunk in chunks(step_ids):
        found = session.execute(
            select(ProvisionStep.id, ProvisionStep.events_pruned_at)
            .where(ProvisionStep.id.in_(chunk))
            .order_by(ProvisionStep.id)
            .with_for_update()
        )
        pruned.update(step_id for step_id, pruned_at in found if pruned_at is not None)
    if not pruned:
        return list(rows)
    return [row for row in rows if row["provision_step_id"] not in pruned]


def pruned_steps(session: Session) -> int:
    """Return how many steps have had their events removed."""
    return (
        session.scalar(select(func.count()).where(ProvisionStep.events_pruned_at.is_not(None))) or 0
    )


def default_interval(retention: float) -> float:
    """Return how often the clean-up runs: a tenth of the retention, between 1 min and 1 h."""
    return min(max(retention / 10, 60.0), 3600.0)


class RetentionWorker:
    """Runs :func:`prune_events` every ``interval`` seconds in a daemon thread.

    ``provlog serve`` starts one; :meth:`stop` ends it within the current batch.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        retention: float,
        interval: float | None = None,
    ) -> None:
        self._sessions = sessions
        self.retention = retention
        """Seconds events of successful steps are kept."""
        self.interval = default_interval(retention) if interval is None else interval
        """Seconds between two clean-ups."""
        self.runs = 0
        """Clean-ups finished so far."""
        self.removed = PruneResult()
        """What all clean-ups so far removed."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="provlog-retention", daemon=True)

    def start(self) -> RetentionWorker:
        """Start the thread; the first clean-up runs at once. Return the worker."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = prune_events(
                    self._sessions, retention=self.retention, should_stop=self._stop.is_set
                )
                self.removed = PruneResult(
                    self.removed.steps + result.steps, self.removed.events + result.events
                )
            except Exception:
                logger.exception("retention: the clean-up failed; it runs again later")
            self.runs += 1
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for the batch in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def run_retention(
    database_url: str,
    retention: float,
    interval: float | None,
    *,
    stop: threading.Event,
    parent_pid: int | None = None,
) -> None:
    """Prune the store at ``database_url`` periodically until ``stop`` is set.

    With ``parent_pid``, it also stops once that process is gone. The body of ``provlog
    prune --every`` and so of the process :func:`start_retention_process` starts.
    """
    from otel_provlog.exporter.database import create_store_engine, session_factory

    engine = create_store_engine(database_url)
    worker = RetentionWorker(session_factory(engine), retention=retention, interval=interval)
    worker.start()
    try:
        while not stop.wait(0.5):
            if parent_pid is not None and os.getppid() != parent_pid:
                break
    finally:
        worker.stop()
        engine.dispose()


def start_retention_process(
    database_url: str, retention: float, *, interval: float | None = None
) -> subprocess.Popen[bytes]:
    """Start the periodic clean-up in a process of its own: ``provlog prune --every``.

    A plain child process, unknown to :mod:`multiprocessing`: processes forked from the
    caller later (gunicorn's workers) cannot end it from their exit handlers. The database
    URL reaches it through its environment, not its command line. It ends with its parent,
    or when :meth:`~subprocess.Popen.terminate` is called.
    """
    every = default_interval(retention) if interval is None else interval
    command = [sys.executable, "-P", "-m", "otel_provlog.cli", "prune"]
    command += ["--retention", repr(retention), "--every", repr(every)]
    command += ["--parent-pid", str(os.getpid())]
    environment = {**os.environ, "PROVLOG_DATABASE_URL": database_url}
    return subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)
