"""PostgreSQL and MariaDB stopped mid-run and started again: the store path loses nothing."""

from __future__ import annotations

import threading
import time

from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.pipeline import configure

from .harness import ledgered_provider
from .ledger import Ledger, check_store
from .workload import provision


def test_a_database_stopped_and_started_twice_mid_run(private_server, tmp_path, monkeypatch):
    """A clean shutdown, then a crash, while spans flow: each ended span is stored once."""
    monkeypatch.chdir(tmp_path)
    url = private_server.create_database()
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    ledger = tmp_path / "ledger.txt"
    provider, store = ledgered_provider(
        ledger,
        lambda provider: configure(
            tracer_provider=provider,
            database_url=url,
            spool_dir=str(tmp_path / "spool"),
            upgrade=False,
            linger=30,
        ),
    )
    options = {"cluster": "c-restart", "tenant": "t-1", "operations": 2, "steps": 2}
    producer = threading.Thread(
        target=provision,
        args=(provider, {**options, "events": 150, "fail_every": 9, "pace": 0.004}),
    )
    try:
        producer.start()
        for mode in ("fast", "immediate"):
            time.sleep(0.6)
            private_server.stop(mode)
            assert not private_server.answers()
            time.sleep(1.0)  # spans keep ending while the database is away
            private_server.start()
        producer.join(60)
        assert not producer.is_alive()
        assert store.force_flush(90_000)
        assert store.counters().retried > 0  # the drain did meet the stopped database
        check_store(engine, Ledger.read([ledger]))
    finally:
        store.shutdown(timeout_millis=2000)
        engine.dispose()
