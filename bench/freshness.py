"""Target 2, freshness: how long after its span ended an event is visible through the API.

A producer thread makes ``--rate`` events per second for ``--seconds`` seconds through the
store path (``configure(drain="process")``: the real span processor, spool and drain
process) into the store holding ``--events`` events in one trace; the new step joins that
trace. Meanwhile the main thread reads the step's ``completed`` count with the cluster GET
(Flask test client, the API's own code) every 20 ms: the drain stores the spool in order,
so a count of ``k`` means the first ``k`` events are visible. Each event's latency is the
time of the first read that showed it minus its span's end. The figure is the p99 over all
events (an event never seen counts as infinitely late); min and max are the p99 of each
sixth of the run.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Final

from context import Context
from producer import close, store_path
from report import Figure
from spans import event_attributes, parent_context, step_attributes
from stores import OPERATION_SPAN, TENANT

from otel_provlog.api import create_app
from otel_provlog.config import Settings
from otel_provlog.exporter.models import span_row_id

NAME: Final = "freshness"
BACKENDS: Final = ("sqlite", "postgresql")
POLL: Final = 0.02
LIMIT: Final = 1.0


def _p(values: list[float], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def run(ctx: Context) -> list[Figure]:
    """Measure target 2 on the context's backend."""
    url, seeded = ctx.one_trace()
    rate, seconds = ctx.sizes.rate, ctx.sizes.seconds
    total = int(rate * seconds)
    provider, handle = store_path(url, ctx.folder("spool"))
    tracer = provider.get_tracer("bench")
    ends: list[float] = []
    step_ids: list[str] = []
    ready = threading.Event()

    def produce() -> None:
        parent = parent_context(seeded.trace_id, OPERATION_SPAN)
        attributes = step_attributes(seeded.cluster_id, total)
        with tracer.start_as_current_span(
            "Launching", context=parent, attributes=attributes
        ) as step:
            step_ids.append(span_row_id(seeded.trace_id, f"{step.get_span_context().span_id:016x}"))
            ready.set()
            started = time.perf_counter()
            for n in range(total):
                if n % 10 == 0:
                    ahead = started + n / rate - time.perf_counter()
                    if ahead > 0:
                        time.sleep(ahead)
                with tracer.start_as_current_span(
                    "instance event", attributes=event_attributes(seeded.cluster_id, n)
                ):
                    pass
                ends.append(time.time())

    app = create_app(Settings(database_url=url, auth="none"))
    client = app.test_client()
    path = f"/v1.1/{TENANT}/clusters/{seeded.cluster_id}"
    latencies: list[float] = []
    visible_at: list[tuple[float, float]] = []  # (span end, latency)
    producer = threading.Thread(target=produce, name="bench-producer")
    producer.start()
    ready.wait()
    seen = 0
    give_up = time.time() + seconds + 30
    try:
        while seen < total and time.time() < give_up:
            time.sleep(POLL)
            body = client.get(path).get_json()
            now = time.time()
            completed = next(
                (
                    s["completed"]
                    for s in body["cluster"]["provisioning_progress"]
                    if s["id"] == step_ids[0]
                ),
                0,
            )
            upto = min(completed, len(ends))
            for k in range(seen, upto):
                latencies.append(now - ends[k])
                visible_at.append((ends[k], now - ends[k]))
            seen = max(seen, upto)
    finally:
        producer.join()
        app.extensions["provlog"]["engine"].dispose()
        close(provider, handle)
    lost = total - len(latencies)
    all_latencies = latencies + [math.inf] * lost
    windows: list[float] = []
    if ends:
        width = (ends[-1] - ends[0]) / 6 or 1.0
        for w in range(6):
            low = ends[0] + w * width
            part = [
                lat
                for end, lat in visible_at
                if low <= end < low + width or (w == 5 and end >= low)
            ]
            windows.append(_p(part, 0.99))
    note = f"{rate:,}/s for {seconds:g} s, {total:,} events"
    if lost:
        note += f", {lost:,} not visible within 30 s"
    return [
        Figure(
            NAME,
            ctx.backend,
            f"p99 span end → visible, store of {ctx.sizes.events:,} events",
            "s",
            windows,
            "limit",
            [LIMIT],
            "≤ 1 s",
            lambda median, ratio: median <= LIMIT,
            note=note,
            value=_p(all_latencies, 0.99),
        ),
        Figure(
            NAME,
            ctx.backend,
            "p50 span end → visible",
            "s",
            [_p(all_latencies, 0.5)],
        ),
    ]
