"""How ``provlog watch`` shows what it sees: live bars, append-only lines, or JSON Lines.

- :class:`LiveView` (a terminal): a rich live display with one bar per step of the
  operation ("59/1000", failed and running counts, elapsed, time left), failures printed
  above the bars as they happen, and a summary line at the end.
- :class:`LineView` (a file, a pipe, a CI log): one line per change (a step started or
  ended, a failure) and, when nothing was printed for a while, a heartbeat
  (``still running: Waiting for ssh 412/1000 [2m10s]``) so a log never looks hung.
- :class:`JsonView`: JSON Lines, a ``version`` record first, then ``watch``, ``step``,
  ``failure``, ``heartbeat``, ``warning`` and a closing ``result`` record.

"Running" events of a step are those it expects that have not ended yet:
``total - completed - failed``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO

from otel_provlog.cli.output import safe, short_duration, step_counts, step_elapsed

if TYPE_CHECKING:
    from otel_provlog.cli.watch import Outcome
    from otel_provlog.client import Cluster, Event, Step

__all__ = [
    "JSON_VERSION",
    "JsonView",
    "LineView",
    "View",
    "failure_line",
    "make_view",
    "operation_seconds",
    "running_events",
    "step_line",
    "summary",
]

JSON_VERSION: Final = 1
"""The version of the JSON Lines records; the first record carries it."""


class View(Protocol):
    """What the watch loop tells a view."""

    def begin(self, found: Cluster) -> None:
        """Start watching ``found``."""

    def step_changed(self, step: Step, change: str) -> None:
        """Show that a step ``started``, made ``progress`` or ``ended``."""

    def failure(self, event: Event, step: Step) -> None:
        """Show a new failed event."""

    def refresh(self, found: Cluster, steps: list[Step]) -> None:
        """Show the cluster as read again; ``steps`` are the watched operation's."""

    def warn(self, message: str) -> None:
        """Something the user should know, that does not end the watch."""

    def finish(self, found: Cluster, outcome: Outcome) -> None:
        """End the watch with ``outcome``."""

    def close(self) -> None:
        """Release the terminal (also after an error)."""


def running_events(step: Step) -> int:
    """Return the events of a running step that have not ended yet (0 when unknown)."""
    if not step.running or step.total is None:
        return 0
    return max(0, step.total - step.completed - step.failed)


def _title(found: Cluster) -> str:
    name = f" ({safe(found.name, one_line=True)})" if found.name else ""
    return f"cluster {safe(found.id, one_line=True)}{name}"


def _operation_name(found: Cluster) -> str:
    return found.operation.step_type if found.operation else "provisioning"


def summary(found: Cluster, outcome: Outcome, seconds: float | None) -> str:
    """Return the closing line of a watch."""
    took = f" in {short_duration(seconds)}" if seconds is not None else ""
    if outcome.status == "timeout":
        still = ", ".join(f"{safe(s.step_name)} {step_counts(s)}" for s in outcome.running)
        return f"timed out watching {_title(found)}" + (
            f"; still running: {still}" if still else ""
        )
    failed_steps = f" ({outcome.failed_steps} failed)" if outcome.failed_steps else ""
    events = "event" if outcome.failed_events == 1 else "events"
    said = found.operation.status if found.operation else None
    status = outcome.status
    if status == "failed" and said == "successful":  # it ended, but steps had failures
        status = "finished with failed steps"
    return (
        f"{_operation_name(found)} {_title(found)} {status}{took}: "
        f"{outcome.steps} steps{failed_steps}, {outcome.failed_events} failed {events}"
    )


def operation_seconds(found: Cluster, now: datetime) -> float | None:
    """Return how long the cluster's operation ran (so far, while it runs)."""
    operation = found.operation
    if operation is None or operation.started_at is None:
        return None
    return max(0.0, ((operation.completed_at or now) - operation.started_at).total_seconds())


def step_line(step: Step, change: str, now: datetime) -> str:
    """Return the line of a step that started or ended."""
    name = safe(step.step_name, one_line=True)
    if change == "started":
        return f"started: {name} ({step_counts(step)})"
    failed = f", {step.failed} failed" if step.failed else ""
    took = short_duration(step_elapsed(step, now))
    return f"{step.status}: {name} {step_counts(step)}{failed}" + (f" in {took}" if took else "")


def failure_line(event: Event, step: Step) -> str:
    """Return the line of a failed event: step, instance, node group and message."""
    instance = safe(event.instance_name or event.instance_id or "?", one_line=True)
    group = f" ({safe(event.node_group_id, one_line=True)})" if event.node_group_id else ""
    message = safe(event.event_info or "no message", one_line=True)
    return f"failure: {safe(step.step_name, one_line=True)}: {instance}{group}: {message}"


