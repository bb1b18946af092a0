"""The commands of ``provlog``, built with click.

Exit codes, the same for every command: 0 success, 1 the command, the operation or a step
failed (the message says why), 2 bad usage, 3 timeout, 4 not found, 5 the API or the
database does not answer.
"""

from __future__ import annotations

import click

from otel_provlog.cli.cluster_commands import cluster, step
from otel_provlog.cli.demo import demo
from otel_provlog.cli.drain_commands import drain
from otel_provlog.cli.event_commands import event, failures
from otel_provlog.cli.options import database_url_option
from otel_provlog.cli.retention_commands import prune
from otel_provlog.cli.serve_commands import serve
from otel_provlog.cli.stats_commands import stats
from otel_provlog.cli.store_access import command_settings, store_engine
from otel_provlog.cli.store_commands import expire
from otel_provlog.cli.watch import watch

__all__ = ["provlog"]


EPILOG = """\b
Read commands (cluster, step, event, failures, watch) talk to the API at
PROVLOG_API_URL (sending PROVLOG_TOKEN), or read the store directly with
--database-url or when no API URL is set.

\b
Exit codes, the same for every command:
  0  success
  1  the command, the operation or a step failed
  2  bad usage
  3  timeout
  4  not found
  5  the API or the database does not answer
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(package_name="otel-provlog", prog_name="provlog")
def provlog() -> None:
    """See what a provisioning engine is doing: steps, events and failures of every cluster."""


@provlog.group()
def db() -> None:
    """Manage the store's schema (Alembic migrations)."""


@db.command()
@database_url_option
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(database_url: str | None, revision: str) -> None:
    """Create or upgrade the store's tables to the newest schema."""
    _move_schema(database_url, revision, down=False)


@db.command()
@database_url_option
@click.option("--revision", required=True, help="Target revision ('base' drops every table).")
def downgrade(database_url: str | None, revision: str) -> None:
    """Take the store's schema back to an earlier revision."""
    _move_schema(database_url, revision, down=True)


def _move_schema(database_url: str | None, revision: str, *, down: bool) -> None:
    """Upgrade (or downgrade) the store's schema to ``revision``; print where it is now."""
    from otel_provlog.exporter import migrate

    move = migrate.downgrade if down else migrate.upgrade
    with store_engine(command_settings(database_url=database_url).database_url) as engine:
        move(engine, revision)
        click.echo(f"store at revision {migrate.current_revision(engine) or 'base'}")


@db.command()
@database_url_option
def current(database_url: str | None) -> None:
    """Print the store's schema revision and the newest one this version ships."""
    from otel_provlog.exporter import migrate

    url = command_settings(database_url=database_url).database_url
    with store_engine(url, writer=False) as engine:
        click.echo(f"current: {migrate.current_revision(engine) or 'base'}")
        click.echo(f"head:    {migrate.head_revision()}")


provlog.add_command(cluster)
provlog.add_command(demo)
provlog.add_command(drain)
provlog.add_command(event)
provlog.add_command(expire)
provlog.add_command(failures)
provlog.add_command(prune)
provlog.add_command(serve)
provlog.add_command(stats)
provlog.add_command(step)
provlog.add_command(watch)
