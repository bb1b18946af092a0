"""The one place that picks the tracer to record with, or none at all.

Every entry point of :mod:`otel_provlog` asks :func:`is_recording` (directly or through
:func:`get_tracer`) first: when recording is switched off
(:func:`otel_provlog.config.is_disabled` decides) it hands out a shared no-op object
instead of building spans. Events follow the decision of their step.
"""

from __future__ import annotations

import functools
import logging
from importlib import metadata
from typing import Final

from opentelemetry import trace

from otel_provlog.config import is_disabled

__all__ = [
    "INSTRUMENTATION_NAME",
    "LOGGER_NAME",
    "get_tracer",
    "is_recording",
    "logger",
    "tracer_for",
]

INSTRUMENTATION_NAME: Final = "otel_provlog"
"""The instrumentation scope name of every span :mod:`otel_provlog` makes."""
LOGGER_NAME: Final = "otel_provlog"
"""The Python logger that receives failures (with their ``error_id``) and internal errors."""

logger: Final = logging.getLogger(LOGGER_NAME)
"""The package logger: instrumentation errors are logged here, never raised."""


@functools.cache
def _version() -> str | None:
    try:
        return metadata.version("otel-provlog")
    except metadata.PackageNotFoundError:
        return None


def is_recording() -> bool:
    """Tell whether events are recorded, as :func:`~otel_provlog.config.is_disabled` decides.

    An unreadable ``PROVLOG_ENABLED`` is logged and recording stays on, so a typo can
    neither raise into the instrumented program nor silently turn the event log off.
    """
    try:
        return not is_disabled()
    except ValueError:
        logger.exception("otel_provlog: unreadable switch, recording stays on")
        return True


def tracer_for(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """Return this package's tracer from ``tracer_provider`` (the global one when None).

    Any error of the provider is logged and a no-op tracer is returned instead. The
    switch is not consulted: see :func:`get_tracer`.
    """
    try:
        return trace.get_tracer(INSTRUMENTATION_NAME, _version(), tracer_provider)
    except Exception:
        logger.exception("otel_provlog: the tracer provider failed, nothing is recorded")
        return trace.NoOpTracer()


def get_tracer(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer | None:
    """Return the tracer to record with, or ``None`` when recording is switched off.

    Args:
        tracer_provider: the provider to take the tracer from; the global one when None.
    """
    return tracer_for(tracer_provider) if is_recording() else None
