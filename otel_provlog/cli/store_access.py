"""How every command finds its settings and opens the store: one place, one behaviour.

A setting that cannot be read is bad usage (exit code 2); a store that cannot be reached
(or whose connection is lost) is exit code 5 and one line; any other failure of the store
(a missing table, a refused statement) exit code 1 and one line. Never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from otel_provlog.cli.exit_codes import (
    EXIT_BAD_USAGE,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    CommandError,
)
from otel_provlog.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

__all__ = ["command_settings", "store_engine", "store_session"]


def command_settings(**options: Any) -> Settings:
    """Return the command's settings: ``PROVLOG_*`` and the config file, under its options.

    ``options`` are setting values from the command line; None leaves a setting alone.

    Raises:
        CommandError: a setting's value is unusable (bad usage).
    """
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return load_settings(**given)
    except ValueError as error:
        raise CommandError(str(error), EXIT_BAD_USAGE) from None


@contextmanager
def store_engine(database_url: str, *, writer: bool = True) -> Iterator[Engine]:
    """Open the store at ``database_url`` for one command; its failures end the command."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from otel_provlog.exporter import database_errors
    from otel_provlog.exporter.database import create_store_engine

    try:
        engine = create_store_engine(database_url, writer=writer)
    except (ArgumentError, ValueError) as error:
        raise CommandError(f"unusable database URL: {error}", EXIT_BAD_USAGE) from None
    try:
        try:
            engine.connect().close()
        except SQLAlchemyError as error:
            why = database_errors.reason(error)
            raise CommandError(f"the store does not answer: {why}", EXIT_UNREACHABLE) from None
        yield engine
    except SQLAlchemyError as error:
        code = EXIT_UNREACHABLE if getattr(error, "connection_invalidated", False) else EXIT_FAILED
        raise CommandError(f"the store failed: {database_errors.reason(error)}", code) from None
    finally:
        engine.dispose()


@contextmanager
def store_session(database_url: str, *, writer: bool = True) -> Iterator[Session]:
    """Open a session on the store for one command: a transaction when ``writer``, else reads."""
    from otel_provlog.exporter.database import session_factory

    with store_engine(database_url, writer=writer) as engine:
        factory = session_factory(engine)
        if writer:
            with factory.begin() as session:
                yield session
        else:
            with factory() as session:
                yield session