class LineView:
    """Append-only lines, one per change, with a heartbeat after ``heartbeat`` quiet seconds."""

    def __init__(
        self, out: TextIO, *, heartbeat: float = 10.0, clock: Any = time.monotonic
    ) -> None:
        self._out = out
        self._heartbeat = heartbeat
        self._clock = clock
        self._last_line = clock()
        self._begun: float | None = None

    def _line(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()
        self._last_line = self._clock()

    def begin(self, found: Cluster) -> None:
        """Say what is watched."""
        operation = found.operation
        state = f"{operation.step_type} {operation.status}" if operation else found.status
        self._line(f"watching {_title(found)}: {state}")

    def step_changed(self, step: Step, change: str) -> None:
        """Print a step that started or ended (progress shows in the heartbeat)."""
        if change != "progress":
            self._line(step_line(step, change, datetime.now(UTC)))

    def failure(self, event: Event, step: Step) -> None:
        """Print a failed event."""
        self._line(failure_line(event, step))

    def refresh(self, found: Cluster, steps: list[Step]) -> None:
        """Print a heartbeat if nothing was printed for a while."""
        if self._clock() - self._last_line < self._heartbeat:
            return
        now = datetime.now(UTC)
        running = [s for s in steps if s.running]
        if running:
            parts = [
                f"{safe(s.step_name, one_line=True)} {step_counts(s)}"
                f" [{short_duration(step_elapsed(s, now))}]"
                for s in running
            ]
        else:
            parts = [f"{_operation_name(found)}, waiting for the next step"]
        self._line("still running: " + ", ".join(parts))

    def warn(self, message: str) -> None:
        """Print a warning line."""
        self._line(f"warning: {message}")

    def finish(self, found: Cluster, outcome: Outcome) -> None:
        """Print the summary line."""
        self._line(summary(found, outcome, operation_seconds(found, datetime.now(UTC))))

    def close(self) -> None:
        """Nothing to release."""


class JsonView:
    """JSON Lines: one record per change, a version record first, a result record last."""

    def __init__(self, out: TextIO, *, heartbeat: float = 10.0, clock: Any = time.monotonic):
        self._out = out
        self._heartbeat = heartbeat
        self._clock = clock
        self._last = clock()
        self._record({"type": "version", "version": JSON_VERSION, "provlog": _version()})

    def _record(self, body: dict[str, Any]) -> None:
        self._out.write(json.dumps(body) + "\n")
        self._out.flush()
        self._last = self._clock()

    def begin(self, found: Cluster) -> None:
        """Record the watched cluster and operation."""
        from otel_provlog.client import to_json

        cluster = {k: v for k, v in to_json(found).items() if k not in ("steps", "operation")}
        operation = to_json(found.operation) if found.operation else None
        self._record({"type": "watch", "cluster": cluster, "operation": operation})

    def step_changed(self, step: Step, change: str) -> None:
        """Record a step's change, with the whole step."""
        from otel_provlog.client import to_json

        self._record({"type": "step", "change": change, "step": to_json(step)})

    def failure(self, event: Event, step: Step) -> None:
        """Record a failed event."""
        from otel_provlog.client import to_json

        self._record({"type": "failure", "step_name": step.step_name, "event": to_json(event)})

    def refresh(self, found: Cluster, steps: list[Step]) -> None:
        """Record a heartbeat if nothing was recorded for a while."""
        if self._clock() - self._last < self._heartbeat:
            return
        now = datetime.now(UTC)
        running = [
            {
                "step_id": s.id,
                "step_name": s.step_name,
                "completed": s.completed,
                "failed": s.failed,
                "total": s.total,
                "elapsed": step_elapsed(s, now),
                "seconds_left": s.seconds_left,
            }
            for s in steps
            if s.running
        ]
        self._record({"type": "heartbeat", "running": running})

    def warn(self, message: str) -> None:
        """Record a warning."""
        self._record({"type": "warning", "message": message})

    def finish(self, found: Cluster, outcome: Outcome) -> None:
        """Record the result."""
        self._record(
            {
                "type": "result",
                "status": outcome.status,
                "exit_code": outcome.exit_code,
                "steps": outcome.steps,
                "failed_steps": outcome.failed_steps,
                "failed_events": outcome.failed_events,
                "seconds": operation_seconds(found, datetime.now(UTC)),
            }
        )

    def close(self) -> None:
        """Nothing to release."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("otel-provlog")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def make_view(output_format: str, *, heartbeat: float) -> View:
    """Return the view of ``output_format`` (``live``, ``lines`` or ``json``) on stdout."""
    if output_format == "json":
        return JsonView(sys.stdout, heartbeat=heartbeat)
    if output_format == "lines":
        return LineView(sys.stdout, heartbeat=heartbeat)
    from otel_provlog.cli.watch_live import LiveView

    return LiveView()
