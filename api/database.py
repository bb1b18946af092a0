"""The API's window on the store: a reader engine and one read-only session per request.

The engine is made read-only at the database where the backend allows it, so that no
request can write, whatever a view does: SQLite connections run with
``PRAGMA query_only``, PostgreSQL and MariaDB transactions start with
``SET TRANSACTION READ ONLY``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from otel_provlog.exporter.database import create_store_engine, session_factory

__all__ = ["create_reader_engine", "install_database", "read_session"]

_EXTENSION = "provlog"


def create_reader_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine on the store at ``url`` that cannot write."""
    engine = create_store_engine(url, writer=False, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA query_only = ON")
            finally:
                cursor.close()

    else:

        @event.listens_for(engine, "begin")
        def _read_only(connection: Any) -> None:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


def install_database(app: Flask, engine: Engine) -> None:
    """Give ``app`` its engine and close each request's session when the request ends."""
    app.extensions[_EXTENSION] = {"engine": engine, "sessions": session_factory(engine)}

    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def read_session() -> Session:
    """Return the current request's session, opening it on first use."""
    session: Session | None = g.get("db_session")
    if session is None:
        sessions: sessionmaker[Session] = current_app.extensions[_EXTENSION]["sessions"]
        session = g.db_session = sessions()
    return session
