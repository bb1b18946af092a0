"""The adapter observing itself: its span counts as OpenTelemetry metrics and in a stats file.

What a :func:`~otel_provlog.exporter.pipeline.configure` handle counts, read when asked:

- ``provlog.store.spans`` (observable counter, ``{span}``), by ``outcome``: ``appended``
  (put in the local spool), ``written`` (stored), ``duplicate`` (already stored),
  ``rejected`` (unusable, kept in ``rejected_spans``), ``dropped`` (lost before the spool),
  ``retried`` (written again after a failed attempt: a conflict, the database down);
- ``provlog.store.dropped`` (observable counter, ``{span}``): the dropped spans by ``kind``
  (``event``, ``step``, ``step.start``, ``operation``, ``operation.start``); when the
  spool's disk is full events go first;
- ``provlog.store.held`` (observable gauge, ``{span}``): step and operation spans waiting in
  memory for room in a full spool;
- ``provlog.forwarding.spans`` (observable counter, ``{span}``), by ``outcome``: ``queued``,
  ``sent``, ``failed`` (the receiver was down or refused), ``dropped`` (queue full, or left
  at shutdown), when OTLP forwarding is on;
- ``provlog.forwarding.queue`` (observable gauge, ``{span}``): spans waiting to be sent.

:func:`install_metrics` registers them on a meter provider (the global one by default:
nothing is recorded unless the program set up an SDK ``MeterProvider``)::

    from otel_provlog.exporter.metrics import install_metrics
    store = otel_provlog.configure()
    install_metrics(store)

For the command line, a :class:`StatsFileWriter` writes the same numbers every few seconds
to ``<pid>.stats.json`` in the stats directory next to the spool (:func:`stats_dir_for`),
where ``provlog stats`` reads them with :func:`read_stats_files`, next to what the store
holds (:func:`store_stats`). :func:`observe` does both for a handle; ``configure()`` calls it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace import SpanProcessor

__all__ = [
    "FORWARDING_OUTCOMES",
    "METER_NAME",
    "STATS_SUFFIX",
    "STORE_OUTCOMES",
    "SelfObservation",
    "StatsFileWriter",
    "install_metrics",
    "observe",
    "read_stats_files",
    "snapshot",
    "stats_dir_for",
    "store_stats",
]

logger = logging.getLogger(__name__)

METER_NAME: Final = "otel_provlog"
"""The instrumentation scope of the adapter's own metrics."""
STORE_OUTCOMES: Final = {
    "appended": "appended",
    "written": "written",
    "duplicates": "duplicate",
    "rejected": "rejected",
    "dropped": "dropped",
    "retried": "retried",
}
"""Counter field of the store path -> ``outcome`` attribute value."""
FORWARDING_OUTCOMES: Final = ("queued", "sent", "failed", "dropped")
"""``outcome`` values of ``provlog.forwarding.spans``."""
STATS_SUFFIX: Final = ".stats.json"
"""Suffix of the stats files in the spool directory."""


class _Counted(Protocol):
    def counters(self) -> Any: ...


def snapshot(handle: _Counted) -> dict[str, dict[str, int]]:
    """Return the handle's counts: ``{"store", "dropped", "forwarding"}`` (empty when off).

    ``store`` holds the outcomes and ``held``; ``dropped`` the dropped spans by kind.
    Never raises: a handle that cannot answer gives empty sections.
    """
    result: dict[str, dict[str, int]] = {"store": {}, "dropped": {}, "forwarding": {}}
    try:
        counters = handle.counters()
        for field in (*STORE_OUTCOMES, "held"):
            value = getattr(counters, field, None)
            if isinstance(value, int):
                result["store"][field] = value
        kinds = getattr(counters, "dropped_kinds", None) or {}
        result["dropped"] = {str(kind): int(count) for kind, count in sorted(kinds.items())}
        forwarding = getattr(handle, "forwarding", None)
        if forwarding is not None:
            counts = forwarding.counts()
            for field in (*FORWARDING_OUTCOMES, "pending"):
                result["forwarding"][field] = int(getattr(counts, field))
    except Exception:
        logger.exception("otel_provlog: could not read the pipeline's counters")
    return result


