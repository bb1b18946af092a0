"""``provlog drain``: a long-running drain of a spool directory, e.g. as a sidecar.

Programs configured with ``drain="none"`` (or whose own drain process is gone) only append
to the spool; this command moves it into the store, retrying while the database is down,
until it receives SIGTERM or SIGINT (or, with ``--until-empty``, once the spool is stored).
Only one drain works on a spool at a time; a second one waits for the first to leave.

A finishing drain (``--until-empty``) keeps going as long as it stores batches, however
long the spool; it gives up only after ``--linger`` seconds in which every attempt failed.

Exit codes: 0 stopped on request, or (with ``--until-empty``) every spooled span is stored;
1 another drain holds the spool, so this one stored nothing more; 2 bad usage; 5 the
database could not be written for ``--linger`` seconds and spans are left in the spool.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from otel_provlog.cli.exit_codes import EXIT_FAILED, EXIT_UNREACHABLE
from otel_provlog.cli.options import database_url_option, spool_dir_option
from otel_provlog.config import load_settings

__all__ = ["drain"]


@click.command()
@database_url_option
@spool_dir_option
@click.option("--no-upgrade", is_flag=True, help="Do not upgrade the schema before writing.")
@click.option(
    "--until-empty",
    is_flag=True,
    help="Leave once the spool is stored, or after --linger seconds in which every attempt "
    "failed (exit code 5: spans are left in the spool).",
)
@click.option(
    "--linger",
    type=float,
    default=60.0,
    show_default=True,
    help="With --until-empty: seconds without a stored batch, all attempts failing, "
    "before leaving.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the counts after every stored batch and failed attempt.",
)
def drain(
    database_url: str | None,
    spool_dir: Path | None,
    no_upgrade: bool,
    until_empty: bool,
    linger: float,
    verbose: bool,
) -> None:
    """Move spooled spans into the store, exactly once, until stopped.

    Exit codes: 0 stopped on request, or with --until-empty every spooled span is stored;
    1 another drain holds the spool; 2 bad usage; 5 the database failed for --linger
    seconds and spans are left in the spool.
    """
    from otel_provlog.exporter import spool
    from otel_provlog.exporter.drain import Drain, DrainCounters, DrainOutcome

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    try:
        settings = load_settings(database_url=database_url) if database_url else load_settings()
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    url = spool.absolute_database_url(settings.database_url)
    directory = (spool_dir or spool.default_spool_dir(url)).absolute()

    def report(counters: DrainCounters) -> None:
        if verbose:
            click.echo(
                f"written {counters.written}, duplicates {counters.duplicates}, "
                f"rejected {counters.rejected}, retried {counters.retried}"
            )

    worker = Drain(
        directory,
        url,
        upgrade=not no_upgrade,
        stale_after=settings.stale_after or None,
        on_batch=report,
    )
    finish, abort = threading.Event(), threading.Event()
    if until_empty:
        finish.set()
    previous = {
        number: signal.signal(number, lambda *_: abort.set())
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    click.echo(f"draining {directory} into {_safe(url)}", err=True)
    try:
        outcome = worker.run(finish=finish, abort=abort, linger=linger)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    counters = worker.counters
    click.echo(
        f"stored {counters.written}, duplicates {counters.duplicates}, "
        f"rejected {counters.rejected}, retried {counters.retried}",
        err=True,
    )
    if outcome is DrainOutcome.LOCKED:
        click.echo("another drain holds the spool: what is left is left to it", err=True)
        raise SystemExit(EXIT_FAILED)
    if outcome is DrainOutcome.FAILING:
        click.echo(
            f"spans are left in {directory}: nothing could be stored for {linger:g} s",
            err=True,
        )
        raise SystemExit(EXIT_UNREACHABLE)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
