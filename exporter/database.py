"""Engines and sessions for the store, tuned per backend.

- SQLite: WAL journal, ``synchronous=NORMAL``, a busy timeout, foreign keys on, and
  write transactions that start with ``BEGIN IMMEDIATE`` (deferred transactions that read
  before they write fail with "database is locked" under concurrent writers, whatever the
  timeout).
- MariaDB/MySQL: ``utf8mb4`` connections and ``READ COMMITTED``.
- PostgreSQL: ``READ COMMITTED`` (the default).

The caller owns the transaction: ``with session_factory(engine).begin() as session: ...``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "KEYS_PER_QUERY",
    "SQLITE_BUSY_TIMEOUT_MS",
    "chunks",
    "create_store_engine",
    "session_factory",
]

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite connection waits for another writer before giving up."""
KEYS_PER_QUERY: Final = 500
"""Most keys one statement looks up (an ``IN`` list, or SQLite's 500 compound terms)."""

_T = TypeVar("_T")


def chunks(values: Sequence[_T], size: int = KEYS_PER_QUERY) -> Iterator[Sequence[_T]]:
    """Yield ``values`` in slices of at most ``size``, for one statement each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _configure_sqlite(engine: Engine, *, immediate: bool, cache_mib: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            if cache_mib is not None:  # a negative size is in KiB
                cursor.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(
    url: str | URL, *, writer: bool = True, sqlite_cache_mib: int | None = None, **kwargs: Any
) -> Engine:
    """Create an engine for the store at ``url``.

    Args:
        url: a SQLAlchemy URL (``sqlite:///provlog.db``, ``postgresql+psycopg://...``,
            ``mysql+pymysql://...``).
        writer: on SQLite, start every transaction with ``BEGIN IMMEDIATE`` (take the write
            lock up front); on PostgreSQL (psycopg), plan every statement afresh instead of
            preparing it; readers pass False.
        sqlite_cache_mib: on SQLite, the page cache of each connection in MiB (SQLite's
            default is 2 MiB). A long-running writer of a large store keeps the pages of
            its indexes in it instead of reading them again for every batch.
        kwargs: passed on to :func:`sqlalchemy.create_engine`.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"pool_pre_ping": True}
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        options["isolation_level"] = "READ COMMITTED"
        options["pool_recycle"] = 3600
    if writer and parsed.get_driver_name() == "psycopg":
        # No server-side prepared statements: a generic plan made while a table was small
        # (or never analyzed) is kept as it grows, and its key lookups of 1,000 parameters
        # are not hashed: each batch then scans the table. Planned per batch, they are.
        options["connect_args"] = {"prepare_threshold": None}
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        _configure_sqlite(engine, immediate=writer, cache_mib=sqlite_cache_mib)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory for ``engine``; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
