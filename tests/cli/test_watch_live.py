"""``provlog watch`` on a real pseudo-terminal, read through a terminal emulator (pyte)."""

from __future__ import annotations

import os
import re
import sys
import time

import pexpect
import pyte
import pytest

from otel_provlog.cli.demo_simulation import CREATING_STEPS
from tests.cli.provisioning import simulate, wait_until_running
from tests.served_api import ServedApi, output_once_ended

pytestmark = pytest.mark.database

COLUMNS, LINES = 150, 40
PROVLOG = ["-c", "from otel_provlog.cli import main; main()"]
BAR = re.compile(r"^(.\s)?(?P<name>[A-Z][\w ]+?)\s+[━╸╺╾\s]+\s(?P<done>\d+)/(?P<total>\d+)\b")


def test_live_bars_move_and_failures_appear_above_them(database_url, tmp_path):
    """While a provisioning runs the bars advance, failures print above, the exit code is 1."""
    simulation = simulate(
        database_url, "c-tty", tmp_path, instances=30, speed=0.6, failure_rate=0.15
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLOG_")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.Stream(screen)
    seen: dict[str, set[int]] = {}
    failure_above_bars = False
    served = ServedApi({"PROVLOG_DATABASE_URL": database_url}, workers=1, cwd=tmp_path)
    try:
        with served as api:
            wait_until_running(database_url, "c-tty")
            child = pexpect.spawn(
                sys.executable,
                [*PROVLOG, "watch", "c-tty", "--api-url", api.url, "--interval", "0.3"],
                env=env,
                dimensions=(LINES, COLUMNS),
                encoding="utf-8",
                cwd=str(tmp_path),
            )
            deadline = time.monotonic() + 120
            while True:
                assert time.monotonic() < deadline, "\n".join(screen.display)
                try:
                    stream.feed(child.read_nonblocking(65536, timeout=0.2))
                except pexpect.TIMEOUT:
                    continue
                except pexpect.EOF:
                    break
                rows = [row.rstrip() for row in screen.display]
                header = next(
                    (i for i, r in enumerate(rows) if r.startswith("cluster c-tty")), None
                )
                for row in rows:
                    match = BAR.match(row)
                    if match:
                        seen.setdefault(match["name"], set()).add(int(match["done"]))
                failures = [i for i, r in enumerate(rows) if r.startswith("failure: ")]
                if header is not None and failures and max(failures) < header:
                    failure_above_bars = True
            child.close()
    finally:
        output_once_ended(simulation, 120)
    final = [row.rstrip() for row in screen.display if row.strip()]
    assert child.exitstatus == 1, "\n".join(final)
    assert failure_above_bars, "\n".join(final)
    moving = [name for name, counts in seen.items() if len(counts) > 1]
    assert moving, seen  # at least one bar was seen at two different counts
    assert set(seen) <= set(CREATING_STEPS)
    assert any("is not accessible over SSH" in row for row in final)
    assert re.match(
        r"creating cluster c-tty \(demo-hadoop\) finished with failed steps in \d+s: 7 steps",
        final[-1],
    )
    assert not any("Traceback" in row for row in final)
