"""Per-instance events: one span each, a child of its step.

An :class:`Event` is a context manager: it records success when the block ends normally,
and failure when it raises (the exception is recorded on the span, whose status becomes
ERROR, and re-raised). A failure gets an ``error_id`` (a UUID) that is set on the span
and written, with the full traceback, to the ``otel_provlog`` logger at ERROR level, so
an administrator can find it by id. ``provisioning.event.info`` carries the message only;
the stack goes to the ``exception`` span event's ``exception.stacktrace`` alone (see
:mod:`otel_provlog._failures`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypedDict

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from otel_provlog import attributes
from otel_provlog._failures import failure_message, record_exception
from otel_provlog._spans import NoOpContext, end_span, make_current, restore_context
from otel_provlog._tracer import logger

__all__ = ["NOOP_EVENT", "Event", "EventFields", "Instance", "describe", "event_attributes"]

Attributes = dict[str, AttributeValue]


def _field(obj: object, name: str) -> object:
    try:
        if isinstance(obj, Mapping):
            return obj.get(name)
        return getattr(obj, name, None)
    except Exception:
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Instance:
    """What an event says about its instance: ids and display name, all optional."""

    instance_id: str | None = None
    """The instance the event is about (Sahara's ``instance.instance_id``)."""
    instance_name: str | None = None
    """The instance's display name."""
    node_group_id: str | None = None
    """The node group the instance belongs to."""
    cluster_id: str | None = None
    """The cluster the instance belongs to."""

    @classmethod
    def of(cls, obj: object) -> Instance:
        """Describe ``obj``: an :class:`Instance`, a mapping, or a Sahara-like object.

        Reads ``instance_id``, ``instance_name``, ``node_group_id`` (or ``node_group.id``)
        and ``cluster_id`` (or ``node_group.cluster_id``); what is missing stays None.
        Never raises: an unreadable object gives an empty description.
        """
        if isinstance(obj, Instance):
            return obj
        if obj is None:
            return cls()
        node_group = _field(obj, "node_group")
        node_group_id = _field(obj, "node_group_id")
        if node_group_id is None and node_group is not None:
            node_group_id = _field(node_group, "id")
        cluster_id = _field(obj, "cluster_id")
        if cluster_id is None and node_group is not None:
            cluster_id = _field(node_group, "cluster_id")
        return cls(
            instance_id=_text(_field(obj, "instance_id")),
            instance_name=_text(_field(obj, "instance_name")),
            node_group_id=_text(node_group_id),
            cluster_id=_text(cluster_id),
        )

    def merged(
        self,
        *,
        instance_id: str | None = None,
        instance_name: str | None = None,
        node_group_id: str | None = None,
    ) -> Instance:
        """Return a copy where the given (non-None) fields replace this one's."""
        return Instance(
            instance_id=self.instance_id if instance_id is None else instance_id,
            instance_name=self.instance_name if instance_name is None else instance_name,
            node_group_id=self.node_group_id if node_group_id is None else node_group_id,
            cluster_id=self.cluster_id,
        )


class EventFields(TypedDict, total=False):
    """The keyword arguments describing an event, beside its instance object.

    Taken by :meth:`otel_provlog.Step.event`, :meth:`~otel_provlog.Step.add_success`,
    :meth:`~otel_provlog.Step.add_failure`, :func:`otel_provlog.event` and
    :func:`otel_provlog.remote_event`.
    """

    instance_id: str | None
    """The instance id (overrides the instance object's)."""
    instance_name: str | None
    """The instance's display name (overrides the instance object's)."""
    node_group_id: str | None
    """The node group id (overrides the instance object's)."""
    info: str | None
    """Free text about the event."""
    tracer_provider: trace.TracerProvider | None
    """Record the event span through this provider instead of the step's (or the global)."""


def describe(instance: object, fields: EventFields) -> Instance:
    """Return ``instance`` read by :meth:`Instance.of`, with the ids in ``fields`` over it."""
    return Instance.of(instance).merged(
        instance_id=fields.get("instance_id"),
        instance_name=fields.get("instance_name"),
        node_group_id=fields.get("node_group_id"),
    )


def event_attributes(
    cluster_id: str | None, instance: Instance, info: str | None = None
) -> Attributes:
    """Return the attributes of an event span about ``instance`` of ``cluster_id``."""
    found: Attributes = {attributes.SPAN_KIND: attributes.SPAN_EVENT}
    for key, value in (
        (attributes.CLUSTER_ID, cluster_id if cluster_id is not None else instance.cluster_id),
        (attributes.NODE_GROUP_ID, instance.node_group_id),
        (attributes.INSTANCE_ID, instance.instance_id),
        (attributes.INSTANCE_NAME, instance.instance_name),
        (attributes.EVENT_INFO, info),
    ):
        if value is not None:
            found[key] = value
    return found


class Event:
    """One per-instance event of a step, as a span; use it as a context manager.

    Build it with :meth:`otel_provlog.Step.event`. Without a ``with`` block, call
    :meth:`start`, then :meth:`fail` if it failed, then :meth:`finish`.
    """

    name = "instance event"
    """The span name of every event."""

    def __init__(
        self,
        tracer: trace.Tracer,
        parent: otel_context.Context | None,
        attrs: Attributes,
        on_finish: Callable[[bool], None] | None = None,
    ) -> None:
        self._tracer = tracer
        self._parent = parent
        self._attributes = attrs
        self._on_finish = on_finish
        self._span: trace.Span | None = None
        self._token: Token[otel_context.Context] | None = None
        self._finished = False
        self.error_id: str | None = None
        """The id of this event's failure (None until it failed)."""

    @property
    def successful(self) -> bool | None:
        """True or False once finished, None before."""
        if not self._finished:
            return None
        return self.error_id is None

    def start(self, *, at_ns: int | None = None) -> Event:
        """Begin the event span (now, or at ``at_ns`` since the epoch); return the event."""
        if self._span is not None:
            return self
        try:
            self._span = self._tracer.start_span(
                self.name,
                context=self._parent,
                attributes=self._attributes,
                start_time=time.time_ns() if at_ns is None else at_ns,
            )
        except Exception:
            logger.exception("otel_provlog: could not start an event span")
            self._span = trace.INVALID_SPAN
        return self

    def set_info(self, info: str) -> None:
        """Attach free text to the event (``provisioning.event.info``)."""
        self._attributes[attributes.EVENT_INFO] = info
        if self._span is not None:
            try:
                self._span.set_attribute(attributes.EVENT_INFO, info)
            except Exception:
                logger.exception("otel_provlog: could not set event info")

    def fail(
        self, exception: BaseException | None = None, *, info: str | None = None
    ) -> str | None:
        """Mark the event failed; return its new ``error_id`` (None when not recording).

        The exception (if any) is recorded on the span, the span status becomes ERROR, and
        the failure is logged at ERROR level with its id and traceback. The event info is
        ``info``, else the exception's message, never its stack.
        """
        error_id = self.error_id = str(uuid.uuid4())
        message = failure_message(exception) if exception is not None else None
        text = info or message or "failed"
        logger.error(
            "provisioning event failed: error_id=%s cluster_id=%s instance_id=%s "
            "instance_name=%s: %s",
            error_id,
            self._attributes.get(attributes.CLUSTER_ID),
            self._attributes.get(attributes.INSTANCE_ID),
            self._attributes.get(attributes.INSTANCE_NAME),
            text.split("\n", 1)[0],
            exc_info=(
                (type(exception), exception, exception.__traceback__)
                if exception is not None
                else None
            ),
        )
        span = self.start()._span
        if span is None:
            return error_id
        try:
            if exception is not None:
                record_exception(span, exception, message)
            description = text.split("\n", 1)[0]
            span.set_status(trace.Status(trace.StatusCode.ERROR, description))
            span.set_attribute(attributes.ERROR_ID, error_id)
            span.set_attribute(attributes.EVENT_INFO, text)
        except Exception:
            logger.exception("otel_provlog: could not record a failure on its span")
        return error_id

    def finish(self, *, at_ns: int | None = None) -> None:
        """End the event span once (now, or at ``at_ns``); the step counts it as done."""
        if self._finished:
            return
        self._finished = True
        span = self.start()._span
        if span is not None:
            end_span(span, "an event", end_time=at_ns)
        if self._on_finish is not None:
            try:
                self._on_finish(self.error_id is None)
            except Exception:
                logger.exception("otel_provlog: could not count an event on its step")

    def __enter__(self) -> Event:
        self.start()
        if self._span is not None:
            self._token = make_current(self._span, "an event")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc_value is not None and self.error_id is None:
            self.fail(exc_value)
        restore_context(self._token)
        self._token = None
        self.finish()
        return False


class _NoOpEvent(NoOpContext, Event):
    """The shared event handed out when nothing is recorded."""

    def __init__(self) -> None:
        self.error_id = None
        self._finished = False

    def start(self, *, at_ns: int | None = None) -> Event:
        return self

    def set_info(self, info: str) -> None:
        pass

    def fail(
        self, exception: BaseException | None = None, *, info: str | None = None
    ) -> str | None:
        return None

    def finish(self, *, at_ns: int | None = None) -> None:
        pass


NOOP_EVENT: Event = _NoOpEvent()
"""The event every call returns when recording is off: it does nothing, cheaply."""
