"""The web page at scale: a 10,000-instance operation's cluster page, its time and weight.

A store is seeded in bulk with one operation of ``--page-instances`` instances whose first
step ended (every 50th event failed, over three node groups) and whose second step runs
with half of its instances done: the page infers the other half are running in it, the
heavier of its step reads (:mod:`running`). Each round renders ``/clusters/<id>``
``--requests`` times through the Flask test client, in-process (each under a URL of its
own, so no rendered page is reused), so the figure is the application's and the
database's work (the server time). The application keeps the instances of earlier steps
while those steps do not change: as many renders, interleaved, read them again (as after
a change of theirs). The page's weight is its HTML as sent uncompressed, with its gzip
size beside it (what a browser receives from ``provlog serve``).
"""

from __future__ import annotations

import gzip
import itertools
import statistics
import time
from typing import Final

import running
from context import Context
from report import Figure
from stores import seed

from otel_provlog.api import create_app
from otel_provlog.config import Settings

NAME: Final = "page"
RENDER_LIMIT_MS: Final = 300.0
WEIGHT_LIMIT_KB: Final = 600.0


def run(ctx: Context) -> list[Figure]:
    """Measure the cluster page of a large operation on the context's backend."""
    instances = ctx.sizes.page_instances
    url = ctx.databases.new("page")
    [step] = seed(url, "page", clusters=1, events=instances)
    running.second_step(url, step, done=instances // 2)
    app = create_app(Settings(database_url=url, auth="none"))
    client = app.test_client()
    path = f"/clusters/{step.cluster_id}"
    times: list[float] = []
    cold_times: list[float] = []
    renders = itertools.count()
    size = zipped = 0
    try:
        for _ in range(3):  # warm up the caches of the database and the templates
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code}")
        memo = app.extensions["provlog_pages"]["earlier"]
        for _ in range(ctx.sizes.rounds):
            rendered, cold = [], []
            for _ in range(ctx.sizes.requests):
                for kept, into in ((True, rendered), (False, cold)):
                    if not kept:
                        memo.clear()  # as after a change of an earlier step
                    fresh = f"{path}?render={next(renders)}"  # a new URL: never a cached page
                    started = time.perf_counter()
                    response = client.get(fresh)
                    into.append((time.perf_counter() - started) * 1000)
            times.append(statistics.median(rendered))
            cold_times.append(statistics.median(cold))
            body = response.get_data()
            size, zipped = len(body), len(gzip.compress(body))
    finally:
        app.extensions["provlog"]["engine"].dispose()
    label = f"cluster page of a {instances:,}-instance operation"
    return [
        Figure(
            NAME,
            ctx.backend,
            f"{label}: server time",
            "ms",
            times,
            "limit",
            [RENDER_LIMIT_MS],
            "≤ 300 ms",
            lambda median, ratio: median <= RENDER_LIMIT_MS,
        ),
        Figure(
            NAME,
            ctx.backend,
            f"{label}: server time, earlier steps read again",
            "ms",
            cold_times,
            "limit",
            [RENDER_LIMIT_MS],
            "≤ 300 ms",
            lambda median, ratio: median <= RENDER_LIMIT_MS,
        ),
        Figure(
            NAME,
            ctx.backend,
            f"{label}: weight",
            "KB",
            [size / 1024],
            "limit",
            [WEIGHT_LIMIT_KB],
            "≤ 600 KB",
            lambda median, ratio: median <= WEIGHT_LIMIT_KB,
            note=f"{zipped / 1024:,.0f} KB gzipped",
        ),
    ]
