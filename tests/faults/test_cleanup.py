"""The clean-up runs while spans are written and while late retries replay them."""

from __future__ import annotations

import random
import threading
import time

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from sqlalchemy import func, select

from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import ProvisionStep, RunStatus
from otel_provlog.exporter.pipeline import configure
from otel_provlog.exporter.records import SpanRecord, record_from_span
from otel_provlog.exporter.retention import start_retention_process
from otel_provlog.exporter.writer import write_batch

from .harness import ledgered_provider
from .ledger import Ledger, check_store
from .workload import provision


class RecordKeeper(SpanProcessor):
    """Keeps the record of every ended provisioning span, for replays."""

    def __init__(self) -> None:
        self.records: list[SpanRecord] = []
        self.lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        """Keep the span's record."""
        record = record_from_span(span)
        if record is not None:
            with self.lock:
                self.records.append(record)

    def snapshot(self) -> list[SpanRecord]:
        """Return the records kept so far."""
        with self.lock:
            return list(self.records)


def _unpruned_successful_steps(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).where(
                ProvisionStep.status == RunStatus.SUCCESSFUL,
                ProvisionStep.events_pruned_at.is_(None),
            )
        ).scalar_one()


def test_cleanup_during_writes_and_late_retries(
    database_url, engine, tmp_path, monkeypatch, fault_rng
):
    """Events of pruned steps never come back nor count twice; every other span is stored."""
    monkeypatch.chdir(tmp_path)
    keeper = RecordKeeper()
    ledger = tmp_path / "ledger.txt"

    def attach(provider):
        provider.add_span_processor(keeper)
        return configure(
            tracer_provider=provider,
            database_url=database_url,
            spool_dir=str(tmp_path / "spool"),
            upgrade=False,
        )

    provider, store = ledgered_provider(ledger, attach)
    pruner = start_retention_process(database_url, 0.0, interval=0.05)
    sessions = session_factory(engine)
    done = threading.Event()
    errors: list[BaseException] = []
    replays = []

    delivered: list[SpanRecord] = []  # stored once already: what a late retry sends again

    def replay(rng: random.Random) -> None:
        try:
            while not done.is_set():
                records = list(delivered)
                batch = rng.sample(records, min(len(records), 50))
                replays.append(write_batch(sessions, batch, attempts=20))
                time.sleep(0.01)
        except BaseException as error:
            errors.append(error)

    workers = [
        threading.Thread(target=replay, args=(random.Random(fault_rng.random()),)) for _ in range(2)
    ]
    options = {"operations": 1, "steps": 3, "events": 40, "failing_steps": [1], "pace": 0.002}
    try:
        for worker in workers:
            worker.start()
        for number in range(3):  # retries of earlier operations race the next one and the clean-up
            provision(provider, {**options, "cluster": f"c-clean-{number}"})
            assert store.force_flush(60_000)
            delivered[:] = keeper.snapshot()
        done.set()
        for worker in workers:
            worker.join(60)
        assert errors == []
        assert replays, "no replay ran during the writes"
        deadline = time.monotonic() + 30
        while _unpruned_successful_steps(engine):
            assert time.monotonic() < deadline, "the clean-up did not prune every step"
            time.sleep(0.1)
        late = keeper.snapshot()
        fault_rng.shuffle(late)
        for start in range(0, len(late), 100):  # every span once more, long after
            result = write_batch(sessions, late[start : start + 100])
            assert (result.written, result.rejected) == (0, [])
        stored = check_store(engine, Ledger.read([ledger]), pruned_ok=True)
        pruned = [s for s in stored.steps.values() if s["events_pruned_at"] is not None]
        assert len(pruned) == 6  # the successful steps of the three operations
        assert all(
            s["status"] == RunStatus.FAILED for s in stored.steps.values() if s not in pruned
        )
    finally:
        done.set()
        pruner.terminate()
        pruner.wait(10)
        store.shutdown(timeout_millis=2000)
