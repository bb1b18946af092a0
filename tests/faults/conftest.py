"""Fixtures of the fault suite (the harness itself is :mod:`harness`).

Every test in ``tests/faults`` is marked ``slow``: CI runs them, ``-m "not slow"`` leaves
them out while developing.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from otel_provlog.exporter.database import create_store_engine

from .harness import Provisioners
from .servers import PrivateMariaDB, PrivatePostgres, PrivateServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the fault suite slow."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def fault_rng(request: pytest.FixtureRequest) -> random.Random:
    """A random generator seeded per test (``PROVLOG_FAULT_SEED`` overrides the seed)."""
    seed = int(os.environ.get("PROVLOG_FAULT_SEED") or zlib.crc32(request.node.name.encode()))
    request.node.user_properties.append(("fault seed", seed))
    print(f"fault seed: {seed} (set PROVLOG_FAULT_SEED={seed} to repeat)")
    return random.Random(seed)


@pytest.fixture
def provisioners(tmp_path: Path) -> Iterator[Provisioners]:
    """A starter of provisioning processes; every group it started is killed at the end."""
    starter = Provisioners(tmp_path)
    yield starter
    starter.kill_all()


@pytest.fixture
def store_engine(database_url: str) -> Iterator[Engine]:
    """A reader engine on the test's store."""
    engine = create_store_engine(database_url, writer=False)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb"])
def private_server(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    """A running database server of this test alone, which it may stop and start."""
    server: PrivateServer
    if request.param == "postgresql":
        bin_dir = PrivatePostgres.find()
        if bin_dir is None:
            pytest.skip("PostgreSQL's server programs are not installed")
        server = PrivatePostgres(bin_dir)
    else:
        programs = PrivateMariaDB.find()
        if programs is None:
            pytest.skip("mariadbd is not installed")
        server = PrivateMariaDB(*programs)
    try:
        server.start()
        yield server
    finally:
        server.close()
