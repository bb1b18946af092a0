"""Retention: events of old successful steps go, everything else stays, replays stay out."""

from __future__ import annotations

import json
import multiprocessing.util
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

import otel_provlog
from otel_provlog.cli.commands import provlog
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import ClusterEvent, ProvisionStep, RunStatus, utcnow
from otel_provlog.exporter.records import SpanRecord, record_from_span
from otel_provlog.exporter.retention import (
    RetentionWorker,
    prune_events,
    start_retention_process,
)
from otel_provlog.exporter.writer import write_batch
from otel_provlog.testing import capture_spans

DAY = 86400.0


def _records(cluster: str = "c-1", events: int = 4) -> list[SpanRecord]:
    """Spans of one operation: a successful, a failed and a running step."""
    with capture_spans() as captured:
        provider = captured.tracer_provider
        with otel_provlog.operation(cluster, "creating", tenant_id="t", tracer_provider=provider):
            with otel_provlog.step(cluster, "ok", total=events, tracer_provider=provider) as step:
                for number in range(events):
                    step.add_success(instance_id=f"ok-{number}")
            with otel_provlog.step(cluster, "bad", total=2, tracer_provider=provider) as step:
                step.add_success(instance_id="bad-0")
                step.add_failure(instance_id="bad-1", info="refused")
            running = otel_provlog.start_step(cluster, "running", total=3, tracer_provider=provider)
            running.add_success(instance_id="run-0")
    records = [r for r in (record_from_span(s) for s in captured.spans()) if r is not None]
    # The "running" step's own span has not ended yet: only its marker and events exist.
    return [r for r in records if (r["kind"], r["name"]) != ("step", "running")]


def _steps(engine: Engine) -> dict[str, tuple[str, int, int, int, bool]]:
    """Step name -> (status, completed, failed, stored events, pruned)."""
    with session_factory(engine)() as session:
        stored = dict(
            session.execute(
                select(ClusterEvent.provision_step_id, func.count()).group_by(
                    ClusterEvent.provision_step_id
                )
            ).all()
        )
        return {
            step.step_name: (
                step.status,
                step.completed,
                step.failed,
                stored.get(step.id, 0),
                step.events_pruned_at is not None,
            )
            for step in session.scalars(select(ProvisionStep))
        }


def test_prune_removes_only_events_of_old_successful_steps(engine: Engine) -> None:
    """Old successful steps lose their events, keep their counts; nothing else changes."""
    sessions = session_factory(engine)
    write_batch(sessions, _records())
    before = _steps(engine)
    assert before == {
        "ok": (RunStatus.SUCCESSFUL, 4, 0, 4, False),
        "bad": (RunStatus.FAILED, 1, 1, 2, False),
        "running": (RunStatus.RUNNING, 1, 0, 1, False),
    }
    assert prune_events(sessions, retention=DAY).steps == 0
    assert _steps(engine) == before
    later = utcnow() + timedelta(days=2)
    result = prune_events(sessions, retention=DAY, now=later)
    assert (result.steps, result.events) == (1, 4)
    assert _steps(engine) == {**before, "ok": (RunStatus.SUCCESSFUL, 4, 0, 0, True)}
    assert prune_events(sessions, retention=DAY, now=later).steps == 0


def test_a_late_replay_of_pruned_events_is_a_duplicate(engine: Engine) -> None:
    """Replaying every span after the clean-up stores and counts nothing again."""
    sessions = session_factory(engine)
    records = _records()
    write_batch(sessions, records)
    prune_events(sessions, retention=0, now=utcnow() + timedelta(seconds=5))
    pruned = _steps(engine)
    result = write_batch(sessions, records)
    assert result.written == 0
    assert result.duplicates == len(records)
    assert _steps(engine) == pruned


def test_prune_in_small_batches(engine: Engine) -> None:
    """Many steps are pruned over several transactions."""
    sessions = session_factory(engine)
    for number in range(7):
        write_batch(sessions, _records(f"c-{number}", events=2))
    result = prune_events(sessions, retention=0, now=utcnow() + timedelta(seconds=5), batch_steps=2)
    assert (result.steps, result.events) == (7, 14)


