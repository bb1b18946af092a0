"""Options shared by the ``provlog`` commands, spelled once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from otel_provlog.config import parse_duration

__all__ = [
    "DURATION",
    "SINCE",
    "DurationType",
    "SinceType",
    "database_url_option",
    "limit_option",
    "output_format_option",
    "spool_dir_option",
]

database_url_option: Final = click.option(
    "--database-url",
    envvar="PROVLOG_DATABASE_URL",
    default=None,
    help="SQLAlchemy URL of the store [env: PROVLOG_DATABASE_URL; default sqlite:///provlog.db]",
)
"""``--database-url``: the store, from ``PROVLOG_DATABASE_URL`` when not given."""

spool_dir_option: Final = click.option(
    "--spool-dir",
    envvar="PROVLOG_SPOOL_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The spool of the instrumented processes [env: PROVLOG_SPOOL_DIR; default: derived "
    "from the database URL]",
)
"""``--spool-dir``: the spool, from ``PROVLOG_SPOOL_DIR`` or derived from the store's URL."""

output_format_option: Final = click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
"""``-f/--format table|json``."""


if TYPE_CHECKING:  # click is generic in its value type from 8.5 on
    _ParamTypeOfFloat = click.ParamType[float]
    _ParamTypeOfTime = click.ParamType[datetime]
else:
    _ParamTypeOfFloat = _ParamTypeOfTime = click.ParamType


class DurationType(_ParamTypeOfFloat):
    """A duration such as ``90s``, ``30m``, ``24h`` or ``7d``, converted to seconds."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Return the duration in seconds, or fail with the reason."""
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value), name=param.opts[0] if param else "duration")
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION: Final = DurationType()
"""The click type of duration options."""


class SinceType(_ParamTypeOfTime):
    """A point in time: a duration back from now (``10m``, ``2h``) or an ISO 8601 time."""

    name = "since"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """Return the point in time, in UTC (a time without an offset is UTC)."""
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            return datetime.now(UTC) - timedelta(seconds=parse_duration(text, name="--since"))
        except ValueError:
            pass
        try:
            found = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither a duration (10m, 2h) nor an ISO 8601 time")
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


SINCE: Final = SinceType()
"""The click type of ``--since`` options."""


def limit_option(default: int) -> Callable[[Any], Any]:
    """Return ``--limit N``: rows to show at most, 0 for all."""
    return click.option(
        "--limit",
        type=click.IntRange(0),
        default=default,
        show_default=True,
        help="Rows to show at most (0: all).",
    )
