"""Provisioning steps: a span per step, parent of the step's per-instance events.

When a step begins, a zero-length ``step.start`` marker span (a child of the step, with
the same attributes) is ended at once, so that a running step is visible from ended spans
alone.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypedDict, Unpack

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_provlog import attributes
from otel_provlog._attachment import find, find_in_context, should_publish
from otel_provlog._events import (
    NOOP_EVENT,
    Attributes,
    Event,
    EventFields,
    describe,
    event_attributes,
)
from otel_provlog._plan import check_step_type
from otel_provlog._spans import (
    NoOpContext,
    OwnerScope,
    SpanScope,
    end_span,
    record_error,
    record_marker,
)
from otel_provlog._tracer import get_tracer, is_recording, logger, tracer_for

__all__ = [
    "NOOP_STEP",
    "Step",
    "StepOptions",
    "check_total",
    "current_step",
    "innermost_explicit_step",
    "start_step",
    "step",
]


class Step(SpanScope):
    """A provisioning step: its span, its event count, and the events it makes.

    Build it with :func:`step` (a context manager) or :func:`start_step`. Its events are
    made with :meth:`event` (a context manager), :meth:`add_success` and
    :meth:`add_failure`; events reported through :func:`otel_provlog.event` or
    :mod:`otel_provlog.sahara` find it from any thread (see
    :func:`current_step`).
    """

    _kind = "step"
    _noun = "a step"

    def __init__(
        self,
        tracer: trace.Tracer | None,
        cluster_id: str | None,
        name: str,
        total: int,
        *,
        step_type: str | None = None,
        tenant_id: str | None = None,
        end_on_total: bool = False,
    ) -> None:
        super().__init__(cluster_id)
        self.tracer = tracer
        """The tracer of its spans; None until it starts means: its operation's tracer."""
        self.name = name
        """The step's description, e.g. ``"Waiting for ssh"``."""
        self.total = total
        """How many events the step expects."""
        self.step_type = step_type
        """``creating``, ``scaling`` or ``deleting`` (from the operation when not given)."""
        self.tenant_id = tenant_id
        """The tenant owning the cluster (from the operation when not given)."""
        self.end_on_total = end_on_total
        """End the span as soon as ``total`` events were recorded."""
        self.explicit = False
        """Started with :meth:`start` (not a ``with`` block): linear steps replace it."""
        self._context: otel_context.Context | None = None
        self._lock = threading.Lock()
        self._completed = 0
        self._failed = 0
        self._span_ended = False

    @property
    def completed(self) -> int:
        """How many of its events finished successfully so far."""
        return self._completed

    @property
    def failed(self) -> int:
        """How many of its events failed so far."""
        return self._failed

    def _attributes(self) -> Attributes:
        attrs: Attributes = {attributes.SPAN_KIND: attributes.SPAN_STEP}
        for key, value in (
            (attributes.CLUSTER_ID, self.cluster_id),
            (attributes.TENANT_ID, self.tenant_id),
            (attributes.STEP_NAME, self.name),
            (attributes.STEP_TYPE, self.step_type),
            (attributes.STEP_TOTAL, self.total),
        ):
            if value is not None:
                attrs[key] = value
        return attrs

    def _open(self) -> bool:
        if self._span is not None:
            logger.warning("otel_provlog: step %r started twice", self.name)
            return False
        owner = find(self.cluster_id, OwnerScope)
        if self.tracer is None:
            source = owner if owner is not None else find(self.cluster_id, Step)
            self.tracer = source.tracer if source is not None else None
        tracer = self.tracer = self.tracer or tracer_for(None)
        if owner is not None:
            self.cluster_id = self.cluster_id or owner.cluster_id
            self.tenant_id = self.tenant_id or owner.tenant_id
            self.step_type = self.step_type or owner.step_type
        if self.cluster_id is None:
            logger.error("otel_provlog: step %r has no cluster id and no operation", self.name)
        else:
            self.published = should_publish(self.cluster_id, Step)
        parent = trace.set_span_in_context(owner.span) if owner is not None else None
        attrs = self._attributes()
        now = time.time_ns()
        try:
            self._span = tracer.start_span(
                self.name, context=parent, attributes=attrs, start_time=now
            )
        except Exception:
            logger.exception("otel_provlog: could not start a step span")
            self._span = trace.INVALID_SPAN
        self._context = trace.set_span_in_context(self._span)
        attrs[attributes.SPAN_KIND] = attributes.SPAN_STEP_START
        record_marker(tracer, f"{self.name} started", self._span, attrs, now, "a step")
        if owner is not None:
            owner.adopt(self)
        return True

    def start(self) -> Step:
        """Begin the step now and make it current in this context; return the step.

        For code that cannot use ``with``: end it with :meth:`end` (a later explicit step
        of :func:`otel_provlog.sahara.add_provisioning_step`, or the end of its operation,
        also ends it).
        """
        if self._begin():
            self.explicit = True
            self._attach(scoped=False)
        return self

    def _end_span(self, error: BaseException | None = None) -> None:
        with self._lock:
            if self._span_ended or self._span is None:
                return
            self._span_ended = True
            failed = self._failed
        if error is not None:
            record_error(self._span, error)
        elif failed:
            try:
                self._span.set_status(
                    trace.Status(trace.StatusCode.ERROR, f"{failed} event(s) failed")
                )
            except Exception:
                logger.exception("otel_provlog: could not set a step status")
        end_span(self._span, "a step")

    def end(self, error: BaseException | None = None, *, by_operation: bool = False) -> None:
        """End the step (once) and stop attaching events to it.

        Args:
            error: the exception the step failed with, recorded on its span.
            by_operation: the step's operation is ending it (an error then only marks
                steps that were still running).
        """
        self._end_span(error)
        if self.attached:
            self._detach(None if by_operation else self._token)
            if not by_operation:
                self._token = None

    def _count(self, successful: bool) -> None:
        with self._lock:
            if successful:
                self._completed += 1
            else:
                self._failed += 1
            reached = self.end_on_total and self._completed + self._failed >= self.total
        if reached:
            self._end_span()

    def event(self, instance: object = None, **fields: Unpack[EventFields]) -> Event:
        """Describe one per-instance event of this step; use it as a context manager.

        Args:
            instance: an :class:`~otel_provlog.Instance`, a mapping or a Sahara-like
                instance object to take the ids and name from.
            fields: ``instance_id``, ``instance_name``, ``node_group_id`` (each overriding
                ``instance``'s), ``info`` (free text) and ``tracer_provider`` (record the
                span through it instead of the step's): see
                :class:`~otel_provlog.EventFields`.

        The event succeeds when the block ends normally and fails when it raises; the
        exception is re-raised.
        """
        if self._span is None:
            logger.warning("otel_provlog: event of step %r before the step started", self.name)
        tracer_provider = fields.get("tracer_provider")
        if tracer_provider is not None:
            tracer = get_tracer(tracer_provider)
            if tracer is None:
                return NOOP_EVENT
        else:
            tracer = self.tracer or tracer_for(None)
        return Event(
            tracer,
            self._context,
            event_attributes(self.cluster_id, describe(instance, fields), fields.get("info")),
            on_finish=self._count,
        )

    def add_success(self, instance: object = None, **fields: Unpack[EventFields]) -> None:
        """Record one successful event now (the arguments are those of :meth:`event`)."""
        event = self.event(instance, **fields)
        now = time.time_ns()
        event.start(at_ns=now).finish(at_ns=now)

    def add_failure(
        self,
        instance: object = None,
        *,
        exception: BaseException | None = None,
        **fields: Unpack[EventFields],
    ) -> str | None:
        """Record one failed event now; return its ``error_id``.

        The exception (if any) is recorded, logged with the id, and not raised; the other
        arguments are those of :meth:`event`.
        """
        info = fields.pop("info", None)
        event = self.event(instance, **fields)
        now = time.time_ns()
        error_id = event.start(at_ns=now).fail(exception, info=info)
        event.finish(at_ns=now)
        return error_id


