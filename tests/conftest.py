"""Shared fixtures: one store per database backend, for every database test.

Database tests take the ``database_url`` or ``engine`` fixture and run once per backend:
SQLite always, PostgreSQL when ``PROVLOG_TEST_POSTGRESQL_URL`` is set and MariaDB when
``PROVLOG_TEST_MARIADB_URL`` is set. Each test session works in databases of its own,
created on those servers and dropped at the end, so parallel runs do not meet.

With ``PROVLOG_TEST_REQUIRE_ALL_BACKENDS=1`` (``.ci/run`` sets it) a missing URL is an
error and any skipped test fails the run.

Helpers of tests in more than one folder are fixtures too: ``otlp_json``,
``output_once_ended``, two ways to make the database refuse a record:
``refusing_store`` (a constraint) and ``uncleaned_text`` (values reach it as sent),
``simulated_store``, a store per backend holding a simulated provisioning, and
``failure_group``, one failure group as the API answers it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine
from otel_provlog.exporter.models import Base
from tests import served_api
from tests.cli.provisioning import SIMULATED_CLUSTER, simulate

SERVER_BACKENDS = {
    "postgresql": "PROVLOG_TEST_POSTGRESQL_URL",
    "mariadb": "PROVLOG_TEST_MARIADB_URL",
}
BACKENDS = ["sqlite", *SERVER_BACKENDS]
REQUIRE_ALL = os.environ.get("PROVLOG_TEST_REQUIRE_ALL_BACKENDS", "") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to start without every server URL when all backends are required."""
    missing = [var for var in SERVER_BACKENDS.values() if not os.environ.get(var)]
    if REQUIRE_ALL and missing:
        raise pytest.UsageError(f"all database backends are required, missing: {missing}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test was skipped while all backends are required."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if REQUIRE_ALL and reporter is not None and reporter.stats.get("skipped"):
        reporter.write_line("skipped tests are failures when all backends are required")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _server_url(backend: str) -> str:
    url = os.environ.get(SERVER_BACKENDS[backend], "")
    if not url:
        pytest.skip(f"{SERVER_BACKENDS[backend]} is not set")
    return url


def _run_on_server(server_url: str, *, postgresql: str, mariadb: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(postgresql if admin.dialect.name == "postgresql" else mariadb))
    admin.dispose()


def _create_database(server_url: str, name: str) -> str:
    _run_on_server(
        server_url,
        postgresql=f'CREATE DATABASE "{name}"',
        mariadb=f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    )
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, name: str) -> None:
    _run_on_server(
        server_url,
        postgresql=f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        mariadb=f"DROP DATABASE IF EXISTS `{name}`",
    )


class DatabaseFactory:
    """Makes empty databases on one backend and drops them when the session ends."""

    def __init__(self, backend: str, tmp_dir: Path) -> None:
        self.backend = backend
        self._tmp_dir = tmp_dir
        self._made: list[str] = []

    def new_url(self) -> str:
        """Return the URL of a new, empty database on this backend."""
        name = f"provlog_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self._tmp_dir / (name + '.db')}"
        url = _create_database(_server_url(self.backend), name)
        self._made.append(name)
        return url

    def drop_all(self) -> None:
        """Drop every database this factory made."""
        if not self._made:
            return
        server = os.environ[SERVER_BACKENDS[self.backend]]
        for name in self._made:
            _drop_database(server, name)


