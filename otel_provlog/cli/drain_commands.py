"""``provlog drain``: a long-running drain of a spool directory, e.g. as a sidecar.

Programs configured with ``drain="none"`` (or whose own drain process is gone) only append
to the spool; this command moves it into the store, retrying while the database is down,
until it receives SIGTERM or SIGINT (or, with ``--until-empty``, once the spool is stored).
Only one drain at a time works on a spool; a second one waits for the first to leave.
``otel_provlog.configure(drain="process")`` runs this same command as its drain process
(``--watch-stdin --report``: it finishes when the program's end of its standard input
closes, and reports its counters as JSON lines on its standard output).

A finishing drain (``--until-empty``) keeps going as long as it stores batches, however
long the spool; it gives up only after ``--linger`` seconds in which every attempt failed.

Exit codes: 0 stopped on request, or (with ``--until-empty``) every spooled span is stored;
1 another drain holds the spool, so this one stored nothing more; 2 bad usage; 5 the
database could not be written for ``--linger`` seconds and spans are left in the spool.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from otel_provlog.cli.exit_codes import EXIT_FAILED, EXIT_UNREACHABLE
from otel_provlog.cli.options import DURATION, database_url_option, spool_dir_option
from otel_provlog.cli.store_access import command_settings

if TYPE_CHECKING:
    from otel_provlog.exporter.processor import Counters

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
    "--stale-after",
    type=DURATION,
    default=None,
    help="Mark running steps interrupted after this long without news, e.g. 1h; 0 never "
    "[env: PROVLOG_STALE_AFTER]",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the counts after every stored batch and failed attempt.",
)
@click.option("--watch-stdin", is_flag=True, hidden=True, help="Finish when stdin closes.")
@click.option("--report", is_flag=True, hidden=True, help="Counters as JSON lines on stdout.")
def drain(
    database_url: str | None,
    spool_dir: Path | None,
    no_upgrade: bool,
    until_empty: bool,
    linger: float,
    stale_after: float | None,
    verbose: bool,
    watch_stdin: bool,
    report: bool,
) -> None:
    """Move spooled spans into the store, exactly once, until stopped.

    Exit codes: 0 stopped on request, or with --until-empty every spooled span is stored;
    1 another drain holds the spool; 2 bad usage; 5 the database failed for --linger
    seconds and spans are left in the spool.
    """
    from otel_provlog.exporter import spool
    from otel_provlog.exporter.drain import Drain, DrainOutcome

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    settings = command_settings(database_url=database_url, stale_after=stale_after)
    url = spool.absolute_database_url(settings.database_url)
    directory = (spool_dir or spool.default_spool_dir(url)).absolute()
    seconds = settings.stale_after
    worker = Drain(
        directory,
        url,
        upgrade=not no_upgrade,
        stale_after=seconds or None,
        on_batch=_reporter(verbose=verbose, as_json=report),
    )
    finish, abort = threading.Event(), threading.Event()
    if until_empty:
        finish.set()
    if watch_stdin:
        _finish_with_parent(finish)
    previous = {
        number: signal.signal(number, lambda *_: abort.set())
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    if not watch_stdin:
        click.echo(f"draining {directory} into {_safe(url)}", err=True)
    try:
        outcome = worker.run(finish=finish, abort=abort, linger=linger)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    counters = worker.counters
    if not watch_stdin:
        click.echo(
            f"stored {counters.written}, duplicates {counters.duplicates}, "
            f"rejected {counters.rejected}, retried {counters.retried}",
            err=True,
        )
    if outcome is DrainOutcome.LOCKED:
        if not watch_stdin:
            click.echo("another drain holds the spool: what is left is left to it", err=True)
        raise SystemExit(EXIT_FAILED)
    if outcome is DrainOutcome.FAILING:
        click.echo(
            f"spans are left in {directory}: nothing could be stored for {linger:g} s",
            err=True,
        )
        raise SystemExit(EXIT_UNREACHABLE)


def _reporter(*, verbose: bool, as_json: bool) -> Callable[[Counters], None]:
    """Return the drain's ``on_batch``: counts for a person, or JSON lines for a program."""
    reporting = [as_json]

    def report(counters: Counters) -> None:
        if verbose:
            click.echo(
                f"written {counters.written}, duplicates {counters.duplicates}, "
                f"rejected {counters.rejected}, retried {counters.retried}",
                err=as_json,
            )
        if reporting[0]:
            try:
                sys.stdout.write(json.dumps(asdict(counters)) + "\n")
                sys.stdout.flush()
            except OSError:  # whoever read the reports is gone
                reporting[0] = False

    return report


def _finish_with_parent(finish: threading.Event) -> None:
    """Set ``finish`` once stdin closes or the parent process is gone."""
    parent = os.getppid()

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            finish.set()

    def watch_parent() -> None:
        while not finish.wait(1.0):
            if os.getppid() != parent:
                finish.set()

    threading.Thread(target=watch_stdin, name="provlog-stdin", daemon=True).start()
    threading.Thread(target=watch_parent, name="provlog-parent", daemon=True).start()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
