"""Live: from an event's row being stored to an open page showing it.

``provlog serve`` serves a store seeded with one running operation of
``--viewer-instances`` instances, its second step running with half of them done
(:mod:`running`). A writer stores one more event of that step at a time
(every 0.1 to 0.6 s, through the store's write path, as the drain does) and notes when
each commit returned; a tenth of ``--viewers`` clients poll the cluster page as its script
does: every second after the last answer (half a second when the answer says a newer
page is rendering), with ``If-None-Match``, the live-update header and gzip. Each time a
client sees the step's progress reach a count it had not seen, the delay of every event up
to that count is its time since that event's commit. The figure is the p99 of those delays
over every client and event, for ``--seconds`` seconds; its min and max are the p99 of
each sixth of the run.
"""

from __future__ import annotations

import gzip
import http.client
import os
import random
import re
import signal
import statistics
import threading
import time
from typing import Final

import running
from context import Context
from report import Figure
from stores import StepRef, seed
from viewers import HEADERS, POLL_SECONDS, SOON_SECONDS, _free_port, _get, _p99, _serve

from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.writer import write_batch

NAME: Final = "live"
LIMIT_SECONDS: Final = 2.0
_PROGRESS: Final = re.compile(rb'class="progress-line">[^<]*? completed (\d+) out of')


def _writer(url: str, step: StepRef, first: int, until: float, stored: list[float]) -> None:
    """Store one event at a time; ``stored[k]`` is when the (k+1)-th new event committed."""
    engine = create_store_engine(url)
    factory = session_factory(engine)
    pace = random.Random(12)
    try:
        while time.monotonic() < until:
            write_batch(factory, running.event_records(step, first + len(stored), 1))
            stored.append(time.monotonic())
            time.sleep(pace.uniform(0.1, 0.6))
    finally:
        engine.dispose()


def _viewer(
    port: int,
    path: str,
    until: float,
    delay: float,
    first: int,
    stored: list[float],
    delays: list[tuple[float, float]],
) -> None:
    """Poll as the page's script does; record (commit time, delay) of each event it sees."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    etag = ""
    seen = 0
    time.sleep(delay)
    try:
        while time.monotonic() < until:
            asked = {**HEADERS, "If-None-Match": etag} if etag else HEADERS
            connection.request("GET", path, headers=asked)
            response = connection.getresponse()
            body = response.read()
            now = time.monotonic()
            if response.status == 200:
                etag = response.getheader("ETag") or ""
                if response.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                found = _PROGRESS.search(body)
                count = int(found.group(1)) - first if found else 0
                if seen == 0:
                    seen = count  # what was there when the page opened is not measured
                for k in range(seen, min(count, len(stored))):
                    delays.append((stored[k], now - stored[k]))
                seen = max(seen, count)
            wait = SOON_SECONDS if response.getheader("X-Provlog-Stale") == "1" else POLL_SECONDS
            time.sleep(max(0.0, wait - (time.monotonic() - now)))
    finally:
        connection.close()


def run(ctx: Context) -> list[Figure]:
    """Measure the delay from a stored row to the open pages showing it."""
    instances = ctx.sizes.viewer_instances
    url = ctx.databases.new("live")
    [first] = seed(url, "live", clusters=1, events=instances)
    done = instances // 2
    step = running.second_step(url, first, done=done)
    port = _free_port()
    server = _serve(url, port)
    path = f"/clusters/{step.cluster_id}"
    for _ in range(10):  # every worker has its engine and templates ready
        _get(port, path)
    stored: list[float] = []
    delays: list[tuple[float, float]] = []
    seconds = max(ctx.sizes.seconds, 6 * POLL_SECONDS)
    started = time.monotonic()
    until = started + seconds
    viewers = max(1, ctx.sizes.viewers // 10)
    threads = [
        threading.Thread(
            target=_viewer,
            args=(port, path, until + 3, n * POLL_SECONDS / viewers, done, stored, delays),
            daemon=True,
        )
        for n in range(viewers)
    ]
    threads.append(threading.Thread(target=_writer, args=(url, step, done, until, stored)))
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    sixth = seconds / 6
    windows = [
        _p99([d for at, d in delays if started + k * sixth <= at < started + (k + 1) * sixth])
        for k in range(6)
    ]
    every = [d for _, d in delays]
    note = (
        f"{len(stored):,} events stored one at a time, {viewers} viewers polling every "
        f"{POLL_SECONDS:g} s, {instances:,}-instance operation, {len(every):,} delays"
    )
    return [
        Figure(
            NAME,
            ctx.backend,
            "p99 row stored → shown on an open page",
            "s",
            [w for w in windows if w == w] or [float("nan")],
            "limit",
            [LIMIT_SECONDS],
            "≤ 2 s",
            lambda median, ratio: median <= LIMIT_SECONDS,
            note=note,
            value=_p99(every),
        ),
        Figure(
            NAME,
            ctx.backend,
            "p50 row stored → shown on an open page",
            "s",
            [statistics.median(every) if every else float("nan")],
        ),
    ]