@pytest.fixture(scope="session", params=BACKENDS)
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    """A maker of empty databases, once per backend."""
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(request.param))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def migrated_url(database_factory: DatabaseFactory) -> str:
    """The URL of a database migrated to the newest schema, shared by the session."""
    url = database_factory.new_url()
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def database_url(migrated_url: str) -> Iterator[str]:
    """The URL of a migrated store, emptied after each test."""
    yield migrated_url
    engine = create_store_engine(migrated_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
    engine.dispose()


@pytest.fixture(scope="session")
def simulated_store(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The URL of a store holding ``SIMULATED_CLUSTER``'s simulated creation and scale-out.

    Recorded once per backend by the instrumentation in another process, failures included;
    tests only read it.
    """
    url = database_factory.new_url()
    process = simulate(
        url,
        SIMULATED_CLUSTER,
        tmp_path_factory.mktemp("simulated"),
        instances=12,
        failure_rate=0.4,
        scale_out=3,
    )
    output = served_api.output_once_ended(process, 120)
    assert process.returncode == 0, output
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A writer engine on a migrated, empty store."""
    store = create_store_engine(database_url)
    yield store
    store.dispose()


@pytest.fixture
def backend(database_factory: DatabaseFactory) -> str:
    """The name of the backend the test runs on: sqlite, postgresql or mariadb."""
    return database_factory.backend


UNREACHABLE_URLS = {
    "sqlite": "sqlite:////nonexistent-dir/provlog.db",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2",
    "mariadb": "mysql+pymysql://root@127.0.0.1:9/none?connect_timeout=2",
}


@pytest.fixture
def unreachable_url(backend: str) -> str:
    """The URL of a store of the test's backend that does not answer (nothing listens)."""
    return UNREACHABLE_URLS[backend]


REFUSED_INSTANCE = "refused-by-the-database"
"""The instance id whose events the ``refusing_store`` fixture's database refuses."""
_REFUSAL = {
    "sqlite": (
        "CREATE TRIGGER refuse_instance BEFORE INSERT ON cluster_events"
        f" WHEN NEW.instance_id = '{REFUSED_INSTANCE}'"
        " BEGIN SELECT RAISE(ABORT, 'this instance is refused'); END",
        "DROP TRIGGER refuse_instance",
    ),
    **dict.fromkeys(
        ("postgresql", "mariadb"),
        (
            "ALTER TABLE cluster_events ADD CONSTRAINT ck_refuse_instance"
            f" CHECK (instance_id IS NULL OR instance_id <> '{REFUSED_INSTANCE}')",
            "ALTER TABLE cluster_events DROP CONSTRAINT ck_refuse_instance",
        ),
    ),
}


@pytest.fixture
def refusing_store(database_url: str, backend: str) -> Iterator[str]:
    """The URL of the migrated store, whose database refuses events of ``REFUSED_INSTANCE``.

    A trigger (SQLite) or a check constraint (PostgreSQL, MariaDB) stands for any value a
    backend refuses: the database, not our code, says no.
    """
    install, remove = _REFUSAL[backend]
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(install))
    yield database_url
    with admin.begin() as connection:
        connection.execute(text(remove))
    admin.dispose()


@pytest.fixture
def uncleaned_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let text reach the database as sent, as if the writer's cleaning had missed a case."""
    from otel_provlog.exporter import mapping

    real = mapping.clean_text

    def as_sent(value: object, limit: int | None = None) -> str | None:
        return value if isinstance(value, str) else real(value, limit)

    monkeypatch.setattr(mapping, "clean_text", as_sent)


def _otlp_json(request: Message) -> dict[str, Any]:
    data = json_format.MessageToDict(request)
    for resource_spans in data["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return data


@pytest.fixture
def otlp_json() -> Callable[[Message], dict[str, Any]]:
    """A function turning an OTLP export request into its JSON encoding (hex ids, camelCase)."""
    return _otlp_json


@pytest.fixture
def failure_group() -> dict[str, Any]:
    """One failure group as the API answers it: 3 SSH failures, one example (worker-7)."""
    return {
        "fingerprint": "f1",
        "pattern": "Instance <name> is not accessible over SSH",
        "message": "Instance worker-7 is not accessible over SSH",
        "count": 3,
        "node_groups": {"ng-worker": 2, "": 1},
        "first_seen": "2026-05-04T10:00:00.250000Z",
        "last_seen": "2026-05-04T10:05:00.000000Z",
        "examples": [
            {
                "event_id": "e-7",
                "instance_id": "i-7",
                "instance_name": "worker-7",
                "node_group_id": "ng-worker",
                "error_id": "err-7",
                "provisioning_step_id": "s-1",
            }
        ],
    }


@pytest.fixture
def output_once_ended() -> Callable[[subprocess.Popen[str], float], str]:
    """A function returning a process's output once it ended, killing its group past a bound."""
    return served_api.output_once_ended
