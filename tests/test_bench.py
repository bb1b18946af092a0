"""The benchmark suite's quick mode runs every benchmark to the end, so none rots.

It asserts no speed: the figures and their PASS/FAIL verdicts are the suite's business
(``python bench/run.py``); here the suite must finish and print every figure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"
PER_BACKEND = {
    "drain-rate": ("sqlite", "postgresql", "mariadb"),
    "freshness": ("sqlite", "postgresql"),
    "burst": ("sqlite", "postgresql", "mariadb"),
    "reads": ("sqlite", "postgresql", "mariadb"),
    "thread": ("sqlite", "postgresql", "mariadb"),
    "until-empty": ("sqlite", "postgresql", "mariadb"),
    "memory": ("sqlite", "postgresql", "mariadb"),
    "page": ("sqlite", "postgresql", "mariadb"),
    "viewers": ("sqlite", "postgresql", "mariadb"),
    "live": ("sqlite", "postgresql", "mariadb"),
}
VARIABLES = {"postgresql": "PROVLOG_TEST_POSTGRESQL_URL", "mariadb": "PROVLOG_TEST_MARIADB_URL"}


@pytest.mark.slow
def test_the_quick_suite_runs_every_benchmark_on_every_backend(tmp_path):
    """Every benchmark prints its figures on every configured backend, each with a value."""
    backends = ["sqlite", *(b for b, v in VARIABLES.items() if os.environ.get(v))]
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--backends",
            ",".join(backends),
            "--output",
            str(output),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.rsplit("\n\nbenchmark ", 1)[1]
    rows = [line.split() for line in summary.splitlines()[2:] if line.strip()]
    seen = {(row[0], row[1]) for row in rows if len(row) > 2}
    for benchmark, runs_on in PER_BACKEND.items():
        for backend in set(runs_on) & set(backends):
            assert (benchmark, backend) in seen, f"no {benchmark} figure on {backend}"
    assert ("switch-off", "any") in seen
    table = [line for line in output.read_text().splitlines() if line.startswith("| ")]
    assert len(table) >= 1 + 30
    for line in table[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert re.fullmatch(r"-?[\d,.]+(e[-+]\d+)?|inf", cells[3]), line  # every figure has a value
        assert cells[-1] in ("PASS", "FAIL", "—"), line
    page = output.read_text()
    for what in ("cores", "CPU", "memory", "Python", "SQLite", "SQLAlchemy", "OpenTelemetry SDK"):
        assert f"- {what}: " in page
    assert "python bench/run.py --quick" in page
