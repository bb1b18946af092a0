"""Where the read commands read from (the API or the store) and how their errors end them.

With ``--database-url`` a read command reads that store directly; otherwise it talks to
the API at ``--api-url`` / ``PROVLOG_API_URL`` (sending ``PROVLOG_TOKEN``); with neither,
it reads the store of ``PROVLOG_DATABASE_URL`` (default ``sqlite:///provlog.db``) directly,
as an admin. Both ways give the same results: the offline client runs the API in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from otel_provlog.cli.exit_codes import (
    EXIT_BAD_USAGE,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    CommandError,
)

if TYPE_CHECKING:
    from otel_provlog.client import Page, ProvlogClient

__all__ = [
    "PAGE_SIZE",
    "exit_on_errors",
    "first_rows",
    "no_cluster",
    "open_client",
    "source_options",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

PAGE_SIZE: Final = 1000
"""Rows fetched per request when a command reads a whole list (the API's maximum)."""


def source_options(command: F) -> F:
    """Add ``--api-url`` and ``--database-url`` to a read command."""
    command = click.option(
        "--database-url",
        default=None,
        help="Read this store directly instead of the API (an admin read of every tenant).",
    )(command)
    return click.option(
        "--api-url",
        default=None,
        help="Root URL of the API [env: PROVLOG_API_URL; without it the store is read "
        "directly]. The token comes from PROVLOG_TOKEN.",
    )(command)


def open_client(api_url: str | None, database_url: str | None) -> ProvlogClient:
    """Return the client the options ask for (see the module docstring).

    Raises:
        CommandError: a setting or the database URL is unusable (bad usage).
        ProvlogError: the store cannot be opened (see :func:`exit_on_errors`).
    """
    from otel_provlog.cli.store_access import command_settings
    from otel_provlog.client import ProvlogClient

    settings = command_settings()
    if database_url is None and (api_url or settings.api_url):
        return ProvlogClient(api_url or settings.api_url, token=settings.token or "")
    # The in-process API logs a store that does not answer; the command says it once.
    logging.getLogger("otel_provlog.api").addHandler(logging.NullHandler())
    logging.getLogger("otel_provlog.api").propagate = False
    try:
        return ProvlogClient.offline(database_url or settings.database_url)
    except ValueError as error:
        raise CommandError(str(error), EXIT_BAD_USAGE) from None


@contextmanager
def exit_on_errors(not_found: str | None = None) -> Iterator[None]:
    """Turn the client's exceptions into one line and the contract's exit code.

    ``not_found`` words a 404 (the API's own message otherwise).
    """
    from otel_provlog.client import ApiError, NotFoundError, ProvlogError, UnreachableError

    try:
        yield
    except NotFoundError as error:
        raise CommandError(not_found or _api_text(error), EXIT_NOT_FOUND) from None
    except UnreachableError as error:
        raise CommandError(str(error), EXIT_UNREACHABLE) from None
    except ApiError as error:
        code = EXIT_BAD_USAGE if error.status == 400 else EXIT_FAILED
        raise CommandError(_api_text(error), code) from None
    except ProvlogError as error:
        raise CommandError(str(error), EXIT_FAILED) from None


def _api_text(error: Any) -> str:
    request = f" (request {error.request_id})" if error.request_id else ""
    return f"{error.error_message}{request}"


def first_rows(
    client: ProvlogClient,
    fetch: Callable[..., Page[T]],
    *args: Any,
    limit: int,
    **filters: Any,
) -> list[T]:
    """Return the first ``limit`` items (all when 0) of the list ``fetch`` reads, page by page.

    ``args`` and ``filters`` go to ``fetch`` (a :class:`ProvlogClient` list method); more
    items than ``limit`` are said on stderr.
    """
    items = client.iterate(fetch, *args, limit=min(limit or PAGE_SIZE, PAGE_SIZE), **filters)
    if limit == 0:
        return list(items)
    found = list(islice(items, limit + 1))
    if len(found) > limit:
        click.echo(f"showing the first {limit} rows; --limit 0 shows all", err=True)
    return found[:limit]


def no_cluster(cluster_id: str) -> str:
    """Return the message of a cluster that does not exist (or is another tenant's)."""
    return f"no cluster {cluster_id!r}"
