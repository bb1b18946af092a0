"""Fixtures of the API tests: an app and a client per backend, and a store seeder."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from otel_provlog.api import create_app
from otel_provlog.api.auth import hash_token
from otel_provlog.config import Settings
from otel_provlog.exporter import store
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.fingerprints import fingerprint_message
from otel_provlog.exporter.models import (
    ClusterOperation,
    ClusterStatus,
    ProvisionStep,
    RunStatus,
    span_row_id,
)

T0 = datetime(2026, 5, 4, 10, 0, 0, 250000, tzinfo=UTC)
TOKENS = {
    "admin": "admin-secret",
    "reader": "reader-secret",
    "other": "other-secret",
    "writer": "writer-secret",
}
TOKEN_TABLE = ",".join(
    [
        f"{hash_token(TOKENS['admin'])}:admin",
        f"{hash_token(TOKENS['reader'])}:reader:t-1",
        f"{hash_token(TOKENS['other'])}:reader:t-2",
        f"{hash_token(TOKENS['writer'])}:writer:t-1",
    ]
)


class Seeder:
    """Writes clusters, operations, steps and events into a store, as the exporter would."""

    def __init__(self, url: str) -> None:
        self.engine = create_store_engine(url)
        self.sessions = session_factory(self.engine)
        self._spans = itertools.count(1)
        self.trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        self.t0 = T0

    def _span_row(self, cluster_id: str) -> dict[str, Any]:
        """Return the id columns of the row of a new span of the cluster."""
        span = f"{next(self._spans):016x}"
        return {
            "id": span_row_id(self.trace, span),
            "cluster_id": cluster_id,
            "trace_id": self.trace,
            "span_id": span,
        }

    def _insert_span_row(
        self, model: type[ClusterOperation | ProvisionStep], row: dict[str, Any]
    ) -> str:
        """Store one span's row of ``model``; return its id."""
        with self.sessions.begin() as session:
            store.insert_missing(session, model, [row], ["trace_id", "span_id"])
        return str(row["id"])

    def cluster(
        self,
        cluster_id: str = "c-1",
        *,
        tenant: str = "t-1",
        name: str = "hadoop",
        status: str = ClusterStatus.CREATING,
    ) -> str:
        """Store a cluster; return its id."""
        with self.sessions.begin() as session:
            store.ensure_clusters(session, {cluster_id: {"name": name, "tenant_id": tenant}}, at=T0)
            store.set_cluster_status(session, cluster_id, status)
        return cluster_id

    def operation(
        self,
        cluster_id: str = "c-1",
        *,
        step_type: str = "creating",
        plan: list[str] | None = None,
        status: str = RunStatus.RUNNING,
        at: datetime = T0,
    ) -> str:
        """Store an operation span's row; return its id."""
        row = {
            **self._span_row(cluster_id),
            "step_type": step_type,
            "status": status,
            "plan": plan,
            "started_at": at,
            "created_at": at,
            "updated_at": at,
        }
        return self._insert_span_row(ClusterOperation, row)

    def step(
        self,
        cluster_id: str = "c-1",
        name: str = "Launching instances",
        *,
        total: int = 10,
        at: datetime = T0,
        operation_id: str | None = None,
        step_type: str = "creating",
        position: int | None = None,
    ) -> str:
        """Store a running step; return its id."""
        row = {
            **self._span_row(cluster_id),
            "step_name": name,
            "step_type": step_type,
            "total": total,
            "operation_id": operation_id,
            "position": position,
            "created_at": at,
            "updated_at": at,
            "started_at": at,
        }
        return self._insert_span_row(ProvisionStep, row)

    def events(
        self,
        step_id: str,
        count: int,
        *,
        cluster_id: str = "c-1",
        failed: int = 0,
        at: datetime = T0,
        node_group: str = "ng-1",
        message: str | Callable[[int], str] = "ssh refused",
        names: Callable[[str], str] = "worker-{}".format,
    ) -> list[str]:
        """Store ``count`` events of a step (the first ``failed`` fail); return their ids.

        A failure's message is ``message`` (or ``message(n)`` for the n-th event), with its
        fingerprint as the store computes it; an instance is named ``names(span id)``.
        """
        rows: list[dict[str, Any]] = []
        for n in range(count):
            ids = self._span_row(cluster_id)
            span = ids["span_id"]
            ok = n >= failed
            when = at + timedelta(seconds=n + 1)
            info = None if ok else (message if isinstance(message, str) else message(n))
            fingerprint, pattern = (None, None) if ok else fingerprint_message(info)
            rows.append(
                {
                    **ids,
                    "provision_step_id": step_id,
                    "node_group_id": node_group,
                    "instance_id": f"i-{span}",
                    "instance_name": names(span),
                    "successful": ok,
                    "event_info": info,
                    "error_fingerprint": fingerprint,
                    "error_pattern": pattern,
                    "stacktrace": None
                    if ok
                    else (
                        "Traceback (most recent call last):\n"
                        '  File "x.py", line 1, in <module>\nConnectionError: ssh refused'
                    ),
                    "error_id": None if ok else f"00000000-0000-4000-8000-{int(span, 16):012x}",
                    "started_at": when - timedelta(milliseconds=500),
                    "created_at": when,
                    "updated_at": when,
                }
            )
        with self.sessions.begin() as session:
            store.add_events(session, rows)
        return [row["id"] for row in rows]

    def end_step(self, step_id: str, *, seconds: float, successful: bool = True) -> None:
        """End a step ``seconds`` after it started."""
        with self.sessions.begin() as session:
            step = session.get(ProvisionStep, step_id)
            assert step is not None
            assert step.started_at is not None
            ended = step.started_at + timedelta(seconds=seconds)
            session.execute(
                update(ProvisionStep)
                .where(ProvisionStep.id == step_id)
                .values(
                    completed_at=ended,
                    duration=seconds,
                    updated_at=ended,
                    successful=successful if step.successful is None else step.successful,
                    status=RunStatus.SUCCESSFUL if successful else RunStatus.FAILED,
                )
            )

    def close(self) -> None:
        """Dispose of the writer engine."""
        self.engine.dispose()


@pytest.fixture
def seed(database_url: str) -> Iterator[Seeder]:
    """A seeder writing into the test's store."""
    seeder = Seeder(database_url)
    yield seeder
    seeder.close()


def make_app(database_url: str, auth: str = "none") -> Any:
    """Return an API app on ``database_url`` with the test token table."""
    settings = Settings(database_url=database_url, auth=auth)
    return create_app(
        settings,
        test_config={
            "TESTING": True,
            "PROVLOG_API_TOKENS": TOKEN_TABLE,
            "PROVLOG_API_TOKENS_FILE": "",
        },
    )


@pytest.fixture
def app(database_url: str) -> Iterator[Any]:
    """The API app (auth ``none``) on the test's store."""
    application = make_app(database_url)
    yield application
    application.extensions["provlog"]["engine"].dispose()


@pytest.fixture
def client(app: Any) -> Any:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def token_app(database_url: str) -> Iterator[Any]:
    """The API app with ``tokens`` auth on the test's store."""
    application = make_app(database_url, "tokens")
    yield application
    application.extensions["provlog"]["engine"].dispose()


@pytest.fixture
def token_client(token_app: Any) -> Any:
    """A test client of ``token_app``."""
    return token_app.test_client()


@pytest.fixture
def bearer() -> Any:
    """A function returning the Authorization header of the test token of a role."""

    def _header(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"}

    return _header
