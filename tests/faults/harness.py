"""The fault suite's harness: provisioning processes with ledgers, recovery, store checks.

A fault case usually:

1. starts provisioning processes with the ``provisioners`` fixture (a :class:`Provisioners`:
   real instrumentation and store path, each process keeping a ledger of the spans it
   ended, see :mod:`ledger`), or puts the ledger processors around a store path of its own
   with :func:`ledgered_provider`;
2. does something bad to them or to the store (``kill -9``, a database stopped, a
   collector that hangs, the clean-up, hostile data...);
3. lets the store path recover (:func:`drain_until_stored`);
4. asserts the exact outcome with :func:`ledger.check_store`: every span that ended is
   stored once, nothing else is, every step's counters equal its stored events.

Random choices come from the ``fault_rng`` fixture: a seed fixed per test
(``PROVLOG_FAULT_SEED`` overrides it), printed with the test's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text

from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.drain import Drain, DrainOutcome

from .ledger import Ledger, LedgerSpanProcessor

PROVISIONER = Path(__file__).with_name("provisioner.py")


class Provisioners:
    """Starts provisioning processes (``provisioner.py``) and cleans up after them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[str]] = []
        self.ledgers: list[Path] = []

    def start(
        self,
        database_url: str,
        *,
        spool: str = "spool",
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> Any:
        """Start one provisioning process; its own session, so its drain can die with it.

        ``options`` are the provisioner's (``provisioner.py``); ``env`` adds to its environment.
        """
        ledger = self.tmp_path / f"ledger-{len(self.ledgers)}.txt"
        self.ledgers.append(ledger)
        arguments = {
            "database_url": database_url,
            "spool_dir": str(self.tmp_path / spool),
            "ledger": str(ledger),
            **options,
        }
        process = subprocess.Popen(
            [sys.executable, str(PROVISIONER), json.dumps(arguments)],
            cwd=self.tmp_path,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self.processes.append(process)
        return process

    def wait_for_line(self, process: subprocess.Popen[str], expected: str) -> None:
        """Read the process's output until ``expected``; fail if it ended first."""
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == expected:
                return
        raise AssertionError(f"the provisioner ended ({process.wait()}) before {expected!r}")

    def ledger(self) -> Ledger:
        """The ledger of every process started so far."""
        return Ledger.read(path for path in self.ledgers if path.exists())

    def kill_all(self) -> None:
        """SIGKILL every process group started here (drains included) and reap them."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


def ledgered_provider(
    ledger: Path, attach: Callable[[TracerProvider], Any]
) -> tuple[TracerProvider, Any]:
    """Return a provider and what ``attach(provider)`` returns, with ledger processors around."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LedgerSpanProcessor(ledger, "ending"))
    handle = attach(provider)
    provider.add_span_processor(LedgerSpanProcessor(ledger, "ended"))
    return provider, handle


def drain_until_stored(spool_dir: Path, database_url: str, *, timeout: float = 90) -> Drain:
    """Store what a spool holds, as a drain started after a crash would; wait for others."""
    deadline = time.monotonic() + timeout
    while True:
        finish = threading.Event()
        finish.set()
        drain = Drain(spool_dir, database_url, upgrade=False, backoff_max=0.5)
        outcome = drain.run(finish=finish, linger=10)
        if outcome is DrainOutcome.STORED:
            return drain
        assert time.monotonic() < deadline, f"the spool was not stored: {outcome}"
        time.sleep(0.2)


def sqlite_integrity(database_url: str) -> str:
    """Return ``PRAGMA integrity_check`` of a SQLite store ("ok" when sound)."""
    engine = create_store_engine(database_url, writer=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("PRAGMA integrity_check")).scalars().all()
    finally:
        engine.dispose()
    return "; ".join(str(row) for row in rows)
