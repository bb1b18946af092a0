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
   ``provlog drain`` (:mod:`otel_provlog.exporter.drain_runners`), so it does not compete
   with the program for the GIL; the database URL reaches it through its environment,
   not its command line. It finishes when this process shuts down or dies: it stores what
   is left and exits, or
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

import dataclasses
import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Final, Literal

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_provlog.config import Settings, load_settings
from otel_provlog.exporter import spool
from otel_provlog.exporter.drain import DEFAULT_LINGER, Drain
from otel_provlog.exporter.drain_runners import DrainProcess, DrainRunner, DrainThread
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


class _Attached:
    """The handles attached so far, per tracer provider and spool (until shut down).

    Keyed weakly by the provider, so a provider that is gone takes its entries along.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._handles: weakref.WeakKeyDictionary[TracerProvider, dict[Path, StorePath]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, provider: TracerProvider, spool_dir: Path) -> StorePath | None:
        """Return the handle attached to ``provider`` for ``spool_dir``, if any."""
        return self._handles.get(provider, {}).get(spool_dir)

    def add(self, provider: TracerProvider, handle: StorePath) -> None:
        """Remember ``handle`` as ``provider``'s for its spool."""
        self._handles.setdefault(provider, {})[handle.spool_dir] = handle

    def remove(self, handle: StorePath) -> None:
        """Forget ``handle``."""
        with self.lock:
            found = self._handles.get(handle.tracer_provider, {})
            if found.get(handle.spool_dir) is handle:
                del found[handle.spool_dir]


_ATTACHED: Final = _Attached()


class StorePath:
    """The handle :func:`configure` returns: flush, shut down and count the store path."""

    def __init__(
        self,
        settings: Settings,
        processor: SpoolSpanProcessor,
        tracer_provider: TracerProvider,
        *,
        owns_provider: bool,
        drain: DrainRunner | None,
        forwarding: ForwardingHandle | None,
    ) -> None:
        self.settings = settings
        """The settings in force."""
        self.processor = processor
        """The span processor added to the provider."""
        self.tracer_provider = tracer_provider
        """The provider the store path is attached to."""
        self.forwarding = forwarding
        """The OTLP forwarding path, when ``otlp_endpoint`` is set."""
        self._owns_provider = owns_provider
        self._drain = drain
        self.observation: SelfObservation | None = observe(self)
        """Its metrics and stats file (:mod:`otel_provlog.exporter.metrics`)."""

    @property
    def spool_dir(self) -> Path:
        """Where ended spans wait for the store."""
        return self.processor.writer.directory

    @property
    def drain_pid(self) -> int | None:
        """The id of the drain process (``drain="process"``), else None."""
        return self._drain.pid if self._drain is not None else None

    def counters(self) -> Counters:
        """Return a snapshot of the counters (the drain's are those it last reported)."""
        drained = self._drain.counters() if self._drain is not None else Counters()
        return drained.plus(
            Counters(
                appended=self.processor.writer.appended,
                dropped=self.processor.dropped,
                held=self.processor.held,
                dropped_kinds=dict(self.processor.dropped_kinds),
            )
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
        _ATTACHED.remove(self)


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
) -> DrainRunner | None:
    if mode == "none":
        return None
    if mode == "process":
        try:
            return DrainProcess(settings, spool_dir, upgrade=upgrade, linger=linger)
        except OSError:
            logger.exception("otel_provlog: no drain process; draining in a thread instead")
    stale_after = settings.stale_after or None
    drain = Drain(spool_dir, settings.database_url, upgrade=upgrade, stale_after=stale_after)
    return DrainThread(drain, linger)


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
    provider, owns = _pick_provider(tracer_provider)
    spool_dir = spool.spool_dir_for(settings).absolute()
    with _ATTACHED.lock:
        existing = _ATTACHED.get(provider, spool_dir)
        if existing is not None:
            return existing
        writer = spool.SpoolWriter(spool_dir, segment_bytes=segment_bytes)
        runner = _start_drain(drain, settings, spool_dir, upgrade=upgrade, linger=linger)
        processor = SpoolSpanProcessor(
            writer,
            shutdown_timeout_millis=shutdown_timeout_millis,
            on_shutdown=runner.stop if runner is not None else None,
        )
        provider.add_span_processor(processor)
        handle = StorePath(
            settings,
            processor,
            provider,
            owns_provider=owns,
            drain=runner,
            forwarding=_attach_forwarding(provider, settings),
        )
        _ATTACHED.add(provider, handle)
    return handle
