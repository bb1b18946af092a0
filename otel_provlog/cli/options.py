"""Options shared by the ``provlog`` commands, spelled once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from otel_provlog.config import parse_duration

__all__ = [
    "DURATION",
    "DurationType",
    "database_url_option",
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
else:
    _ParamTypeOfFloat = click.ParamType


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
