"""Options shared by the ``provlog`` commands, spelled once."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click

__all__ = ["database_url_option", "output_format_option", "spool_dir_option"]

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
