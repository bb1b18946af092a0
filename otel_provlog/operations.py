"""Cluster operations (creating, scaling, deleting): the root span of the event log.

When an operation begins, a zero-length ``operation.start`` marker span (a child of the
operation, with the same attributes: cluster, tenant, step type, plan) is ended at once,
so that a running operation is visible from ended spans alone, as a step is through its
``step.start`` marker.
"""

from __future__ import annotations

import threading
import time
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_provlog import attributes
from otel_provlog.attachment import Scope
from otel_provlog.ids import span_row_id
from otel_provlog.plan import PlanLike, check_step_type, plan_steps
from otel_provlog.tracer import get_tracer, logger

if TYPE_CHECKING:
    from otel_provlog.steps import Step

__all__ = ["NOOP_OPERATION", "Operation", "operation", "start_operation"]


def record_error(span: trace.Span, error: BaseException) -> None:
    """Record ``error`` on ``span`` and set its status to ERROR (never raises)."""
    try:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    except Exception:
        logger.exception("otel_provlog: could not record an error on its span")


def span_id(span: trace.Span | None) -> str | None:
    """Return the span id of ``span`` as 16 lower-case hex digits (None if invalid)."""
    if span is None:
        return None
    try:
        context = span.get_span_context()
    except Exception:
        return None
    return format(context.span_id, "016x") if context.is_valid else None


def row_id(span: trace.Span | None) -> str | None:
    """Return the store's row id of ``span`` (see :mod:`otel_provlog.ids`), None if invalid."""
    if span is None:
        return None
    try:
        context = span.get_span_context()
    except Exception:
        return None
    if not context.is_valid:
        return None
    return span_row_id(format(context.trace_id, "032x"), format(context.span_id, "016x"))


