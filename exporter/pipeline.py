"""One call wires the store path: :func:`configure` (also ``otel_provlog.configure``).

>>> import otel_provlog
>>> store = otel_provlog.configure(database_url="sqlite:///provlog.db")  # doctest: +SKIP
>>> # ... provisioning code makes operation, step and event spans ...
>>> store.force_flush(timeout_millis=10_000)  # doctest: +SKIP
True
>>> store.shutdown()  # doctest: +SKIP

What :func:`configure` does:

1. reads the settings (``PROVLOG_*``, the ``PROVLOG_CONFIG`` file, or explicit arguments);
   when recording is off it attaches nothing and returns a no-op handle;
2. picks the tracer provider: the one passed as ``tracer_provider``; else the global one
   when it is an SDK provider; else a new SDK ``TracerProvider``, made global only when no
   global provider was set (otherwise it is left private: read it from the handle);
3. adds a :class:`~otel_provlog.exporter.processor.SpoolSpanProcessor`: every ended
   provisioning span is appended to the local spool (``PROVLOG_SPOOL_DIR``, by default
   ``~/.local/state/otel-provlog/spool/<hash of the database URL>``); the instrumented
   thread never waits for the database;
4. starts a drain that moves the spool into the store within a fraction of a second
   (:mod:`otel_provlog.exporter.drain`), first upgrading the schema unless
   ``upgrade=False``. ``drain="process"`` (the default) runs it as a separate process,
   ``python -m otel_provlog.exporter.drain``, so it does not compete with the program for
   the GIL; the database URL reaches it through its environment, not its command line. It
   finishes when this process shuts down or dies: it stores what is left and exits, or
   leaves it in the spool if the database stays down for ``linger`` seconds (60). If it
   dies while this process runs, another one is started. ``drain="thread"`` runs it in a
   daemon thread instead (simpler, but it competes for the GIL: about twice the cost per
   span); use it where ``sys.executable`` is no Python interpreter (uWSGI, mod_wsgi).
   ``drain="none"`` leaves draining to a ``provlog drain`` sidecar.

Every process configured with the same settings on a machine shares one spool, and one
drain at a time works on it (the others wait their turn), so N processes make one writer
to the database, not N.

Spans left in the spool by a process that died are stored by the next drain of the same
spool: one that outlived the crash, or the one the next :func:`configure` with the same
settings starts; that handle's ``force_flush()`` also waits for them.

``shutdown()`` is bounded (:data:`~otel_provlog.exporter.processor.DEFAULT_SHUTDOWN_TIMEOUT_MILLIS`,
5 s): it waits that long at most for the store, then leaves the rest in the spool. The
provider's own shutdown at exit does the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final, Literal

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_provlog.config import Settings, load_settings
from otel_provlog.exporter import spool
from otel_provlog.exporter.drain import DEFAULT_LINGER, Drain, DrainCounters
from otel_provlog.exporter.forwarding import ForwardingHandle, attach_forwarding
from otel_provlog.exporter.metrics import SelfObservation, observe
from otel_provlog.exporter.processor import (
    DEFAULT_FLUSH_TIMEOUT_MILLIS,
    DEFAULT_SHUTDOWN_TIMEOUT_MILLIS,
    Counters,
    SpoolSpanProcessor,
)

__all__ = ["DrainMode", "NoopStorePath", "StorePath", "configure"]

DrainMode = Literal["process", "thread", "none"]
"""Where the drain runs: a separate process, a thread of this one, or elsewhere."""

logger = logging.getLogger("otel_provlog.exporter")

_LINGERING: Final[set[subprocess.Popen[bytes]]] = set()
"""Drain processes finishing after their handle shut down (reaped on later calls)."""
_ACTIVE: Final[dict[tuple[int, Path], StorePath]] = {}
_ACTIVE_LOCK: Final = threading.Lock()


class _DrainThread:
    """A drain running in a daemon thread of this process."""

    def __init__(self, drain: Drain, linger: float) -> None:
        self._drain = drain
        self._finish = threading.Event()
        self._abort = threading.Event()
        self._thread = threading.Thread(
            target=drain.run,
            kwargs={"finish": self._finish, "abort": self._abort, "linger": linger},
            name="provlog-drain",
            daemon=True,
        )
        self._thread.start()

    def counters(self) -> DrainCounters:
        return self._drain.counters

    def stop(self, seconds: float) -> None:
        self._finish.set()
        self._thread.join(seconds)
        self._abort.set()


class _DrainProcess:
    """A drain running as a child process; it finishes once our end of its stdin closes.

    A drain process that dies while we still run (killed, crashed) is started again after
    a pause (1 s doubling to a minute); what it had not stored waits in the spool.
    """

    def __init__(self, settings: Settings, spool_dir: Path, *, upgrade: bool, linger: float):
        self._command = [
            sys.executable,
            "-P",  # the working directory must not shadow the installed package
            "-m",
            "otel_provlog.exporter.drain",
            "--spool-dir",
            str(spool_dir),
            "--watch-stdin",
            "--report",
            "--linger",
            str(linger),
            "--stale-after",
            str(settings.stale_after),
        ]
        if not upgrade:
            self._command.append("--no-upgrade")
        self._env = dict(os.environ, PROVLOG_DATABASE_URL=settings.database_url)
        self._env.pop("PROVLOG_SPOOL_DIR", None)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._earlier = DrainCounters()
        self._counters = DrainCounters()
        self._process = self._spawn()
        threading.Thread(target=self._watch, name="provlog-drain-watch", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self._env,
            close_fds=True,
        )

    def _watch(self) -> None:
        pause = 1.0
        while True:
            process = self._process
            started = time.monotonic()
            self._read_reports(process)
            code = process.wait()
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            if self._stopping.is_set():
                return
            pause = 1.0 if time.monotonic() - started > 60 else pause
            logger.warning(
                "otel_provlog: the drain process exited (%s); starting another in %.0f s",
                code,
                pause,
            )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, 60.0)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._process = self._spawn()
                except OSError:
                    logger.exception("otel_provlog: the drain process could not start")
                    return
                self._earlier = self.counters()
                self._counters = DrainCounters()

    def _read_reports(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stdout
        if stream is None:  # pragma: no cover - always a pipe
            return
        with contextlib.suppress(Exception), stream:
            for line in stream:
                with contextlib.suppress(ValueError, TypeError):
                    self._counters = DrainCounters(**json.loads(line))

    @property
    def pid(self) -> int:
        """The drain process's id."""
        return self._process.pid

    def counters(self) -> DrainCounters:
        now, earlier = self._counters, self._earlier
        return DrainCounters(
            written=earlier.written + now.written,
            duplicates=earlier.duplicates + now.duplicates,
            rejected=earlier.rejected + now.rejected,
            batches=earlier.batches + now.batches,
            retried=earlier.retried + now.retried,
        )

    def stop(self, seconds: float) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(min(seconds, 0.5))
        except subprocess.TimeoutExpired:
            _LINGERING.add(process)


