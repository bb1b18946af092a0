"""Stores for the benchmarks: a fresh database per store, emptied or seeded in bulk.

Each store is a database of its own (a file for SQLite; ``CREATE DATABASE`` on the server
named by the backend's URL otherwise), migrated with the project's migrations and dropped
when the run ends. Seeding writes rows straight into the tables with SQLAlchemy core
inserts of many rows at once (not through the producer or the drain), and the rows agree
with what the drain writes: a step's ``completed``/``failed``/``total`` match its events,
ids come from :func:`~otel_provlog.exporter.models.span_row_id`.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from otel_provlog._ids import event_row_id
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    ClusterOperation,
    ProvisionStep,
    span_row_id,
)

BACKENDS: Final = ("sqlite", "postgresql", "mariadb")
URL_VARIABLES: Final = {
    "postgresql": "PROVLOG_TEST_POSTGRESQL_URL",
    "mariadb": "PROVLOG_TEST_MARIADB_URL",
}
TENANT: Final = "t-bench"
T0: Final = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
OPERATION_SPAN: Final = "00000000000000a1"
STEP_SPAN: Final = "00000000000000b1"
SEED_SPAN_BASE: Final = 0x1000_0000_0000
"""Seeded events have span ids from here on; the drain's new events from elsewhere."""
_CHUNK: Final = 10_000
_EPOCH: Final = datetime(1970, 1, 1)


