"""How forwarded spans read in Jaeger and Tempo: names a person recognises, a named service.

Spans keep their names in the store path; only what leaves over OTLP is renamed, and only
the names :mod:`otel_provlog` gives by default (another SDK's own names are kept):

- an event span (``instance event``) is named after its instance: ``provisioning.instance.name``,
  else ``provisioning.instance.id``;
- an operation span (``creating cluster``) and its start marker get the cluster's name, else
  its id: ``creating cluster hadoop-prod``;
- step spans already carry the step's name.

A trace's service is the resource's ``service.name`` (``OTEL_SERVICE_NAME`` or
``OTEL_RESOURCE_ATTRIBUTES`` set it, or the tracer provider's own resource). Left at the
SDK's ``unknown_service``, forwarded spans get ``unknown_service:<program>`` instead, the
specification's fallback, so that two engines without a name still show apart::

    exporter = DisplaySpanExporter(OTLPSpanExporter(...))
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_provlog import Event, attributes

__all__ = ["DisplaySpanExporter", "display_name", "display_span", "fallback_service_name"]

_UNKNOWN_SERVICE: Final = "unknown_service"
_OPERATION_KINDS: Final = (attributes.SPAN_OPERATION, attributes.SPAN_OPERATION_START)


def fallback_service_name(argv0: str | None = None) -> str:
    """Return ``unknown_service:<program>``, the program being ``sys.argv[0]``'s stem."""
    program = Path(sys.argv[0] if argv0 is None else argv0).stem
    return f"{_UNKNOWN_SERVICE}:{program}" if program else _UNKNOWN_SERVICE


def display_name(span: ReadableSpan) -> str:
    """Return the name ``span`` should show in a trace viewer (its own when it is not ours)."""
    values = span.attributes or {}
    kind = values.get(attributes.SPAN_KIND)
    if kind == attributes.SPAN_EVENT and span.name == Event.name:
        instance = values.get(attributes.INSTANCE_NAME) or values.get(attributes.INSTANCE_ID)
        return str(instance) if instance else span.name
    if kind in _OPERATION_KINDS:
        step_type = values.get(attributes.STEP_TYPE)
        cluster = values.get(attributes.CLUSTER_NAME) or values.get(attributes.CLUSTER_ID)
        base = f"{step_type} cluster"
        if cluster and span.name in (base, f"{base} started"):
            return span.name.replace(base, f"{base} {cluster}", 1)
    return span.name


def _named_resource(resource: Resource, fallback: str) -> Resource:
    name = resource.attributes.get(SERVICE_NAME)
    if isinstance(name, str) and name and not name.startswith(_UNKNOWN_SERVICE):
        return resource
    if name == fallback:
        return resource
    return resource.merge(Resource({SERVICE_NAME: fallback}))


def _shown(span: ReadableSpan, resource: Resource) -> ReadableSpan:
    name = display_name(span)
    if name == span.name and resource is span.resource:
        return span
    return ReadableSpan(
        name=name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def display_span(span: ReadableSpan, *, service_name: str | None = None) -> ReadableSpan:
    """Return ``span`` renamed for trace viewers (the same object when nothing changes).

    Args:
        span: an ended span.
        service_name: the ``service.name`` to give a span whose resource has none but the
            SDK's ``unknown_service`` (:func:`fallback_service_name` when None).
    """
    return _shown(span, _named_resource(span.resource, service_name or fallback_service_name()))


class DisplaySpanExporter(SpanExporter):
    """A span exporter that renames spans (:func:`display_span`) before the real one sends."""

    def __init__(self, exporter: SpanExporter, *, service_name: str | None = None) -> None:
        self.exporter = exporter
        """The exporter that sends."""
        self._service_name = service_name or fallback_service_name()
        self._resources: dict[int, tuple[Resource, Resource]] = {}

    def _resource(self, resource: Resource) -> Resource:
        known = self._resources.get(id(resource))
        if known is None or known[0] is not resource:
            known = (resource, _named_resource(resource, self._service_name))
            self._resources[id(resource)] = known
        return known[1]

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` under the names a person recognises."""
        return self.exporter.export([_shown(s, self._resource(s.resource)) for s in spans])

    def shutdown(self) -> None:
        """Shut the real exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the real exporter."""
        return self.exporter.force_flush(timeout_millis)
