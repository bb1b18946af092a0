"""Pure progress arithmetic: summaries and estimates, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from otel_provlog.api.progress import (
    StepEstimate,
    estimate_operation,
    estimate_step,
    format_duration,
    progress_text,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59.4, "59 seconds"),
        (60, "1 minute"),
        (600, "10 minutes"),
        (605, "10 minutes 5 seconds"),
        (3600, "1 hour"),
        (3900, "1 hour 5 minutes"),
        (90000, "1 day 1 hour"),
        (-3, "0 seconds"),
    ],
)
def test_format_duration(seconds, words):
    """Durations read in at most two units."""
    assert format_duration(seconds) == words


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        (
            {"completed": 1000, "failed": 0, "total": 1000, "status": "successful", "seconds": 600},
            "Launching instances completed 1000 out of 1000 in 10 minutes",
        ),
        (
            {"completed": 59, "failed": 0, "total": 1000, "status": "running", "seconds": 30},
            "Launching instances completed 59 out of 1000",
        ),
        (
            {"completed": 59, "failed": 2, "total": 1000, "status": "running", "seconds": 30},
            "Launching instances completed 59 out of 1000, 2 failed",
        ),
        (
            {"completed": 9, "failed": 1, "total": 10, "status": "failed", "seconds": 61},
            "Launching instances failed: completed 9 out of 10, 1 failed in 1 minute 1 second",
        ),
        (
            {"completed": 3, "failed": 0, "total": None, "status": "interrupted", "seconds": None},
            "Launching instances interrupted: completed 3",
        ),
    ],
)
def test_progress_text(kwargs, text):
    """The one-line summary follows the spec's wording."""
    assert progress_text("Launching instances", **kwargs) == text


def _step(**overrides):
    values = {
        "total": 100,
        "done": 0,
        "started_at": NOW - timedelta(seconds=60),
        "duration": None,
        "ended": False,
        "history": [],
        "now": NOW,
    }
    values.update(overrides)
    return estimate_step(**values)


@pytest.mark.parametrize(
    ("overrides", "basis", "left"),
    [
        ({}, "none", None),
        ({"done": 25}, "rate", 180.0),
        ({"history": [100.0, 200.0, 300.0]}, "history", 140.0),
        ({"history": [30.0]}, "history", 0.0),
        ({"done": 50, "history": [200.0]}, "rate+history", 0.5 * 60.0 + 0.5 * 140.0),
        ({"done": 100, "history": [200.0]}, "rate+history", 0.0),
        ({"total": None, "done": 5, "history": []}, "none", None),
        ({"started_at": None, "done": 5}, "none", None),
    ],
)
def test_running_step_estimate(overrides, basis, left):
    """A running step's time left blends its own rate and its history by fraction done."""
    estimate = _step(**overrides)
    assert estimate.basis == basis
    assert estimate.seconds_left == (None if left is None else pytest.approx(left))


def test_ended_step_says_how_good_the_forecast_was():
    """Once ended, the estimate compares the expected and the actual duration."""
    estimate = _step(ended=True, duration=150.0, history=[100.0, 100.0, 120.0])
    assert estimate.seconds_left == 0.0
    assert estimate.expected_duration == 100.0
    assert estimate.actual_duration == 150.0
    assert estimate.error_seconds == 50.0
    assert estimate.error_ratio == pytest.approx(0.5)
    assert estimate.history_samples == 3
    assert estimate.to_json()["basis"] == "ended"


def test_ended_step_without_history_has_no_error():
    """Without earlier runs there is nothing to compare with."""
    estimate = _step(ended=True, duration=150.0)
    assert estimate.error_seconds is None
    assert estimate.error_ratio is None


@pytest.mark.parametrize(
    ("running", "planned", "left", "unknown"),
    [
        ([], [], 0.0, 0),
        ([60.0], [100.0, 50.0], 210.0, 0),
        ([60.0, 90.0], [], 90.0, 0),
        ([None], [100.0, None], 100.0, 2),
        ([None], [], None, 1),
    ],
)
def test_operation_estimate(running, planned, left, unknown):
    """The operation's time left is its longest running step plus the planned ones."""
    steps = [StepEstimate(left, "rate" if left else "none", None, 0) for left in running]
    estimate = estimate_operation(steps, planned)
    assert estimate.seconds_left == left
    assert estimate.unknown_steps == unknown
    assert estimate.steps_left == len(planned)
