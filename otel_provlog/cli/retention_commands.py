"""``provlog prune``: remove the events of steps that completed successfully long ago.

The same clean-up ``provlog serve`` runs periodically (see
:mod:`otel_provlog.exporter.retention`). Exit codes: 0 done, 1 the store failed, 2 bad usage.
"""

from __future__ import annotations

import json

import click

from otel_provlog.cli.options import DURATION, database_url_option, output_format_option
from otel_provlog.config import load_settings

__all__ = ["prune"]


@click.command()
@database_url_option
@click.option(
    "--retention",
    type=DURATION,
    default=None,
    help="Keep events of successful steps this long, e.g. 24h or 7d "
    "[env: PROVLOG_EVENT_RETENTION; default 24h]",
)
@output_format_option
def prune(database_url: str | None, retention: float | None, output_format: str) -> None:
    """Remove events of steps that completed successfully longer ago than the retention.

    Events of failed and running steps stay; steps keep their counts. Safe to run at any
    time, also while spans are being written, and as often as you like.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from otel_provlog.exporter.database import create_store_engine, session_factory
    from otel_provlog.exporter.retention import prune_events

    settings = load_settings()
    seconds = settings.event_retention if retention is None else retention
    engine = create_store_engine(database_url or settings.database_url)
    try:
        result = prune_events(session_factory(engine), retention=seconds)
    except SQLAlchemyError as error:
        raise click.ClickException(f"the store failed: {error}") from None
    finally:
        engine.dispose()
    if output_format == "json":
        body = {"steps": result.steps, "events": result.events, "retention_seconds": seconds}
        click.echo(json.dumps(body))
    else:
        click.echo(
            f"removed {result.events} events of {result.steps} steps "
            f"completed successfully more than {seconds:g} s ago"
        )