def install_metrics(
    handle: _Counted, *, meter_provider: metrics.MeterProvider | None = None
) -> list[Any]:
    """Register the adapter's observable instruments for ``handle``; return them.

    Args:
        handle: what :func:`otel_provlog.configure` returned.
        meter_provider: where to register (the global meter provider when None).
    """
    meter = metrics.get_meter(METER_NAME, meter_provider=meter_provider)

    def store_spans(_options: CallbackOptions) -> Iterable[Observation]:
        counts = snapshot(handle)["store"]
        return [
            Observation(value, {"outcome": STORE_OUTCOMES[field]})
            for field, value in counts.items()
            if field in STORE_OUTCOMES
        ]

    def dropped_spans(_options: CallbackOptions) -> Iterable[Observation]:
        counts = snapshot(handle)["dropped"]
        return [Observation(value, {"kind": kind}) for kind, value in counts.items()]

    def held(_options: CallbackOptions) -> Iterable[Observation]:
        counts = snapshot(handle)["store"]
        return [Observation(counts["held"])] if "held" in counts else []

    def forwarded_spans(_options: CallbackOptions) -> Iterable[Observation]:
        counts = snapshot(handle)["forwarding"]
        return [
            Observation(counts[field], {"outcome": field})
            for field in FORWARDING_OUTCOMES
            if field in counts
        ]

    def queue(_options: CallbackOptions) -> Iterable[Observation]:
        counts = snapshot(handle)["forwarding"]
        return [Observation(counts["pending"])] if "pending" in counts else []

    return [
        meter.create_observable_counter(
            "provlog.store.spans",
            [store_spans],
            unit="{span}",
            description="Provisioning spans on the store path, by outcome",
        ),
        meter.create_observable_counter(
            "provlog.store.dropped",
            [dropped_spans],
            unit="{span}",
            description="Provisioning spans lost before the spool, by span kind",
        ),
        meter.create_observable_gauge(
            "provlog.store.held",
            [held],
            unit="{span}",
            description="Step and operation spans waiting in memory for room in the spool",
        ),
        meter.create_observable_counter(
            "provlog.forwarding.spans",
            [forwarded_spans],
            unit="{span}",
            description="Provisioning spans on the OTLP forwarding path, by outcome",
        ),
        meter.create_observable_gauge(
            "provlog.forwarding.queue",
            [queue],
            unit="{span}",
            description="Provisioning spans waiting to be forwarded over OTLP",
        ),
    ]


class StatsFileWriter:
    """Writes the handle's :func:`snapshot` to ``<directory>/<pid>.stats.json`` periodically.

    The file is replaced atomically; :meth:`stop` writes it one last time.
    """

    def __init__(self, handle: _Counted, directory: Path, *, interval: float = 5.0) -> None:
        self._handle = handle
        self.path = Path(directory) / f"{os.getpid()}{STATS_SUFFIX}"
        """The file written."""
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="provlog-stats", daemon=True)

    def start(self) -> StatsFileWriter:
        """Start writing; return the writer."""
        self._thread.start()
        return self

    def write(self) -> None:
        """Write the current counts now; never raises."""
        body = {"pid": os.getpid(), "time": time.time(), **snapshot(self._handle)}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(body), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            logger.exception("otel_provlog: could not write %s", self.path)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.write()

    def stop(self) -> None:
        """Stop and write the final counts."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self._interval + 1)
        self.write()


def stats_dir_for(spool_dir: Path) -> Path:
    """Return where the processes using ``spool_dir`` write their stats: ``<spool_dir>.stats``."""
    spool_dir = Path(spool_dir)
    return spool_dir.with_name(spool_dir.name + ".stats")


class SelfObservation(SpanProcessor):
    """The metrics and the stats file of one handle; a span processor only to hear shutdown.

    Added to the handle's tracer provider, so that the provider's shutdown at exit writes
    the final counts too.
    """

    def __init__(self, handle: _Counted, spool_dir: Path, *, interval: float = 5.0) -> None:
        self.instruments = install_metrics(handle)
        """The observable instruments, on the global meter provider."""
        self.stats_file = StatsFileWriter(handle, stats_dir_for(spool_dir), interval=interval)
        """The writer of this process's stats file."""
        self._stopped = threading.Event()
        self.stats_file.start()

    def stop(self) -> None:
        """Write the final counts and stop writing; only the first call does anything."""
        if not self._stopped.is_set():
            self._stopped.set()
            self.stats_file.stop()

    def shutdown(self) -> None:
        """Stop when the tracer provider shuts down."""
        self.stop()


def observe(handle: Any) -> SelfObservation | None:
    """Start observing a ``configure()`` handle: metrics, stats file; never raises.

    Returns None when it could not start (the failure is logged).
    """
    try:
        observation = SelfObservation(handle, Path(handle.spool_dir))
        handle.tracer_provider.add_span_processor(observation)
    except Exception:
        logger.exception("otel_provlog: self-observation is not available")
        return None
    return observation


def read_stats_files(directory: Path) -> list[dict[str, Any]]:
    """Return the stats files of ``directory`` (newest first), each with ``alive`` added."""
    found: list[dict[str, Any]] = []
    with contextlib.suppress(FileNotFoundError):
        for path in Path(directory).glob(f"*{STATS_SUFFIX}"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
                continue
            data["alive"] = _alive(data["pid"])
            found.append(data)
    found.sort(key=lambda item: float(item.get("time") or 0), reverse=True)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def store_stats(session: Any) -> dict[str, int]:
    """Return what the store holds: clusters, steps, events, pruned steps, rejected spans."""
    from sqlalchemy import func, select

    from otel_provlog.exporter.models import Cluster, ClusterEvent, ProvisionStep, RejectedSpan

    def count(*where: Any, model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "clusters": count(model=Cluster),
        "steps": count(model=ProvisionStep),
        "events": count(model=ClusterEvent),
        "events_pruned_steps": count(
            ProvisionStep.events_pruned_at.is_not(None), model=ProvisionStep
        ),
        "rejected_spans": count(model=RejectedSpan),
    }
