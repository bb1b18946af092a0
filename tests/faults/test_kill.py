"""``kill -9`` of provisioning processes at random moments: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import time

import pytest

from otel_provlog.exporter import spool

from .harness import drain_until_stored, sqlite_integrity
from .ledger import check_store

KILLS = {"sqlite": 20, "postgresql": 6, "mariadb": 6}
"""Kills per backend: SQLite, whose file a killed drain may leave mid-write, the most."""


def test_kill_9_at_random_moments(
    backend, database_url, store_engine, provisioners, fault_rng, tmp_path
):
    """SIGKILL mid-run (at times with the drain): every ended span stored once, SQLite sound."""
    moments = []
    for number in range(KILLS[backend]):
        process = provisioners.start(
            database_url, cluster=f"c-kill-{number}", steps=2, events=40, pace=0.002, finish="wait"
        )
        provisioners.wait_for_line(process, "ready")
        moment, whole_group = fault_rng.uniform(0.0, 0.4), fault_rng.random() < 0.5
        moments.append((round(moment, 3), whole_group))
        time.sleep(moment)
        if whole_group:  # the drain process dies too, perhaps inside a transaction
            os.killpg(process.pid, signal.SIGKILL)
        else:  # its drain outlives it and stores what it left
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if backend == "sqlite":
            assert sqlite_integrity(database_url) == "ok", moments
    drain_until_stored(tmp_path / "spool", database_url)
    if backend == "sqlite":
        assert sqlite_integrity(database_url) == "ok", moments
    ledger = provisioners.ledger()
    assert ledger.must, "no span ended before any kill"
    check_store(store_engine, ledger)
    assert spool.list_segments(tmp_path / "spool") == []


@pytest.mark.parametrize("finish", ["exit"])
def test_a_process_that_exits_at_once_loses_nothing(
    database_url, store_engine, provisioners, tmp_path, finish
):
    """A process that exits right after its last span leaves nothing behind unstored."""
    process = provisioners.start(database_url, cluster="c-exit", steps=1, events=30, finish=finish)
    assert process.wait(timeout=60) == 0
    drain_until_stored(tmp_path / "spool", database_url)
    check_store(store_engine, provisioners.ledger())
