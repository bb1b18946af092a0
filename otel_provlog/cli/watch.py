"""``provlog watch CLUSTER``: follow a cluster's operation until it ends; exit with its outcome.

The watched operation is the cluster's latest one when the command starts. Every
``--interval`` seconds the cluster is read again (through the API or, offline, the store);
what changed is handed to a view (:mod:`otel_provlog.cli.watch_views`): steps that
started, progressed or ended, new failed events (read only for the steps whose failed
count grew), and a heartbeat. A cluster without an operation record is watched until
none of its steps runs.

Exit codes: 0 the operation finished with every step successful, 1 it (or a step) failed
or was interrupted, 2 bad usage, 3 ``--timeout`` ran out, 4 no such cluster, 5 the API
or the store does not answer (at the start, or for longer than a minute while watching).
An operation that already ended is printed once, with the same exit code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

import click

from otel_provlog.cli.exit_codes import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    CommandError,
)
from otel_provlog.cli.options import DURATION
from otel_provlog.cli.reading import (
    PAGE_SIZE,
    exit_on_errors,
    no_cluster,
    open_client,
    source_options,
)

if TYPE_CHECKING:
    from otel_provlog.cli.watch_views import View
    from otel_provlog.client import Cluster, Operation, ProvlogClient, Step

__all__ = ["Outcome", "Watcher", "watch"]

UNREACHABLE_GRACE: Final = 60.0
"""Seconds the API may stay unreachable while watching before the command gives up."""
MIN_INTERVAL: Final = 0.1
"""The shortest time between two reads of the cluster."""
MAX_FAILURES_SHOWN: Final = 50
"""Failed events printed at most; past that, one line says where to read the rest."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a watch ended: its exit code, in words, and the numbers of its summary."""

    exit_code: int
    status: str
    """``successful``, ``failed``, ``interrupted`` or ``timeout``."""
    steps: int
    failed_steps: int
    failed_events: int
    running: tuple[Step, ...] = ()
    """The steps still running (when the watch timed out)."""


def watched_steps(found: Cluster, operation_id: str | None) -> list[Step]:
    """Return the steps of the watched operation (those without one when it is None)."""
    return [s for s in found.steps if s.operation_id == operation_id]


def _outcome(status: str, steps: list[Step]) -> Outcome:
    failed = [s for s in steps if s.successful is False]
    ok = status == "successful" and not failed and all(s.successful for s in steps)
    return Outcome(
        exit_code=EXIT_OK if ok else EXIT_FAILED,
        status="successful" if ok else ("failed" if status == "successful" else status),
        steps=len(steps),
        failed_steps=len(failed),
        failed_events=sum(s.failed for s in steps),
    )


def ended(found: Cluster, operation_id: str | None, steps: list[Step]) -> Outcome | None:
    """Return the outcome once the watched operation ended, else None."""
    operation = found.operation
    if operation_id is None:
        if operation is not None or not steps or any(s.running for s in steps):
            return None
        return _outcome("successful", steps)
    if operation is not None and operation.id == operation_id:
        return None if operation.running else _outcome(operation.status, steps)
    # A newer operation started: the watched one ended; its steps tell how.
    if any(s.running for s in steps):
        return _outcome("interrupted", steps)
    return _outcome("successful", steps)


