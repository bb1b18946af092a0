"""OTLP forwarding: the provisioning spans also go to Jaeger, Tempo or a Collector, lossily.

The store path keeps every span; this path is best effort and never slows it down nor the
instrumented code: :meth:`ForwardingSpanProcessor.on_end` only appends to a bounded queue
(a full queue drops the span and counts it), one worker thread exports batches with a short
timeout, and :meth:`~ForwardingSpanProcessor.force_flush` and
:meth:`~ForwardingSpanProcessor.shutdown` return within their timeouts even when the receiver
is down or never answers.

Which receiver, in order:

- ``PROVLOG_OTLP_ENDPOINT`` (:attr:`Settings.otlp_endpoint`); ``none``/``off``/``false``
  turns forwarding off whatever else is set. Over HTTP, an endpoint without a path gets
  ``/v1/traces``;
- else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is), else
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL);
- the protocol is ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (``grpc`` or ``http/protobuf``); unset, port 4317 means gRPC and anything else HTTP;
- the timeout is ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` or ``OTEL_EXPORTER_OTLP_TIMEOUT`` in
  seconds (as the Python exporters read them), :data:`DEFAULT_TIMEOUT_S` when unset, never
  more than :data:`MAX_TIMEOUT_S`. Headers, compression and certificates come from the
  standard ``OTEL_EXPORTER_OTLP_*`` variables, read by the OpenTelemetry exporters.

Only spans carrying ``provisioning.span`` are forwarded. Full tracebacks stay in SQL: spans
sent out keep ``provisioning.event.error_id`` and carry a bounded event info, status message
and exception stacktrace (:func:`bound_span`; Tempo truncates attributes over 2 KB). They
are named for trace viewers: an event after its instance, an operation with its cluster,
and a service without a name gets ``unknown_service:<program>``
(:mod:`~otel_provlog.exporter.span_display`; set ``OTEL_SERVICE_NAME`` to name the engine)::

    from opentelemetry.sdk.trace import TracerProvider
    from otel_provlog.config import load_settings
    from otel_provlog.exporter.forwarding import attach_forwarding

    provider = TracerProvider()
    handle = attach_forwarding(provider, load_settings(otlp_endpoint="http://tempo:4318"))
    ...
    handle.shutdown()          # at most DEFAULT_SHUTDOWN_TIMEOUT_S
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_provlog import attributes
from otel_provlog.config import FALSE_WORDS, Settings
from otel_provlog.exporter.span_bounds import (
    ATTRIBUTE_LIMIT,
    INFO_LIMIT,
    STACKTRACE_LIMIT,
    BoundedSpanExporter,
    bound_span,
)
from otel_provlog.exporter.span_display import DisplaySpanExporter

__all__ = [
    "ATTRIBUTE_LIMIT",
    "DEFAULT_SHUTDOWN_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "INFO_LIMIT",
    "MAX_TIMEOUT_S",
    "PROTOCOLS",
    "STACKTRACE_LIMIT",
    "BoundedSpanExporter",
    "ForwardingConfig",
    "ForwardingCounts",
    "ForwardingHandle",
    "ForwardingSpanProcessor",
    "attach_forwarding",
    "bound_span",
    "create_span_exporter",
    "forwarding_config",
]

logger = logging.getLogger(__name__)

PROTOCOLS: Final = ("grpc", "http/protobuf")
"""The OTLP protocols forwarding speaks."""
DEFAULT_TIMEOUT_S: Final = 2.0
"""Seconds one export may take, retries included, when no variable says otherwise."""
MAX_TIMEOUT_S: Final = 10.0
"""The longest export timeout forwarding accepts; longer settings are cut to it."""
DEFAULT_SHUTDOWN_TIMEOUT_S: Final = 3.0
"""Seconds :meth:`ForwardingSpanProcessor.shutdown` waits for the last export at most."""
_OFF: Final = FALSE_WORDS | {"none", "disabled"}
_GRPC_PORT: Final = 4317
_TRACES_PATH: Final = "/v1/traces"


@dataclass(frozen=True, slots=True)
class ForwardingConfig:
    """Where and how spans are forwarded: resolved once from settings and variables."""

    endpoint: str
    """The URL the exporter sends to (with ``/v1/traces`` over HTTP)."""
    protocol: str
    """One of :data:`PROTOCOLS`."""
    timeout_s: float
    """Seconds one export may take, retries included."""


def _seconds(environ: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = environ.get(name, "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}: expected seconds, got {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{name}: expected a positive number of seconds, got {raw!r}")
            return value
    return None


def _with_scheme(endpoint: str) -> str:
    return endpoint if "://" in endpoint else "http://" + endpoint


def forwarding_config(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    *,
    protocol: str | None = None,
    timeout_s: float | None = None,
) -> ForwardingConfig | None:
    """Resolve where spans are forwarded (see the module docstring), or None for nowhere.

    Explicit ``protocol`` and ``timeout_s`` beat the variables.

    Raises:
        ValueError: for an unknown protocol or an unreadable timeout, naming the variable.
    """
    env = os.environ if environ is None else environ
    base = True
    endpoint = (settings.otlp_endpoint or "").strip()
    if endpoint.lower() in _OFF:
        return None
    if not endpoint:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        base = not endpoint
        endpoint = endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not endpoint:
        return None
    endpoint = _with_scheme(endpoint)
    parts = urlsplit(endpoint)
    chosen = (
        protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or ("grpc" if parts.port == _GRPC_PORT else "http/protobuf")
    ).lower()
    if chosen not in PROTOCOLS:
        raise ValueError(
            f"OTLP protocol: expected one of {', '.join(PROTOCOLS)}, got {chosen!r}"
            " (http/json is not supported by the Python exporters)"
        )
    if chosen == "http/protobuf" and base and parts.path.rstrip("/") != _TRACES_PATH:
        endpoint = endpoint.rstrip("/") + _TRACES_PATH
    timeout = timeout_s or _seconds(
        env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    timeout = min(timeout or DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S)
    return ForwardingConfig(endpoint=endpoint, protocol=chosen, timeout_s=timeout)


def create_span_exporter(config: ForwardingConfig) -> SpanExporter:
    """Build the OpenTelemetry OTLP span exporter (gRPC or HTTP/protobuf) for ``config``.

    Raises:
        ImportError: when the exporter package is missing (``pip install otel-provlog[otlp]``).
    """
    module = (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"
        if config.protocol == "grpc"
        else "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    )
    try:
        exporter_module = importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"OTLP forwarding over {config.protocol} needs {module.rsplit('.', 1)[0]}: "
            "pip install 'otel-provlog[otlp]'"
        ) from error
    exporter: SpanExporter = exporter_module.OTLPSpanExporter(
        endpoint=config.endpoint, timeout=config.timeout_s
    )
    return exporter


@dataclass(frozen=True, slots=True)
class ForwardingCounts:
    """How many provisioning spans the forwarding path took, sent and lost, since it began."""

    queued: int = 0
    """Spans accepted into the queue."""
    sent: int = 0
    """Spans the receiver accepted."""
    failed: int = 0
    """Spans of batches the exporter gave up on (receiver down, timeout, refusal)."""
    dropped: int = 0
    """Spans never sent: the queue was full, or they were still queued at shutdown."""
    pending: int = 0
    """Spans waiting in the queue now."""

    @property
    def lost(self) -> int:
        """Spans that did not reach the receiver: ``failed + dropped``."""
        return self.failed + self.dropped


class _Flush(threading.Event):
    """One pending :meth:`ForwardingSpanProcessor.force_flush`, and how it went."""

    succeeded = False


class ForwardingSpanProcessor(SpanProcessor):
    """A lossy batch processor: bounded queue, one exporting thread, bounded flush and exit.

    Unlike the SDK's ``BatchSpanProcessor`` its :meth:`force_flush` honours the timeout (the
    export runs on the worker, never on the caller's thread) and every span it loses is
    counted (:meth:`counts`).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_millis: float = 1000.0,
        shutdown_timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_S * 1000,
    ) -> None:
        if max_queue_size <= 0 or max_export_batch_size <= 0 or schedule_delay_millis <= 0:
            raise ValueError("queue size, batch size and delay must be positive")
        self._exporter = exporter
        self._max_queue_size = max_queue_size
        self._batch_size = max_export_batch_size
        self._delay_s = schedule_delay_millis / 1000
        self._shutdown_timeout_millis = shutdown_timeout_millis
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_waiters: list[_Flush] = []
        self._stopping = False
        self._counts = {"queued": 0, "sent": 0, "failed": 0, "dropped": 0}
        self._worker = threading.Thread(
            target=self._run, name="provlog-otlp-forwarding", daemon=True
        )
        self._worker.start()

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a provisioning span for sending; drop and count it when the queue is full."""
        span_attributes = span.attributes
        if not span_attributes or attributes.SPAN_KIND not in span_attributes:
            return
        with self._lock:
            if self._stopping or len(self._queue) >= self._max_queue_size:
                self._counts["dropped"] += 1
                return
            self._queue.append(span)
            self._counts["queued"] += 1
            full = len(self._queue) >= self._batch_size
        if full:
            self._wake.set()

    def counts(self) -> ForwardingCounts:
        """Return the counters, read together."""
        with self._lock:
            return ForwardingCounts(**self._counts, pending=len(self._queue))

    def _take(self) -> list[ReadableSpan]:
        with self._lock:
            size = min(self._batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(size)]

    def _export(self, batch: list[ReadableSpan]) -> bool:
        token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            result = self._exporter.export(batch)
        except Exception:
            logger.exception("otel_provlog: OTLP forwarding failed, %d spans lost", len(batch))
            result = SpanExportResult.FAILURE
        finally:
            otel_context.detach(token)
        sent = result is SpanExportResult.SUCCESS
        with self._lock:
            self._counts["sent" if sent else "failed"] += len(batch)
        return sent

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            with self._lock:
                waiters, self._flush_waiters = self._flush_waiters, []
                stopping = self._stopping
            succeeded = True
            while batch := self._take():
                succeeded = self._export(batch)
                if not succeeded and (waiters or stopping):
                    break  # the receiver fails: a flush or an exit does not wait for more
                if not waiters and not stopping and len(self._queue) < self._batch_size:
                    break
            for waiter in waiters:
                waiter.succeeded = succeeded
                waiter.set()
            if stopping:
                return

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send what is queued; return whether it was sent within ``timeout_millis``.

        When an export fails (the receiver is down), the flush gives up at once: what is
        left stays queued for later.
        """
        waiter = _Flush()
        with self._lock:
            if self._stopping:
                return False
            self._flush_waiters.append(waiter)
        self._wake.set()
        return waiter.wait(max(timeout_millis, 0) / 1000) and waiter.succeeded

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Send what is queued within the timeout, then stop; what is left counts as dropped.

        Returns within about ``timeout_millis`` (:data:`DEFAULT_SHUTDOWN_TIMEOUT_S` when
        None) even when the receiver hangs: the exporter is shut down, which stops its
        retries, and the daemon worker is left to its export timeout.
        """
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._wake.set()
        timeout = self._shutdown_timeout_millis if timeout_millis is None else timeout_millis
        self._worker.join(max(timeout, 0) / 1000)
        with self._lock:
            self._counts["dropped"] += len(self._queue)
            self._queue.clear()
        try:
            self._exporter.shutdown()
        except Exception:
            logger.exception("otel_provlog: the OTLP exporter failed to shut down")


class ForwardingHandle:
    """The forwarding path attached to a tracer provider: its settings, counts and controls."""

    def __init__(self, config: ForwardingConfig, processor: ForwardingSpanProcessor) -> None:
        self.config = config
        """Where spans go."""
        self.processor = processor
        """The processor added to the tracer provider."""

    def counts(self) -> ForwardingCounts:
        """Return how many spans were queued, sent, failed and dropped."""
        return self.processor.counts()

    def force_flush(self, timeout_millis: int = 2000) -> bool:
        """Send what is queued; give up after ``timeout_millis``."""
        return self.processor.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Stop forwarding within ``timeout_millis`` (see the processor's ``shutdown``)."""
        self.processor.shutdown(timeout_millis)


def attach_forwarding(
    tracer_provider: TracerProvider,
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
    **processor_options: Any,
) -> ForwardingHandle | None:
    """Forward the provider's provisioning spans over OTLP when configured; else return None.

    Args:
        tracer_provider: the SDK provider to add the :class:`ForwardingSpanProcessor` to.
        settings: the settings (``otlp_endpoint``).
        environ: the variables to read (``os.environ`` when None).
        exporter: send with this exporter instead of building one (bounded all the same).
        processor_options: passed to :class:`ForwardingSpanProcessor` (queue and batch
            size, delay, shutdown timeout).

    Raises:
        ValueError: for an unreadable protocol or timeout; ImportError when the OTLP
        exporter package is missing.
    """
    config = forwarding_config(settings, environ)
    if config is None:
        return None
    inner = exporter if exporter is not None else create_span_exporter(config)
    shown = DisplaySpanExporter(inner)
    processor = ForwardingSpanProcessor(BoundedSpanExporter(shown), **processor_options)
    tracer_provider.add_span_processor(processor)
    logger.info(
        "otel_provlog: forwarding spans over OTLP/%s to %s", config.protocol, config.endpoint
    )
    return ForwardingHandle(config, processor)
