"""Schema migrations: upgrade, downgrade and inspect the store with Alembic.

The migrations own the schema; ``provlog db upgrade`` and the store path call
:func:`upgrade`, tests call :func:`downgrade` too. Every function takes an
:class:`~sqlalchemy.engine.Engine` (or a URL) and opens its own connection.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

SCRIPT_LOCATION = "otel_provlog.exporter:migrations"


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic configuration for the store's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _engine(target: Engine | str) -> Engine:
    return create_engine(target) if isinstance(target, str) else target


def upgrade(target: Engine | str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the newest by default)."""
    engine = _engine(target)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(target: Engine | str, revision: str = "base") -> None:
    """Take the schema back to ``revision`` (no tables at all by default)."""
    engine = _engine(target)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(target: Engine | str) -> str | None:
    """Return the revision the database is at, or None before the first migration."""
    with _engine(target).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """Return the newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the package ships no migrations")
    return head