def _reap() -> None:
    for process in list(_LINGERING):
        if process.poll() is not None:
            _LINGERING.discard(process)


class StorePath:
    """The handle :func:`configure` returns: flush, shut down and count the store path."""

    def __init__(
        self,
        settings: Settings,
        processor: SpoolSpanProcessor,
        tracer_provider: TracerProvider,
        *,
        owns_provider: bool,
        drain: _DrainThread | _DrainProcess | None,
        forwarding: ForwardingHandle | None = None,
    ) -> None:
        self.settings = settings
        """The settings in force."""
        self.processor = processor
        """The span processor added to the provider."""
        self.tracer_provider = tracer_provider
        """The provider the store path is attached to."""
        self.forwarding = forwarding
        """The OTLP forwarding path, when ``otlp_endpoint`` is set."""
        self.observation: SelfObservation | None = None
        """Its metrics and stats file (:mod:`otel_provlog.exporter.metrics`)."""
        self._owns_provider = owns_provider
        self._drain = drain

    @property
    def spool_dir(self) -> Path:
        """Where ended spans wait for the store."""
        return self.processor.writer.directory

    @property
    def drain_pid(self) -> int | None:
        """The id of the drain process (``drain="process"``), else None."""
        return self._drain.pid if isinstance(self._drain, _DrainProcess) else None

    def counters(self) -> Counters:
        """Return a snapshot of the counters (the drain's are those it last reported)."""
        drained = self._drain.counters() if self._drain is not None else DrainCounters()
        return Counters(
            appended=self.processor.writer.appended,
            written=drained.written,
            duplicates=drained.duplicates,
            rejected=drained.rejected,
            dropped=self.processor.dropped,
            retried=drained.retried,
            held=self.processor.held,
            dropped_kinds=dict(self.processor.dropped_kinds),
        )

    def force_flush(self, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
        """Wait until every span ended so far is stored; False when the time ran out.

        OTLP forwarding, when configured, is flushed too with the time left (best effort:
        the result tells about the store only).
        """
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000.0
        stored = self.processor.force_flush(timeout_millis)
        if self.forwarding is not None:
            left = int(max(deadline - time.monotonic(), 0.0) * 1000)
            try:
                self.forwarding.force_flush(left)
            except Exception:
                logger.exception("otel_provlog: OTLP forwarding failed to flush")
        return stored

    def shutdown(self, timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS) -> None:
        """Store what can be stored within ``timeout_millis``, then stop; never raises.

        Spans not stored in time stay in the spool for the next drain. A provider that
        :func:`configure` created is shut down too.
        """
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000.0
        self.processor.shutdown_timeout_millis = max(timeout_millis, 0)
        self.processor.shutdown()
        if self.forwarding is not None:
            try:
                self.forwarding.shutdown(max(deadline - time.monotonic(), 0.0) * 1000.0)
            except Exception:
                logger.exception("otel_provlog: OTLP forwarding failed to shut down")
        if self.observation is not None:
            self.observation.stop()
        if self._owns_provider:
            try:
                self.tracer_provider.shutdown()
            except Exception:
                logger.exception("otel_provlog: the tracer provider failed to shut down")
        with _ACTIVE_LOCK:
            for key, handle in list(_ACTIVE.items()):
                if handle is self:
                    del _ACTIVE[key]

    def _stop_drain(self, seconds: float) -> None:
        if self._drain is not None:
            self._drain.stop(seconds)
        _reap()


class NoopStorePath:
    """The handle :func:`configure` returns when recording is off: does nothing."""

    settings: Settings | None = None
    tracer_provider: trace.TracerProvider | None = None

    def counters(self) -> Counters:
        """Return zero counters."""
        return Counters()

    def force_flush(self, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
        """Return True: nothing to flush."""
        return True

    def shutdown(self, timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS) -> None:
        """Do nothing."""


def _pick_provider(given: trace.TracerProvider | None) -> tuple[TracerProvider, bool]:
    if given is not None:
        if not isinstance(given, TracerProvider):
            raise ValueError("tracer_provider must be an OpenTelemetry SDK TracerProvider")
        return given, False
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current, False
    provider = TracerProvider()
    if isinstance(current, trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    else:
        logger.warning(
            "otel_provlog: the global tracer provider is not the SDK's; "
            "spans go to the store only through the handle's tracer_provider"
        )
    return provider, True


def _start_drain(
    mode: DrainMode, settings: Settings, spool_dir: Path, *, upgrade: bool, linger: float
) -> _DrainThread | _DrainProcess | None:
    if mode == "none":
        return None
    if mode == "process":
        try:
            return _DrainProcess(settings, spool_dir, upgrade=upgrade, linger=linger)
        except OSError:
            logger.exception("otel_provlog: no drain process; draining in a thread instead")
    stale_after = settings.stale_after or None
    drain = Drain(spool_dir, settings.database_url, upgrade=upgrade, stale_after=stale_after)
    return _DrainThread(drain, linger)


def _attach_forwarding(provider: TracerProvider, settings: Settings) -> ForwardingHandle | None:
    try:
        return attach_forwarding(provider, settings)
    except (ImportError, ValueError):
        logger.exception("otel_provlog: OTLP forwarding is not attached")
        return None


def configure(
    settings: Settings | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    drain: DrainMode = "process",
    upgrade: bool = True,
    shutdown_timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS,
    linger: float = DEFAULT_LINGER,
    segment_bytes: int = spool.DEFAULT_SEGMENT_BYTES,
    **overrides: Any,
) -> StorePath | NoopStorePath:
    """Attach the store path to a tracer provider; see the module docstring.

    Calling it again for the same provider and spool returns the handle already attached
    (until that one is shut down). Never waits for the database: the schema upgrade and
    every write happen in the drain.

    Args:
        settings: the settings; loaded from ``PROVLOG_*`` (and ``PROVLOG_CONFIG``) when None.
        tracer_provider: the SDK provider to attach to (see the module docstring).
        drain: ``"process"``, ``"thread"`` or ``"none"``.
        upgrade: upgrade the store's schema before the first write.
        shutdown_timeout_millis: the bound of ``shutdown()``.
        linger: seconds a drain keeps retrying a failing database after shutdown.
        segment_bytes: size at which spool segments rotate.
        overrides: setting values (``database_url=...``, ``spool_dir=...``) beating the rest.

    Raises:
        ValueError: for unknown settings, unreadable values or a bad ``drain``.
    """
    if drain not in ("process", "thread", "none"):
        raise ValueError(f"drain must be 'process', 'thread' or 'none', got {drain!r}")
    if settings is None:
        settings = load_settings(**overrides)
    elif overrides:
        load_settings({}, **overrides)  # validates the names
        settings = dataclasses.replace(settings, **overrides)
    if not settings.enabled:
        logger.info("otel_provlog: recording is off; the store path is not attached")
        return NoopStorePath()
    settings = dataclasses.replace(
        settings, database_url=spool.absolute_database_url(settings.database_url)
    )
    _reap()
    provider, owns = _pick_provider(tracer_provider)
    spool_dir = spool.spool_dir_for(settings).absolute()
    key = (id(provider), spool_dir)
    with _ACTIVE_LOCK:
        existing = _ACTIVE.get(key)
        if existing is not None:
            return existing
        writer = spool.SpoolWriter(spool_dir, segment_bytes=segment_bytes)
        runner = _start_drain(drain, settings, spool_dir, upgrade=upgrade, linger=linger)
        processor = SpoolSpanProcessor(writer, shutdown_timeout_millis=shutdown_timeout_millis)
        handle = StorePath(settings, processor, provider, owns_provider=owns, drain=runner)
        processor.on_shutdown = handle._stop_drain
        provider.add_span_processor(processor)
        handle.forwarding = _attach_forwarding(provider, settings)
        handle.observation = observe(handle)
        _ACTIVE[key] = handle
    return handle
