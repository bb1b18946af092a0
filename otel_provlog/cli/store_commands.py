"""``provlog expire``: end the steps and operations whose process fell silent.

A step whose process died never ends its span; after ``--stale-after`` without news it is
marked ``interrupted`` (``successful`` false) and its cluster ``Error``. A span that still
arrives later ends the step as usual. Safe to run at any time and as often as you like,
e.g. from cron.

Exit codes: 0 done, 1 the store failed, 2 bad usage.
"""

from __future__ import annotations

import json

import click

from otel_provlog.cli.options import DURATION, database_url_option, output_format_option
from otel_provlog.cli.store_access import command_settings, store_session

__all__ = ["expire"]


@click.command()
@database_url_option
@click.option(
    "--stale-after",
    type=DURATION,
    default=None,
    help="Silence after which a running step is interrupted, e.g. 90m or 6h "
    "[env: PROVLOG_STALE_AFTER; default 6h]",
)
@output_format_option
def expire(database_url: str | None, stale_after: float | None, output_format: str) -> None:
    """Mark running steps and operations without news for a while as interrupted."""
    from otel_provlog.exporter.interruption import expire_stale_steps
    from otel_provlog.exporter.models import utcnow

    settings = command_settings(database_url=database_url, stale_after=stale_after)
    seconds = settings.stale_after
    with store_session(settings.database_url) as session:
        count = expire_stale_steps(session, now=utcnow(), stale_after=seconds)
    if output_format == "json":
        click.echo(json.dumps({"interrupted": count, "stale_after_seconds": seconds}))
    else:
        click.echo(f"marked {count} steps and operations silent for {seconds:g} s interrupted")
