"""Figures, their verdicts, the printed table and ``docs/benchmarks.md``."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text


@dataclass
class Figure:
    """One measured figure: its value per round, what it is compared with, and its target.

    ``samples`` holds one value per round (rounds interleave the figure with its baseline).
    ``baseline`` is either another figure's samples (``baseline_samples``) or a fixed limit
    (``limit``); ``check`` decides PASS or FAIL from the medians (None: no target).
    """

    benchmark: str
    backend: str
    name: str
    unit: str
    samples: list[float]
    baseline_name: str = ""
    baseline_samples: list[float] = field(default_factory=list)
    target: str = ""
    check: Callable[[float, float | None], bool] | None = None
    note: str = ""
    value: float | None = None
    """The figure when it is not the median of the samples (e.g. a p99 over all events)."""

    @property
    def median(self) -> float:
        if self.value is not None:
            return self.value
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def baseline(self) -> float | None:
        return statistics.median(self.baseline_samples) if self.baseline_samples else None

    @property
    def ratio(self) -> float | None:
        base = self.baseline
        if base is None or base == 0:
            return None
        return self.median / base

    @property
    def verdict(self) -> str:
        if self.check is None:
            return ""
        if not self.samples:
            return "FAIL"
        return "PASS" if self.check(self.median, self.ratio) else "FAIL"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if value != value:  # NaN
        return "nan"
    if value == float("inf"):
        return "inf"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


HEADER = (
    "benchmark",
    "backend",
    "figure",
    "median",
    "min",
    "max",
    "unit",
    "baseline",
    "baseline median",
    "ratio",
    "target",
    "result",
)


def rows(figures: Sequence[Figure]) -> list[tuple[str, ...]]:
    """Return the table rows of the figures."""
    out: list[tuple[str, ...]] = []
    for f in figures:
        ratio = f.ratio
        name = f.name + (f" ({f.note})" if f.note else "")
        out.append(
            (
                f.benchmark,
                f.backend,
                name,
                _number(f.median),
                _number(min(f.samples)) if f.samples else "—",
                _number(max(f.samples)) if f.samples else "—",
                f.unit,
                f.baseline_name or "—",
                _number(f.baseline),
                "—" if ratio is None else f"{ratio:.2f}x",
                f.target or "—",
                f.verdict or "—",
            )
        )
    return out


def print_table(figures: Sequence[Figure]) -> None:
    """Print the figures as an aligned text table."""
    table = [HEADER, *rows(figures)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), flush=True)
        if n == 0:
            print("  ".join("-" * w for w in widths), flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _server_version(url: str | None) -> str:
    if not url:
        return "not measured"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT version()")).scalar_one())
    except Exception as error:  # a report line, not a failure of the run
        return f"unknown ({type(error).__name__})"
    finally:
        engine.dispose()


def machine(server_urls: dict[str, str | None]) -> list[tuple[str, str]]:
    """Return what the figures were measured on: machine and versions."""
    return [
        ("cores", str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("memory", _memory()),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", _server_version(server_urls.get("postgresql"))),
        ("MariaDB", _server_version(server_urls.get("mariadb"))),
        ("SQLAlchemy", importlib.metadata.version("sqlalchemy")),
        ("OpenTelemetry SDK", importlib.metadata.version("opentelemetry-sdk")),
    ]


def write_markdown(
    path: Path,
    figures: Sequence[Figure],
    *,
    about: Sequence[tuple[str, str]],
    command: str,
    date: str,
    sizes: Sequence[tuple[str, str]],
    elapsed: float,
    quick: bool,
) -> None:
    """Write the figures and what they were measured on as a Markdown page."""

    def cell(value: str) -> str:
        return value.replace("|", "\\|")

    lines = [
        "# Benchmarks",
        "",
        "Written by `python bench/run.py` (see the README's *Benchmarks* section); the last",
        "run's figures follow. Each figure is the median over interleaved rounds (the figure",
        "and its baseline alternate within the same run), with the smallest and largest round.",
        "A shared machine makes them noisy: read them as directions, and compare ratios",
        "measured in the same run rather than figures of different runs. Freshness is one",
        "run (its min and max are the p99 of each sixth of it); `drain --until-empty` and",
        "memory are measured once.",
        "",
        *(
            [
                "**This is a quick run** (`--quick`: small sizes, so that no benchmark rots):",
                "its verdicts say little about the targets, which are set for the full sizes.",
                "",
            ]
            if quick
            else []
        ),
        f"- date: {date}",
        f"- command: `{command}`",
        f"- took: {elapsed:.0f} s",
        *(f"- {name}: {value}" for name, value in about),
        "",
        "Sizes of this run:",
        "",
        *(f"- {name}: {value}" for name, value in sizes),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows(figures)),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
