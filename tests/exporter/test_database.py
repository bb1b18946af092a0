"""Engines are tuned per backend; SQLite takes several writer processes on one file."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import func, select, text

from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import Cluster

WRITER = """
import sys
from datetime import UTC, datetime
from otel_provlog.exporter import store
from otel_provlog.exporter.database import create_store_engine, session_factory

url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = create_store_engine(url)
factory = session_factory(engine)
for n in range(count):
    with factory.begin() as session:
        # Reads before it writes: the pattern that fails under deferred transactions.
        store.ensure_clusters(
            session, {f"c-{worker}-{n}": {"name": "x"}, "shared": {}}, at=datetime.now(UTC)
        )
"""


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    """A SQLite store runs in WAL mode with foreign keys enforced."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_sqlite_takes_concurrent_writer_processes(tmp_path):
    """Four processes writing read-then-write transactions to one file all succeed."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), "40"], cwd=tmp_path)
        for w in range(4)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0, 0]
    engine = create_store_engine(url, writer=False)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Cluster)).scalar() == 161
    engine.dispose()


def test_mariadb_urls_get_utf8mb4():
    """A MariaDB/MySQL URL without a charset is given utf8mb4."""
    engine = create_store_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    assert engine.url.query["charset"] == "utf8mb4"
    engine.dispose()


def test_a_sqlite_writer_can_keep_a_larger_page_cache(tmp_path):
    """sqlite_cache_mib sizes every connection's page cache; the default stays SQLite's."""
    sized = create_store_engine(f"sqlite:///{tmp_path / 'a.db'}", sqlite_cache_mib=8)
    plain = create_store_engine(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        with sized.connect() as connection:
            assert connection.execute(text("PRAGMA cache_size")).scalar() == -8 * 1024
        with plain.connect() as connection:
            assert connection.execute(text("PRAGMA cache_size")).scalar() == -2000
    finally:
        sized.dispose()
        plain.dispose()


def test_writers_plan_each_statement_on_postgresql(database_url):
    """A writer on psycopg prepares nothing server-side; readers keep psycopg's default.

    A generic plan prepared while a table was small is kept as it grows, and its lookup of
    1,000 keys is then not hashed: every batch scans the table. Other drivers get no such
    option (they would refuse to connect).
    """
    writer = create_store_engine(database_url)
    reader = create_store_engine(database_url, writer=False)
    try:
        with writer.connect() as written, reader.connect() as read:
            assert written.execute(select(func.count()).select_from(Cluster)).scalar() == 0
            if writer.dialect.driver == "psycopg":
                assert written.connection.driver_connection.prepare_threshold is None
                assert read.connection.driver_connection.prepare_threshold == 5
    finally:
        writer.dispose()
        reader.dispose()