def trace_id(tag: str, n: int) -> str:
    """Return the trace id of the ``n``-th cluster of the store ``tag``."""
    return hashlib.md5(f"{tag}-{n}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class StepRef:
    """Where a seeded step lives: enough to send more events to it."""

    cluster_id: str
    trace_id: str
    span_id: str
    events: int

    @property
    def row_id(self) -> str:
        """The step's row id."""
        return span_row_id(self.trace_id, self.span_id)


class Databases:
    """Makes migrated, empty stores on one backend and drops them at the end."""

    def __init__(self, backend: str, server_url: str | None, work: Path) -> None:
        self.backend = backend
        self.server_url = server_url
        self.work = work
        self._made: list[str] = []
        self._template: str | None = None

    def new(self, label: str) -> str:
        """Return the URL of a new store, migrated to the newest schema.

        The migrations run once, into a template store; every store after that is a copy
        of it (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, the
        template's ``SHOW CREATE TABLE`` statements on MariaDB), which is much faster.
        """
        if self._template is None:
            self._template = self._create("template")
            engine = create_store_engine(self._template)
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
        return self._create(label, self._template)

    def _create(self, label: str, template: str | None = None) -> str:
        name = f"provlog_bench_{label}_{uuid.uuid4().hex[:8]}"
        if self.backend == "sqlite":
            path = self.work / (name + ".db")
            if template is not None:
                shutil.copy(make_url(template).database or "", path)
            return f"sqlite:///{path}"
        assert self.server_url is not None
        if self.backend == "postgresql":
            like = f' TEMPLATE "{make_url(template).database}"' if template else ""
            self._server(f'CREATE DATABASE "{name}"{like}')
        else:
            self._server(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        self._made.append(name)
        url = make_url(self.server_url).set(database=name).render_as_string(False)
        if template is not None and self.backend != "postgresql":
            self._copy_schema(template, url)
        return url

    def _copy_schema(self, template: str, url: str) -> None:
        source, target = create_engine(template), create_engine(url)
        try:
            with source.connect() as read, target.begin() as write:
                for table in [*Base.metadata.sorted_tables, "alembic_version"]:
                    name = getattr(table, "name", table)
                    ddl = read.execute(text(f"SHOW CREATE TABLE `{name}`")).one()[1]
                    write.execute(text(ddl))
                for (version,) in read.execute(text("SELECT version_num FROM alembic_version")):
                    write.execute(
                        text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                        {"v": version},
                    )
        finally:
            source.dispose()
            target.dispose()

    def _server(self, statement: str) -> None:
        assert self.server_url is not None
        admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(statement))
        finally:
            admin.dispose()

    def drop_all(self) -> None:
        """Drop every database made here."""
        for name in self._made:
            self._server(
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                if self.backend == "postgresql"
                else f"DROP DATABASE IF EXISTS `{name}`"
            )
        self._made.clear()


def empty(url: str) -> None:
    """Delete every row of the store (the schema stays)."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
    finally:
        engine.dispose()


def count_events(url: str, cluster_id: str | None = None) -> int:
    """Return how many event rows the store holds (of one cluster when given)."""
    engine = create_store_engine(url, writer=False)
    try:
        query = select(func.count()).select_from(ClusterEvent)
        if cluster_id is not None:
            query = query.where(ClusterEvent.cluster_id == cluster_id)
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


def _nanoseconds(at: datetime) -> int:
    """``at`` (naive UTC) in Unix nanoseconds."""
    return (at - _EPOCH) // timedelta(microseconds=1) * 1000


def _event_rows(step: StepRef, first: int, count: int) -> Iterator[dict[str, Any]]:
    started = _naive(T0)
    for n in range(first, first + count):
        span = f"{SEED_SPAN_BASE + n:016x}"
        ok = n % 50 != 7
        at = started + timedelta(milliseconds=n)
        yield {
            "id": event_row_id(step.trace_id, span, _nanoseconds(at)),
            "cluster_id": step.cluster_id,
            "provision_step_id": step.row_id,
            "trace_id": step.trace_id,
            "span_id": span,
            "node_group_id": f"ng-{n % 3}",
            "instance_id": str(uuid.UUID(int=SEED_SPAN_BASE + n)),  # as OpenStack names them
            "instance_name": f"worker-{n:07d}",
            "successful": ok,
            "event_info": None if ok else "boom",
            "stacktrace": None if ok else "Traceback (most recent call last):\n  ...",
            "error_id": None if ok else str(uuid.UUID(int=n)),
            "started_at": at,
            "created_at": at,
            "updated_at": at,
        }


def insert_events(connection: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Insert event rows in bulk, ``_CHUNK`` rows per statement."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            connection.execute(insert(ClusterEvent), chunk)
            chunk = []
    if chunk:
        connection.execute(insert(ClusterEvent), chunk)


def failed_events(count: int) -> int:
    """Return how many of a seeded step's first ``count`` events failed."""
    return sum(1 for n in range(count) if n % 50 == 7)


def seed(url: str, tag: str, *, clusters: int, events: int) -> list[StepRef]:
    """Seed ``clusters`` clusters, each with a running operation and step, ``events`` in all.

    The events are spread evenly over the clusters' steps (one trace per cluster); a step
    counts its events in ``completed``/``failed`` as the drain would have.
    """
    per_cluster, extra = divmod(events, clusters)
    steps = [
        StepRef(
            f"c-{tag}-{n:06d}",
            trace_id(tag, n),
            STEP_SPAN,
            per_cluster + (1 if n < extra else 0),
        )
        for n in range(clusters)
    ]
    at = _naive(T0)
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            for start in range(0, clusters, _CHUNK):
                chunk = steps[start : start + _CHUNK]
                connection.execute(
                    insert(Cluster),
                    [
                        {
                            "id": s.cluster_id,
                            "name": s.cluster_id,
                            "tenant_id": TENANT,
                            "status": "Creating",
                            "created_at": at,
                            "updated_at": at,
                        }
                        for s in chunk
                    ],
                )
                connection.execute(
                    insert(ClusterOperation),
                    [
                        {
                            "id": span_row_id(s.trace_id, OPERATION_SPAN),
                            "cluster_id": s.cluster_id,
                            "trace_id": s.trace_id,
                            "span_id": OPERATION_SPAN,
                            "step_type": "creating",
                            "status": "running",
                            "plan": ["Launching instances"],
                            "started_at": at,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for s in chunk
                    ],
                )
                connection.execute(
                    insert(ProvisionStep),
                    [
                        {
                            "id": s.row_id,
                            "cluster_id": s.cluster_id,
                            "operation_id": span_row_id(s.trace_id, OPERATION_SPAN),
                            "trace_id": s.trace_id,
                            "span_id": s.span_id,
                            "parent_span_id": OPERATION_SPAN,
                            "step_name": "Launching instances",
                            "step_type": "creating",
                            "position": 0,
                            "total": s.events,
                            "completed": s.events - failed_events(s.events),
                            "failed": failed_events(s.events),
                            "successful": False if failed_events(s.events) else None,
                            "status": "running",
                            "started_at": at,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for s in chunk
                    ],
                )
        for step in (s for s in steps if s.events):
            with engine.begin() as connection:
                if engine.dialect.name == "sqlite":  # random keys: keep the indexes in memory
                    connection.exec_driver_sql("PRAGMA cache_size = -262144")
                insert_events(connection, _event_rows(step, 0, step.events))
    finally:
        engine.dispose()
    return steps


def cluster_step(url: str, cluster_id: str) -> dict[str, Any]:
    """Return the stored counters of a cluster's steps (a check that seeds add up)."""
    engine = create_store_engine(url, writer=False)
    try:
        with engine.connect() as connection:
            completed, failed = connection.execute(
                select(func.sum(ProvisionStep.completed), func.sum(ProvisionStep.failed)).where(
                    ProvisionStep.cluster_id == cluster_id
                )
            ).one()
            events = connection.execute(
                select(func.count()).where(ClusterEvent.cluster_id == cluster_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return {"completed": completed or 0, "failed": failed or 0, "events": events}
