"""Private PostgreSQL and MariaDB servers a fault case may stop and start at will.

The machine's shared servers serve other tests; a case that stops a database gets a server
of its own instead: a fresh data directory in a temporary folder, bound to 127.0.0.1 on a
free port, with its own socket, removed at the end. PostgreSQL refuses to run as root, so
as root its commands run as the ``postgres`` user (MariaDB's as ``mysql``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.served_api import free_port

START_SECONDS = 60
"""Bound on a server's start on a busy machine."""


def _as_user(user: str) -> list[str]:
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


class PrivateServer:
    """A database server of one test: ``start()``, ``stop(mode)``, ``close()``."""

    backend: ClassVar[str] = ""
    user: ClassVar[str] = ""
    """The system user the server runs as when we are root."""
    admin_database: ClassVar[str] = ""
    """A database that always exists, to connect to."""
    create_statement: ClassVar[str] = ""
    connect_args: ClassVar[dict[str, object]] = {"connect_timeout": 2}

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix=f"provlog-{self.backend}-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, self.user)
        self.port = free_port()

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of ``database`` on this server."""
        raise NotImplementedError

    def create_database(self, name: str = "provlog") -> str:
        """Create an empty database; return its URL."""
        admin = create_engine(self.url(self.admin_database), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(self.create_statement.format(name=name)))
        finally:
            admin.dispose()
        return self.url(name)

    def answers(self) -> bool:
        """Whether the server takes connections now."""
        engine = create_engine(self.url(self.admin_database), connect_args=self.connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False
        finally:
            engine.dispose()

    def wait_until_answering(self) -> None:
        """Wait until the server takes connections."""
        deadline = time.monotonic() + START_SECONDS
        while not self.answers():
            assert time.monotonic() < deadline, f"the private {self.backend} did not start"
            time.sleep(0.1)

    def start(self) -> None:
        """Start the server and wait until it answers."""
        raise NotImplementedError

    def stop(self, mode: str) -> None:
        """Stop it: ``fast`` (a clean shutdown) or ``immediate`` (no clean-up, as a crash)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server if it runs and remove its files."""
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivatePostgres(PrivateServer):
    """A PostgreSQL cluster made with ``initdb``, run with ``pg_ctl``."""

    backend = "postgresql"
    user = "postgres"
    admin_database = "postgres"
    create_statement = 'CREATE DATABASE "{name}"'

    def __init__(self, bin_dir: Path) -> None:
        super().__init__()
        self.bin_dir = bin_dir
        self.data = self.directory / "data"
        subprocess.run(
            [
                *_as_user(self.user),
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )

    @classmethod
    def find(cls) -> Path | None:
        """Return the directory of PostgreSQL's server programs, if installed."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return Path(found[-1]).parent if found else None

    def url(self, database: str) -> str:
        """Return the URL of ``database``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *arguments: str) -> None:
        subprocess.run(
            [*_as_user(self.user), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *arguments],
            check=True,
            capture_output=True,
            timeout=START_SECONDS,
        )

    def start(self) -> None:
        """Start with ``pg_ctl start``."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._pg_ctl("-l", log, "-w", "-t", str(START_SECONDS), "-o", options, "start")
        self.wait_until_answering()

    def stop(self, mode: str) -> None:
        """Stop with ``pg_ctl stop -m fast|immediate``."""
        self._pg_ctl("-m", mode, "-w", "stop")


class PrivateMariaDB(PrivateServer):
    """A MariaDB server made with ``mariadb-install-db``, run as a child ``mariadbd``."""

    backend = "mariadb"
    user = "mysql"
    admin_database = "mysql"
    create_statement = "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"

    def __init__(self, server: str, install: str) -> None:
        super().__init__()
        self.server = server
        self.data = self.directory / "data"
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.data}",
                *([f"--user={self.user}"] if os.geteuid() == 0 else []),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )

    @classmethod
    def find(cls) -> tuple[str, str] | None:
        """Return the paths of ``mariadbd`` and ``mariadb-install-db``, if installed."""
        server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
        install = shutil.which("mariadb-install-db")
        return (server, install) if server and install else None

    def url(self, database: str) -> str:
        """Return the URL of ``database``."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start ``mariadbd`` on the data directory."""
        self.process = subprocess.Popen(
            [
                self.server,
                "--no-defaults",
                f"--datadir={self.data}",
                *([f"--user={self.user}"] if os.geteuid() == 0 else []),
                f"--socket={self.directory / 'server.sock'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.directory / 'server.pid'}",
                f"--log-error={self.directory / 'server.log'}",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_until_answering()

    def stop(self, mode: str) -> None:
        """SIGTERM (``fast``: a clean shutdown) or SIGKILL (``immediate``)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM if mode == "fast" else signal.SIGKILL)
        process.wait(timeout=START_SECONDS)
