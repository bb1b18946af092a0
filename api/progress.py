"""Pure progress arithmetic: a step's one-line summary and estimates of the time left.

Nothing here touches the database or the clock: callers pass the step's numbers, the
durations of earlier runs of the same step and ``now``.

A running step's time left comes from two sources:

- its own rate so far: ``elapsed * (total - done) / done`` once at least one event is done;
- its history: the median duration of the latest successful runs of the same step (same
  name and type) in earlier operations, minus the time already spent.

With both, they are blended by the fraction done: early on the history dominates, near the
end the step's own rate does. Once a step ended, its estimate reports how good the
history-based forecast was: the expected and actual durations and the error.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "OperationEstimate",
    "StepEstimate",
    "estimate_operation",
    "estimate_step",
    "format_duration",
    "progress_text",
]


def format_duration(seconds: float) -> str:
    """Return ``seconds`` in words, two units at most: ``"10 minutes"``, ``"1 hour 5 minutes"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return _unit(whole, "second")
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return _join(_unit(minutes, "minute"), _unit(secs, "second") if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _join(_unit(hours, "hour"), _unit(minutes, "minute") if minutes else "")
    days, hours = divmod(hours, 24)
    return _join(_unit(days, "day"), _unit(hours, "hour") if hours else "")


def _unit(count: int, name: str) -> str:
    return f"{count} {name}" if count == 1 else f"{count} {name}s"


def _join(first: str, second: str) -> str:
    return f"{first} {second}" if second else first


def progress_text(
    step_name: str,
    *,
    completed: int,
    failed: int,
    total: int | None,
    status: str,
    seconds: float | None,
) -> str:
    """Return the step's one-line summary, as the event-log spec words it.

    ``seconds`` is the step's duration once ended, or the time it has run so far.
    Examples: ``"Launching instances completed 1000 out of 1000 in 10 minutes"``,
    ``"Waiting for ssh completed 59 out of 1000"``.
    """
    counted = f"completed {completed}" + (f" out of {total}" if total is not None else "")
    if failed:
        counted += f", {failed} failed"
    took = f" in {format_duration(seconds)}" if seconds is not None else ""
    if status == "running":
        return f"{step_name} {counted}"
    if status == "successful":
        return f"{step_name} {counted}{took}"
    return f"{step_name} {status}: {counted}{took}"


@dataclass(frozen=True, slots=True)
class StepEstimate:
    """How long a step should take, how long is left, and (once ended) how good that was."""

    seconds_left: float | None
    """Seconds until the step ends; 0 once ended; None when nothing is known yet."""
    basis: str
    """``rate``, ``history``, ``rate+history``, ``ended`` or ``none``."""
    expected_duration: float | None
    """The median duration of earlier successful runs of the same step, if any."""
    history_samples: int
    """How many earlier runs ``expected_duration`` is the median of."""
    actual_duration: float | None = None
    """Once ended: how long the step took."""
    error_seconds: float | None = None
    """Once ended: ``actual_duration - expected_duration`` (positive when it ran late)."""
    error_ratio: float | None = None
    """Once ended: ``error_seconds / expected_duration``."""

    def to_json(self) -> dict[str, Any]:
        """Return the estimate as a JSON object (seconds rounded to milliseconds)."""
        return {
            "seconds_left": _round(self.seconds_left),
            "basis": self.basis,
            "expected_duration": _round(self.expected_duration),
            "history_samples": self.history_samples,
            "actual_duration": _round(self.actual_duration),
            "error_seconds": _round(self.error_seconds),
            "error_ratio": _round(self.error_ratio),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def estimate_step(
    *,
    total: int | None,
    done: int,
    started_at: datetime | None,
    duration: float | None,
    ended: bool,
    history: Sequence[float],
    now: datetime,
) -> StepEstimate:
    """Estimate one step from its own progress and the durations of earlier runs.

    Args:
        total: events the step expects (None when unknown).
        done: events finished so far, successful or not.
        started_at: when the step began (None when unknown).
        duration: seconds the step took, once ended.
        ended: whether the step ended.
        history: durations (seconds) of earlier successful runs of the same step.
        now: the current time, aware.
    """
    expected = statistics.median(history) if history else None
    samples = len(history)
    if ended:
        error = None if expected is None or duration is None else duration - expected
        ratio = None if error is None or not expected else error / expected
        return StepEstimate(0.0, "ended", expected, samples, duration, error, ratio)
    elapsed = max(0.0, (now - started_at).total_seconds()) if started_at is not None else None
    by_history = None if expected is None else max(0.0, expected - (elapsed or 0.0))
    by_rate = None
    if elapsed is not None and total is not None and total > 0 and done > 0:
        by_rate = elapsed * max(0, total - done) / done
    if by_rate is not None and by_history is not None and total:
        weight = min(1.0, done / total)
        left = weight * by_rate + (1.0 - weight) * by_history
        return StepEstimate(left, "rate+history", expected, samples)
    if by_rate is not None:
        return StepEstimate(by_rate, "rate", expected, samples)
    if by_history is not None:
        return StepEstimate(by_history, "history", expected, samples)
    return StepEstimate(None, "none", expected, samples)


@dataclass(frozen=True, slots=True)
class OperationEstimate:
    """Time left for a whole operation: its running steps plus the planned ones to come."""

    seconds_left: float | None
    """Seconds until the operation ends, or None when no part of it can be estimated."""
    steps_left: int
    """Planned steps that have not started yet."""
    unknown_steps: int
    """Steps (running or to come) without any estimate: ``seconds_left`` leaves them out."""

    def to_json(self) -> dict[str, Any]:
        """Return the estimate as a JSON object."""
        return {
            "seconds_left": _round(self.seconds_left),
            "steps_left": self.steps_left,
            "unknown_steps": self.unknown_steps,
        }


def estimate_operation(
    running: Sequence[StepEstimate], planned: Sequence[float | None]
) -> OperationEstimate:
    """Add up an operation's estimate.

    Args:
        running: the estimates of its steps that run now (they run side by side, so the
            longest counts).
        planned: the expected durations of its planned steps that have not started (None
            for a step never seen before).
    """
    known_running = [e.seconds_left for e in running if e.seconds_left is not None]
    known_planned = [seconds for seconds in planned if seconds is not None]
    unknown = len(running) - len(known_running) + len(planned) - len(known_planned)
    if not known_running and not known_planned:
        return OperationEstimate(None if unknown else 0.0, len(planned), unknown)
    left = (max(known_running) if known_running else 0.0) + sum(known_planned)
    return OperationEstimate(left, len(planned), unknown)