class _NoOpStep(NoOpContext, Step):
    """The shared step handed out when nothing is recorded."""

    def __init__(self) -> None:
        super().__init__(None, None, "", 0)

    def start(self) -> Step:
        return self

    def end(self, error: BaseException | None = None, *, by_operation: bool = False) -> None:
        pass

    def event(self, instance: object = None, **fields: Any) -> Event:
        return NOOP_EVENT

    def add_success(self, instance: object = None, **fields: Any) -> None:
        pass

    def add_failure(self, instance: object = None, **fields: Any) -> str | None:
        return None


NOOP_STEP: Step = _NoOpStep()
"""The step every call returns when recording is off: it does nothing, cheaply."""


def check_total(total: object) -> int:
    """Return ``total`` if it is a non-negative int.

    Raises:
        ValueError: for anything else.
    """
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ValueError(f"a step's total is a non-negative int, got {total!r}")
    return total


def step(
    cluster_id: str | None,
    step_name: str,
    total: int = 1,
    *,
    step_type: str | None = None,
    tenant_id: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Step:
    """Describe a provisioning step; use the result as a context manager.

    >>> with step("c-1", "Waiting for ssh", total=3) as s:  # doctest: +SKIP
    ...     with s.event(instance_id="i-1", instance_name="worker-1"):
    ...         ...

    The step becomes current in the calling context (and, for other threads, for its
    cluster) until the block ends. Opened inside an operation, it is that operation's
    child and inherits its cluster, tenant and step type.

    Args:
        cluster_id: the cluster; None takes the one of the current operation.
        step_name: the step's description, e.g. ``"Launching instances"``.
        total: how many events the step expects.
        step_type: ``creating``, ``scaling`` or ``deleting`` (from the operation if None).
        tenant_id: the tenant owning the cluster (from the operation if None).
        tracer_provider: where spans go; when None, the provider of the operation (or
            enclosing step) it belongs to, else the global one.

    Raises:
        ValueError: for a negative total, an unknown step type or an empty step name.
    """
    return _new_step(
        cluster_id,
        step_name,
        total,
        step_type=step_type,
        tenant_id=tenant_id,
        tracer_provider=tracer_provider,
    )


class StepOptions(TypedDict, total=False):
    """The keyword arguments of :func:`step` (and of :func:`start_step`)."""

    step_type: str | None
    tenant_id: str | None
    tracer_provider: trace.TracerProvider | None


def start_step(
    cluster_id: str | None,
    step_name: str,
    total: int = 1,
    *,
    end_on_total: bool = False,
    **options: Unpack[StepOptions],
) -> Step:
    """Begin a provisioning step now, for code that cannot use ``with``.

    The arguments are those of :func:`step`; with ``end_on_total`` the step's span ends
    as soon as ``total`` events were recorded (it still takes later events until it is
    ended or replaced). End it with :meth:`Step.end`.
    """
    return _new_step(cluster_id, step_name, total, end_on_total=end_on_total, **options).start()


def _new_step(
    cluster_id: str | None,
    step_name: str,
    total: int,
    *,
    end_on_total: bool = False,
    step_type: str | None = None,
    tenant_id: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Step:
    check_total(total)
    if step_type is not None:
        check_step_type(step_type)
    if not isinstance(step_name, str) or not step_name:
        raise ValueError(f"a step needs a name, got {step_name!r}")
    if not is_recording():
        return NOOP_STEP
    tracer = None if tracer_provider is None else tracer_for(tracer_provider)
    return Step(
        tracer,
        cluster_id,
        step_name,
        total,
        step_type=step_type,
        tenant_id=tenant_id,
        end_on_total=end_on_total,
    )


def current_step(cluster_id: str | None = None) -> Step | None:
    """Return the step an event of ``cluster_id`` reported here attaches to, if any.

    The innermost open step of the calling context wins; a thread without one (a new
    thread or a pool worker) gets the cluster's innermost published step. Without a
    cluster id only the calling context is searched.
    """
    return find(cluster_id, Step)


def innermost_explicit_step(cluster_id: str | None) -> Step | None:
    """Return the innermost step of the calling context, if it was started explicitly."""
    found = find_in_context(cluster_id, Step)
    return found if found is not None and found.explicit else None