@dataclass
class Watcher:
    """Polls one cluster and tells ``view`` what changed, until its operation ends."""

    client: ProvlogClient
    cluster_id: str
    view: View
    interval: float = 2.0
    timeout: float | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    operation_id: str | None = None
    _watched: Operation | None = None
    """The watched operation as last seen while it was the cluster's latest."""
    _steps: dict[str, Step] = field(default_factory=dict)
    _failures_seen: set[str] = field(default_factory=set)
    _failed_counts: dict[str, int] = field(default_factory=dict)
    _failures_shown: int = 0

    def run(self) -> int:
        """Watch until the operation ends or the time runs out; return the exit code."""
        from otel_provlog.client import NotFoundError, UnreachableError

        started = self.clock()
        with exit_on_errors(no_cluster(self.cluster_id)):
            found = self.client.get_cluster(self.cluster_id)
        self.operation_id = found.operation.id if found.operation else None
        self.view.begin(found)
        unreachable_since: float | None = None
        while True:
            outcome = ended(found, self.operation_id, watched_steps(found, self.operation_id))
            shown = self._shown(found, ending=outcome is not None)
            steps = self._report(shown)
            if outcome is not None:
                self.view.finish(shown, outcome)
                return outcome.exit_code
            now = self.clock()
            if self.timeout is not None and now - started >= self.timeout:
                running = tuple(s for s in steps if s.running)
                self.view.finish(found, Outcome(EXIT_TIMEOUT, "timeout", len(steps), 0, 0, running))
                return EXIT_TIMEOUT
            pause = self.interval
            if self.timeout is not None:
                pause = max(0.0, min(pause, started + self.timeout - now))
            self.sleep(pause)
            try:
                found = self.client.get_cluster(self.cluster_id)
                unreachable_since = None
            except NotFoundError:
                raise CommandError(f"cluster {self.cluster_id!r} is gone", EXIT_NOT_FOUND) from None
            except UnreachableError as error:
                if unreachable_since is None:
                    unreachable_since = self.clock()
                    self.view.warn(f"{error}; trying again")
                elif self.clock() - unreachable_since > UNREACHABLE_GRACE:
                    raise CommandError(str(error), EXIT_UNREACHABLE) from None

    def _shown(self, found: Cluster, *, ending: bool) -> Cluster:
        """Return the cluster with the watched operation, even once a newer one began.

        A watched operation a newer one replaced has ended; its end is its last step's.
        """
        operation = found.operation
        if self.operation_id is None or (
            operation is not None and operation.id == self.operation_id
        ):
            self._watched = operation
            return found
        if self._watched is None:
            return found
        watched = self._watched
        if ending and watched.running:
            ends = [
                s.completed_at for s in watched_steps(found, self.operation_id) if s.completed_at
            ]
            watched = replace(watched, status="ended", completed_at=max(ends, default=None))
        return replace(found, operation=watched)

    def _report(self, found: Cluster) -> list[Step]:
        """Tell the view which steps changed and which failures are new; return the steps."""
        if self.operation_id is None and found.operation is not None:
            self.operation_id = found.operation.id  # its marker arrived after its steps
        steps = watched_steps(found, self.operation_id)
        for step in steps:
            before = self._steps.get(step.id)
            self._steps[step.id] = step
            if before is None:
                self.view.step_changed(step, "ended" if not step.running else "started")
            elif before.running and not step.running:
                self.view.step_changed(step, "ended")
            elif (before.completed, before.failed) != (step.completed, step.failed):
                self.view.step_changed(step, "progress")
            if step.failed > self._failed_counts.get(step.id, 0):
                self._new_failures(step)
        self.view.refresh(found, steps)
        return steps

    def _new_failures(self, step: Step) -> None:
        """Show the step's failed events not shown yet (read again next time if unreachable)."""
        from otel_provlog.client import UnreachableError

        if self._failures_shown > MAX_FAILURES_SHOWN:
            return
        try:
            events = [
                event
                for event in self.client.iterate(
                    self.client.list_failures, self.cluster_id, step_id=step.id, limit=PAGE_SIZE
                )
                if event.id not in self._failures_seen
            ]
        except UnreachableError:
            return  # the next read of the cluster says whether the API is gone
        self._failed_counts[step.id] = step.failed
        for event in events:
            self._failures_seen.add(event.id)
            self._failures_shown += 1
            if self._failures_shown > MAX_FAILURES_SHOWN:
                self.view.warn(
                    f"more than {MAX_FAILURES_SHOWN} failures: "
                    f"provlog failures {self.cluster_id} lists them"
                )
                return
            self.view.failure(event, step)


@click.command()
@click.argument("cluster_id", metavar="CLUSTER")
@source_options
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help="Give up after this long, e.g. 90s or 30m (exit code 3).",
)
@click.option(
    "--interval",
    type=DURATION,
    default=2.0,
    show_default="2s",
    help="Time between two reads of the cluster.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["live", "lines", "json"]),
    default=None,
    help="live: progress bars (the default on a terminal); lines: one line per change "
    "and a heartbeat (the default otherwise); json: JSON Lines.",
)
@click.option("--heartbeat", type=DURATION, default=10.0, hidden=True)
def watch(
    cluster_id: str,
    api_url: str | None,
    database_url: str | None,
    timeout: float | None,
    interval: float,
    output_format: str | None,
    heartbeat: float,
) -> None:
    """Follow a cluster's latest operation until it ends; exit 0 only if it all succeeded.

    On a terminal: one progress bar per step (done/total, failed and running counts,
    elapsed, time left), failures printed above the bars as they happen, and a summary
    line. Otherwise: one line per change, with a heartbeat every 10 s. With -f json:
    JSON Lines, a version record first.

    Exit codes: 0 every step of the operation succeeded, 1 it or a step failed,
    2 bad usage, 3 --timeout ran out, 4 no such cluster, 5 the API or the store
    does not answer.
    """
    from otel_provlog.cli import watch_views

    if output_format is None:
        output_format = "live" if sys.stdout.isatty() else "lines"
    view = watch_views.make_view(output_format, heartbeat=heartbeat)
    with exit_on_errors(no_cluster(cluster_id)), open_client(api_url, database_url) as client:
        try:
            watcher = Watcher(
                client, cluster_id, view, interval=max(interval, MIN_INTERVAL), timeout=timeout
            )
            code = watcher.run()
        finally:
            view.close()
    click.get_current_context().exit(code)