def test_prune_is_safe_while_writers_replay(engine: Engine) -> None:
    """Concurrent replays and clean-ups never count an event twice."""
    sessions = session_factory(engine)
    records = [r for number in range(6) for r in _records(f"c-{number}", events=5)]
    write_batch(sessions, records)
    expected = {name: row[:3] for name, row in _steps(engine).items()}
    later = utcnow() + timedelta(seconds=5)
    errors: list[BaseException] = []

    def replay(part: int) -> None:
        try:
            for _ in range(4):
                write_batch(sessions, records[part::3], attempts=20)
        except BaseException as error:
            errors.append(error)

    def prune() -> None:
        try:
            for _ in range(6):
                prune_events(sessions, retention=0, now=later, batch_steps=1)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=replay, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=prune))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    prune_events(sessions, retention=0, now=later)
    final = _steps(engine)
    assert {name: row[:3] for name, row in final.items()} == expected
    with session_factory(engine)() as session:
        ok_steps = session.scalars(select(ProvisionStep).where(ProvisionStep.step_name == "ok"))
        assert all(step.events_pruned_at is not None for step in ok_steps)
        remaining = session.scalar(select(func.count()).select_from(ClusterEvent))
    assert remaining == 6 * (2 + 1)  # the failed and the running steps' events


def test_the_worker_runs_and_stops(engine: Engine) -> None:
    """The periodic clean-up runs at once and stops promptly."""
    sessions = session_factory(engine)
    write_batch(sessions, _records())
    worker = RetentionWorker(sessions, retention=0, interval=3600).start()
    try:
        deadline = utcnow() + timedelta(seconds=10)
        while worker.runs == 0 and utcnow() < deadline:
            threading.Event().wait(0.02)
    finally:
        worker.stop()
    assert worker.runs >= 1
    assert worker.removed.events in (0, 4)  # 0 when the step ended within this microsecond


def test_provlog_prune(engine: Engine, database_url: str) -> None:
    """``provlog prune`` removes and reports; a bad retention is a usage error."""
    write_batch(session_factory(engine), _records())
    runner = CliRunner()
    result = runner.invoke(provlog, ["prune", "--database-url", database_url, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"steps": 0, "events": 0, "retention_seconds": DAY}
    threading.Event().wait(0.01)
    result = runner.invoke(provlog, ["prune", "--database-url", database_url, "--retention", "0s"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("removed 4 events of 1 steps")
    result = runner.invoke(provlog, ["prune", "--database-url", database_url, "--retention", "x"])
    assert result.exit_code == 2
    assert "--retention" in result.output


@pytest.mark.parametrize("retention", [-1.0])
def test_negative_retention_is_refused(engine: Engine, retention: float) -> None:
    """A negative retention is a ValueError."""
    with pytest.raises(ValueError, match="retention"):
        prune_events(session_factory(engine), retention=retention)


def test_the_retention_process_prunes_and_ends(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process ``provlog serve`` starts prunes periodically and stops on request."""
    write_batch(session_factory(engine), _records())
    monkeypatch.chdir(tmp_path)
    process = start_retention_process(database_url, 0.0, interval=0.2)
    try:
        deadline = time.monotonic() + 30
        while _steps(engine)["ok"][3] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)
    assert _steps(engine)["ok"][3:] == (0, True)
    assert process.poll() is not None


def test_forked_workers_exiting_leave_the_retention_process_running(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process forked later (a gunicorn worker) ending does not end the clean-up."""
    monkeypatch.chdir(tmp_path)
    process = start_retention_process(database_url, 3600.0, interval=0.2)
    try:
        child = os.fork()
        if child == 0:  # a worker: exits as Python does, multiprocessing's handler included
            try:
                multiprocessing.util._exit_function()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        time.sleep(1.0)
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
