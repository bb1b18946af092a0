"""``provlog prune``: remove the events of steps that completed successfully long ago.

Once, or with ``--every`` periodically until stopped (SIGTERM or SIGINT): the clean-up
``provlog serve`` runs in a process of its own (see :mod:`otel_provlog.exporter.retention`).
Exit codes: 0 done, 1 the store failed, 2 bad usage.
"""

from __future__ import annotations

import json
import logging
import signal
import threading

import click

from otel_provlog.cli.options import DURATION, database_url_option, output_format_option
from otel_provlog.cli.store_access import command_settings, store_engine

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
@click.option(
    "--every",
    type=DURATION,
    default=None,
    help="Clean up periodically, this often (e.g. 1h), until stopped; failures are logged "
    "and tried again at the next run.",
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Stop with it.")
@output_format_option
def prune(
    database_url: str | None,
    retention: float | None,
    every: float | None,
    parent_pid: int | None,
    output_format: str,
) -> None:
    """Remove events of steps that completed successfully longer ago than the retention.

    Events of failed and running steps stay; steps keep their counts. Safe to run at any
    time, also while spans are being written, and as often as you like.
    """
    from otel_provlog.exporter.database import session_factory
    from otel_provlog.exporter.retention import prune_events

    settings = command_settings(database_url=database_url, event_retention=retention)
    seconds = settings.event_retention
    if every is not None:
        _prune_periodically(settings.database_url, seconds, every, parent_pid)
        return
    with store_engine(settings.database_url) as engine:
        result = prune_events(session_factory(engine), retention=seconds)
    if output_format == "json":
        body = {"steps": result.steps, "events": result.events, "retention_seconds": seconds}
        click.echo(json.dumps(body))
    else:
        click.echo(
            f"removed {result.events} events of {result.steps} steps "
            f"completed successfully more than {seconds:g} s ago"
        )


def _prune_periodically(
    database_url: str, retention: float, every: float, parent_pid: int | None
) -> None:
    from otel_provlog.exporter.retention import run_retention

    logging.basicConfig(level=logging.INFO, format="provlog prune: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    run_retention(database_url, retention, every, stop=stop, parent_pid=parent_pid)
