"""Carry a step across a process boundary with a W3C ``traceparent``.

The provisioning side puts the step into a carrier (a dict of headers) and ships it with
the work, e.g. in a message to an agent on the instance::

    headers = otel_provlog.inject_step(step)          # {"traceparent": "00-...-01"}

An agent using this package reports its event with :func:`remote_event`; an agent using
any other OpenTelemetry SDK extracts the W3C trace context from the headers, starts a span
with it as parent, and sets the event attributes of :mod:`otel_provlog.attributes`
(``provisioning.span`` = ``event``, the cluster, node group and instance ids, the
instance name; on failure status ERROR and ``provisioning.event.error_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Unpack

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_provlog._events import NOOP_EVENT, Event, EventFields, describe, event_attributes
from otel_provlog._steps import Step, current_step
from otel_provlog._tracer import get_tracer, logger

__all__ = ["extract_context", "inject_step", "remote_event"]


def inject_step(
    step: Step | None = None,
    carrier: MutableMapping[str, str] | None = None,
    *,
    cluster_id: str | None = None,
) -> MutableMapping[str, str]:
    """Write the W3C trace context of a step into ``carrier`` and return it.

    Args:
        step: the step; the current step of ``cluster_id`` (as
            :func:`otel_provlog.current_step` finds it) when None.
        carrier: the headers to add to; a new dict when None.
        cluster_id: the cluster whose current step to use when ``step`` is None.

    Nothing is written when there is no step or nothing is recorded.
    """
    headers: MutableMapping[str, str] = {} if carrier is None else carrier
    try:
        target = step if step is not None else current_step(cluster_id)
        if target is not None and target.span_id is not None:
            TraceContextTextMapPropagator().inject(
                headers, context=trace.set_span_in_context(target.span)
            )
    except Exception:
        logger.exception("otel_provlog: could not inject a step context")
    return headers


def extract_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """Return the OpenTelemetry context the W3C headers in ``carrier`` describe."""
    try:
        return TraceContextTextMapPropagator().extract(carrier)
    except Exception:
        logger.exception("otel_provlog: could not extract a step context")
        return otel_context.Context()


def remote_event(
    carrier: Mapping[str, str],
    *,
    cluster_id: str | None = None,
    instance: object = None,
    **fields: Unpack[EventFields],
) -> Event:
    """Describe one event of the step the ``carrier`` came from; use it as a context manager.

    For an agent in another process: the event span is a child of the step span named by
    the carrier's ``traceparent``. Without a valid ``traceparent`` nothing is recorded.

    Args:
        carrier: the headers made by :func:`inject_step`.
        cluster_id: the cluster (taken from ``instance`` when None).
        instance: an :class:`~otel_provlog.Instance`, a mapping or a Sahara-like object.
        fields: as for :meth:`otel_provlog.Step.event` (``tracer_provider``: where spans
            go; the global provider when None).
    """
    tracer = get_tracer(fields.get("tracer_provider"))
    if tracer is None:
        return NOOP_EVENT
    parent = extract_context(carrier)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        logger.warning("otel_provlog: no valid traceparent in %r, event dropped", carrier)
        return NOOP_EVENT
    described = describe(instance, fields)
    cluster = cluster_id if cluster_id is not None else described.cluster_id
    return Event(tracer, parent, event_attributes(cluster, described, fields.get("info")))
