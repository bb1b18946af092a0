"""Many viewers of one running cluster's page on ``provlog serve``: the update request's p99.

``provlog serve`` (gunicorn, its default workers) serves a store seeded with one running
operation of ``--viewer-instances`` instances, its second step running with half of them
done (:mod:`running`). While a writer stores 50 more events of that step every half second
(the next running instances finishing, so the page keeps changing), ``--viewers`` clients
poll the page as its script does: every second (half a second when the answer says a
newer page is rendering), with ``If-None-Match`` and the script's live-update header,
accepting gzip (a 304 when nothing changed, the new page otherwise), for ``--seconds``
seconds. The figure is the p99 of those requests' latency; its min and max are the p99 of
each sixth of the run. With more than 1,000 instances a 1,000-instance cluster is
measured too.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Final

import running
from context import Context
from report import Figure
from stores import StepRef, seed

from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.writer import write_batch

NAME: Final = "viewers"
LIMIT_MS: Final = 200.0
POLL_SECONDS: Final = 1.0
"""The page script's interval (``INTERVAL`` in ``api/static/provlog.js``)."""
SOON_SECONDS: Final = 0.5
"""The script asks again this soon when the answer says a newer page is rendering."""
HEADERS: Final = {"Accept-Encoding": "gzip, deflate", "X-Provlog-Live": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROVLOG_DATABASE_URL": url, "PROVLOG_AUTH": "none"}
    command = [sys.executable, "-m", "otel_provlog.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("provlog serve did not start within 60 s")


def _viewer(
    port: int,
    path: str,
    until: float,
    delay: float,
    latencies: list[tuple[float, float]],
    pages: list[float],
) -> None:
    """Poll ``path`` as the page's script does until ``until``; record (time, latency).

    ``pages`` gets the time of each answer that was a new page (not a 304).

    It opens the page ``delay`` seconds in (viewers do not all open it at once).
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    etag = ""
    time.sleep(delay)
    try:
        while time.monotonic() < until:
            started = time.monotonic()
            asked = {**HEADERS, "If-None-Match": etag} if etag else HEADERS
            connection.request("GET", path, headers=asked)
            response = connection.getresponse()
            response.read()
            took = time.monotonic() - started
            latencies.append((started, took * 1000))
            if response.status == 200:
                pages.append(started)
                etag = response.getheader("ETag") or ""
            wait = SOON_SECONDS if response.getheader("X-Provlog-Stale") == "1" else POLL_SECONDS
            time.sleep(max(0.0, wait - took))
    finally:
        connection.close()


def _get(port: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
    finally:
        connection.close()


def _writer(url: str, step: StepRef, first: int, until: float) -> None:
    """Store 50 new events of the step every half second, from instance ``first`` on."""
    engine = create_store_engine(url)
    factory = session_factory(engine)
    try:
        while time.monotonic() < until:
            write_batch(factory, running.event_records(step, first, 50))
            first += 50
            time.sleep(0.5)
    finally:
        engine.dispose()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def run(ctx: Context) -> list[Figure]:
    """Measure the page's update requests under many viewers on the context's backend."""
    instances = ctx.sizes.viewer_instances
    sizes = [1_000, instances] if instances > 1_000 else [instances]
    return [figure for size in sizes for figure in _measure(ctx, size)]


def _measure(ctx: Context, instances: int) -> list[Figure]:
    url = ctx.databases.new("viewers")
    [first] = seed(url, "view", clusters=1, events=instances)
    step = running.second_step(url, first, done=instances // 2)
    port = _free_port()
    server = _serve(url, port)
    path = f"/clusters/{step.cluster_id}"
    for _ in range(20):  # every worker has its engine and templates ready
        _get(port, path)
    latencies: list[tuple[float, float]] = []
    pages: list[float] = []
    seconds = max(ctx.sizes.seconds, 3 * POLL_SECONDS)
    until = time.monotonic() + seconds
    spread = POLL_SECONDS / ctx.sizes.viewers
    threads = [
        threading.Thread(
            target=_viewer, args=(port, path, until, n * spread, latencies, pages), daemon=True
        )
        for n in range(ctx.sizes.viewers)
    ]
    threads.append(threading.Thread(target=_writer, args=(url, step, instances // 2, until)))
    started = time.monotonic()
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
        _p99(
            [
                took
                for at, took in latencies
                if started + k * sixth <= at < started + (k + 1) * sixth
            ]
        )
        for k in range(6)
    ]
    every = [took for _, took in latencies]
    note = (
        f"{ctx.sizes.viewers} viewers for {seconds:g} s, {len(every):,} requests, "
        f"{len(pages):,} of them new pages"
    )
    return [
        Figure(
            NAME,
            ctx.backend,
            f"page update request p99, {instances:,}-instance operation",
            "ms",
            [w for w in windows if w == w] or [float("nan")],
            "limit",
            [LIMIT_MS],
            "≤ 200 ms",
            lambda median, ratio: median <= LIMIT_MS,
            note=note,
            value=_p99(every),
        ),
        Figure(
            NAME,
            ctx.backend,
            f"page update request median, {instances:,} instances",
            "ms",
            [statistics.median(every)],
        ),
    ]