class Operation(Scope):
    """A cluster operation: the root span its steps hang from.

    Build it with :func:`operation` (a context manager) or :func:`start_operation`.
    Steps opened while it is current (or, from other threads, while it is open for the
    same cluster) become its children and inherit its cluster, tenant and step type.
    """

    def __init__(
        self,
        tracer: trace.Tracer,
        cluster_id: str,
        step_type: str,
        *,
        cluster_name: str | None = None,
        tenant_id: str | None = None,
        plan: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(cluster_id)
        self.tracer: trace.Tracer | None = tracer
        """The tracer of its span; its steps use it unless given a provider."""
        self.step_type: str | None = step_type
        """``creating``, ``scaling`` or ``deleting``."""
        self.cluster_name = cluster_name
        """The cluster's display name."""
        self.tenant_id = tenant_id
        """The tenant (project) owning the cluster."""
        self.plan = plan
        """The step names declared for this operation (None when none were)."""
        self._span: trace.Span | None = None
        self._token: Token[Scope | None] | None = None
        self._otel_token: Token[otel_context.Context] | None = None
        self._lock = threading.Lock()
        self._steps: list[Step] = []
        self._ended = False

    @property
    def span(self) -> trace.Span:
        """The operation's span (a non-recording one before it starts)."""
        return self._span if self._span is not None else trace.INVALID_SPAN

    @property
    def id(self) -> str | None:
        """The operation's id in the store and the REST API (a UUID derived from its span).

        None before it starts or when nothing is recorded.
        """
        return row_id(self._span)

    @property
    def span_id(self) -> str | None:
        """The operation's span id in hex, None before it starts or when not recording."""
        return span_id(self._span)

    def _begin(self) -> bool:
        try:
            return self._open()
        except Exception:
            logger.exception("otel_provlog: could not begin a operation")
            return False

    def _open(self) -> bool:
        if self._span is not None:
            logger.warning("otel_provlog: operation on %s started twice", self.cluster_id)
            return False
        attrs: dict[str, Any] = {
            attributes.SPAN_KIND: attributes.SPAN_OPERATION,
            attributes.CLUSTER_ID: self.cluster_id,
            attributes.STEP_TYPE: self.step_type,
        }
        if self.cluster_name is not None:
            attrs[attributes.CLUSTER_NAME] = self.cluster_name
        if self.tenant_id is not None:
            attrs[attributes.TENANT_ID] = self.tenant_id
        if self.plan is not None:
            attrs[attributes.PLAN] = list(self.plan)
        tracer = self.tracer or trace.NoOpTracer()
        now = time.time_ns()
        try:
            caller = trace.get_current_span().get_span_context()
            links = [trace.Link(caller)] if caller.is_valid else None
            self._span = tracer.start_span(
                f"{self.step_type} cluster",
                context=otel_context.Context(),
                attributes=attrs,
                links=links,
                start_time=now,
            )
        except Exception:
            logger.exception("otel_provlog: could not start an operation span")
            self._span = trace.INVALID_SPAN
            return True
        try:
            attrs[attributes.SPAN_KIND] = attributes.SPAN_OPERATION_START
            marker = tracer.start_span(
                f"{self.step_type} cluster started",
                context=trace.set_span_in_context(self._span),
                attributes=attrs,
                start_time=now,
            )
            marker.end(end_time=now)
        except Exception:
            logger.exception("otel_provlog: could not record an operation start marker")
        return True

    def start(self) -> Operation:
        """Begin the operation now and make it current; call :meth:`end` when it is over."""
        if self._begin():
            self._attach(scoped=False)
        return self

    def adopt(self, step: Step) -> None:
        """Remember ``step`` so that it is ended, at the latest, with the operation."""
        with self._lock:
            if not self._ended:
                self._steps.append(step)

    def end(self, error: BaseException | None = None) -> None:
        """End the operation (once): first its steps still open, then its span.

        Args:
            error: the exception the operation failed with, recorded on the span.
        """
        with self._lock:
            if self._ended:
                return
            self._ended = True
            steps, self._steps = self._steps, []
        for step in steps:
            step.end(error, by_operation=True)
        if self._span is not None:
            if error is not None:
                record_error(self._span, error)
            try:
                self._span.end()
            except Exception:
                logger.exception("otel_provlog: could not end an operation span")
        self._detach(self._token)
        self._token = None

    def __enter__(self) -> Operation:
        if self._begin():
            self._token = self._attach(scoped=True)
            try:
                self._otel_token = otel_context.attach(trace.set_span_in_context(self.span))
            except Exception:
                logger.exception("otel_provlog: could not make an operation current")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if self._otel_token is not None:
            try:
                otel_context.detach(self._otel_token)
            except Exception:
                logger.exception("otel_provlog: could not restore the context")
            self._otel_token = None
        self.end(exc_value)
        return False


class _NoOpOperation(Operation):
    """The shared operation handed out when nothing is recorded."""

    def __init__(self) -> None:
        Scope.__init__(self, None)
        self.tracer = None
        self.step_type = None
        self.cluster_name = None
        self.tenant_id = None
        self.plan = None
        self._span = None

    def start(self) -> Operation:
        return self

    def adopt(self, step: Step) -> None:
        pass

    def end(self, error: BaseException | None = None) -> None:
        pass

    def __enter__(self) -> Operation:
        return self

    def __exit__(self, *exc_info: Any) -> Literal[False]:
        return False


NOOP_OPERATION: Operation = _NoOpOperation()
"""The operation every call returns when recording is off: it does nothing, cheaply."""


def operation(
    cluster_id: str,
    step_type: str,
    *,
    cluster_name: str | None = None,
    tenant_id: str | None = None,
    plan: PlanLike | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Operation:
    """Describe a cluster operation; use the result as a context manager.

    >>> with operation("c-1", "creating", cluster_name="demo"):  # doctest: +SKIP
    ...     ...

    The span is a root (a new trace; the caller's current span, if any, is linked). An
    exception leaving the block is recorded on it and re-raised; steps still open when
    it ends are ended with it.

    Args:
        cluster_id: the cluster the operation acts on.
        step_type: ``creating``, ``scaling`` or ``deleting``.
        cluster_name: the cluster's display name.
        tenant_id: the tenant (project) owning the cluster.
        plan: the steps the plugin declared (a :class:`~otel_provlog.Plan`, its mapping
            form, or this operation's step names), recorded as ``provisioning.plan``.
        tracer_provider: where spans go; the global provider when None.

    Raises:
        ValueError: for an unknown step type, a malformed plan or an empty cluster id.
    """
    check_step_type(step_type)
    if not isinstance(cluster_id, str) or not cluster_id:
        raise ValueError(f"an operation needs a cluster id, got {cluster_id!r}")
    steps = plan_steps(plan, step_type)
    tracer = get_tracer(tracer_provider)
    if tracer is None:
        return NOOP_OPERATION
    return Operation(
        tracer,
        cluster_id,
        step_type,
        cluster_name=cluster_name,
        tenant_id=tenant_id,
        plan=steps,
    )


def start_operation(
    cluster_id: str,
    step_type: str,
    *,
    cluster_name: str | None = None,
    tenant_id: str | None = None,
    plan: PlanLike | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Operation:
    """Begin a cluster operation now, for code that cannot use ``with``.

    It is current in the calling context until :meth:`Operation.end`. The arguments are
    those of :func:`operation`.
    """
    return operation(
        cluster_id,
        step_type,
        cluster_name=cluster_name,
        tenant_id=tenant_id,
        plan=plan,
        tracer_provider=tracer_provider,
    ).start()
