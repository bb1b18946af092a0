r"""How the read commands print: a table (rich), JSON, YAML or Markdown; durations; safe text.

Recorded text (messages, names) is shown as text, never as markup or terminal control:
control characters are written as ``\\xNN`` escapes and rich markup is not interpreted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from otel_provlog.client import Step

__all__ = [
    "FORMATS",
    "Column",
    "format_option",
    "render",
    "safe",
    "short_duration",
    "step_counts",
    "step_elapsed",
    "timestamp",
]

FORMATS: Final = ("table", "json", "yaml", "markdown")
"""The output formats of the read commands."""

format_option: Final = click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
"""``-f/--format table|json|yaml|markdown``."""

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(value: object, *, one_line: bool = False) -> str:
    r"""Return recorded text fit for a terminal: control characters escaped as ``\\xNN``."""
    if value is None:
        return ""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    return " ".join(text.split()) if one_line else text


def short_duration(seconds: float | None) -> str:
    """Return ``seconds`` as ``45s``, ``2m10s``, ``1h05m`` (empty when None)."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def timestamp(value: datetime | None) -> str:
    """Return a timestamp to the second, in UTC as the API gives it."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def step_counts(step: Step) -> str:
    """Return a step's ``"59/1000"`` (``"59/?"`` when its total is unknown)."""
    return f"{step.completed}/{step.total if step.total is not None else '?'}"


def step_elapsed(step: Step, now: datetime | None = None) -> float | None:
    """Return how long a step ran (so far, while it runs); None before it started."""
    if step.duration is not None:
        return step.duration
    begun = step.started_at or step.created_at
    if begun is None:
        return None
    end = step.completed_at or now or datetime.now(UTC)
    return max(0.0, (end - begun).total_seconds())


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table: its header and how to read its cell from a row."""

    header: str
    cell: Callable[[Any], object]
    justify: str = "left"


def _markdown(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    def cell(value: object) -> str:
        text = safe(value, one_line=True).replace("\\", "\\\\").replace("|", "\\|")
        return text.replace("<", "&lt;").replace(">", "&gt;")

    lines = [
        "| " + " | ".join(c.header for c in columns) + " |",
        "| " + " | ".join("---:" if c.justify == "right" else "---" for c in columns) + " |",
    ]
    lines += ["| " + " | ".join(cell(c.cell(row)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: Sequence[Any], columns: Sequence[Column], *, title: str | None = None) -> Any:
    """Return a rich table of ``rows`` (cells are plain text, never markup)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    found = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        found.add_column(column.header, justify=column.justify)  # type: ignore[arg-type]
    for row in rows:
        found.add_row(*(Text(safe(c.cell(row))) for c in columns))
    return found


def print_rich(*renderables: Any) -> None:
    """Print rich renderables to standard output."""
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a file or a pipe: no terminal width to wrap tables to
        console = Console(soft_wrap=False, width=200)
    for renderable in renderables:
        console.print(renderable)


def render(
    rows: Sequence[Any],
    columns: Sequence[Column],
    output_format: str,
    *,
    data: object,
    empty: str = "nothing found",
) -> None:
    """Print ``rows`` as a table or Markdown, or ``data`` as JSON or YAML."""
    from otel_provlog.client import to_json

    if output_format == "json":
        click.echo(json.dumps(to_json(data), indent=2))
    elif output_format == "yaml":
        import yaml

        click.echo(yaml.safe_dump(to_json(data), sort_keys=False, allow_unicode=True), nl=False)
    elif output_format == "markdown":
        click.echo(_markdown(rows, columns))
    elif not rows:
        click.echo(empty, err=True)
    else:
        print_rich(table(rows, columns))
