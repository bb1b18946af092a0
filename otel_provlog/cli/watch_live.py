"""The terminal view of ``provlog watch``: rich live progress bars, failures above them.

One row per step of the watched operation: a spinner or the outcome, the step's name, a
bar, ``completed/total``, the failed and running counts, the time it ran and the API's
estimate of the time left (counted down between reads). Planned steps that have not
started show dimmed below. Failures are printed above the bars as they appear; when the
operation ends the bars stay and a summary line follows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from otel_provlog.cli.output import safe, short_duration, step_counts, step_elapsed
from otel_provlog.cli.watch_views import (
    failure_line,
    operation_seconds,
    running_events,
    summary,
)

if TYPE_CHECKING:
    from otel_provlog.cli.watch import Outcome
    from otel_provlog.client import Cluster, Event, Step

__all__ = ["LiveView"]

_MARKS = {"successful": ("✓", "green"), "failed": ("✗", "red"), "interrupted": ("!", "yellow")}


class LiveView:
    """Progress bars that redraw in place on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console()
        self._live: Live | None = None
        self._found: Cluster | None = None
        self._steps: list[Step] = []
        self._read_at = time.monotonic()
        self._spinners: dict[str, Spinner] = {}

    def begin(self, found: Cluster) -> None:
        """Start the live display."""
        self._found = found
        self._read_at = time.monotonic()
        self._live = Live(
            console=self._console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def step_changed(self, step: Step, change: str) -> None:
        """Nothing to do: the bars show every change."""

    def failure(self, event: Event, step: Step) -> None:
        """Print a failed event above the bars."""
        self._console.print(Text(failure_line(event, step), style="red"))

    def refresh(self, found: Cluster, steps: list[Step]) -> None:
        """Take the newest state; the display redraws itself."""
        self._found, self._steps = found, steps
        self._read_at = time.monotonic()
        if self._live is not None:
            self._live.refresh()

    def warn(self, message: str) -> None:
        """Print a warning above the bars."""
        self._console.print(Text(f"warning: {message}", style="yellow"))

    def finish(self, found: Cluster, outcome: Outcome) -> None:
        """Stop the display (the bars stay) and print the summary line."""
        self._found = found
        self.close()
        seconds = operation_seconds(found, datetime.now(UTC))
        style = "green" if outcome.exit_code == 0 else "red"
        self._console.print(Text(summary(found, outcome, seconds), style=f"bold {style}"))

    def close(self) -> None:
        """Stop the live display."""
        if self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()

    def _mark(self, step: Step) -> Any:
        if step.running:
            return self._spinners.setdefault(step.id, Spinner("dots", style="cyan"))
        symbol, style = _MARKS.get(step.status, ("?", "white"))
        return Text(symbol, style=style)

    def _left(self, step: Step) -> str:
        if not step.running or step.seconds_left is None:
            return ""
        since = time.monotonic() - self._read_at
        return f"~{short_duration(max(0.0, step.seconds_left - since))} left"

    def _render(self) -> Any:
        found = self._found
        if found is None:
            return Text("")
        grid = Table.grid(padding=(0, 1))
        for justify in ("left", "left", "left", "right", "right", "right", "right", "right"):
            grid.add_column(justify=justify)
        now = datetime.now(UTC)
        for step in self._steps:
            total = step.total if step.total else None
            bar = ProgressBar(
                total=float(total) if total else None,
                completed=float(min(step.completed + step.failed, total or 0)),
                width=30,
                pulse=total is None and step.running,
            )
            failed = Text(f"{step.failed} failed", style="red") if step.failed else Text("")
            running = running_events(step)
            grid.add_row(
                self._mark(step),
                Text(safe(step.step_name, one_line=True)),
                bar,
                Text(step_counts(step)),
                failed,
                Text(f"{running} running") if running else Text(""),
                Text(short_duration(step_elapsed(step, now))),
                Text(self._left(step), style="dim"),
            )
        seen = {step.step_name for step in self._steps}
        operation = found.operation
        for name in (operation.plan or ()) if operation else ():
            if name not in seen:
                grid.add_row(
                    Text("·", style="dim"),
                    Text(safe(name), style="dim"),
                    Text("pending", style="dim"),
                )
        return Group(Text(self._header(found), style="bold"), grid)

    def _header(self, found: Cluster) -> str:
        operation = found.operation
        name = f" ({safe(found.name, one_line=True)})" if found.name else ""
        head = f"cluster {safe(found.id, one_line=True)}{name}"
        if operation is None:
            return f"{head}: {found.status}"
        text = f"{head}: {operation.step_type} {operation.status}"
        if operation.running and operation.seconds_left is not None:
            since = time.monotonic() - self._read_at
            text += f", ~{short_duration(max(0.0, operation.seconds_left - since))} left"
        return text
