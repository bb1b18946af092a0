"""Cluster operations (creating, scaling, deleting): the root span of the event log.

When an operation begins, a zero-length ``operation.start`` marker span (a child of the
operation, with the same attributes: cluster, tenant, step type, plan) is ended at once,
so that a running operation is visible from ended spans alone, as a step is through its
``step.start`` marker.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypedDict, Unpack

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_provlog import attributes
from otel_provlog._plan import PlanLike, check_step_type, plan_steps
from otel_provlog._spans import (
    NoOpContext,
    Owned,
    OwnerScope,
    end_span,
    record_error,
    record_marker,
)
from otel_provlog._tracer import get_tracer, logger

__all__ = ["NOOP_OPERATION", "Operation", "OperationOptions", "operation", "start_operation"]


class Operation(OwnerScope):
    """A cluster operation: the root span its steps hang from.

    Build it with :func:`operation` (a context manager) or :func:`start_operation`.
    Steps opened while it is current (or, from other threads, while it is open for the
    same cluster) become its children and inherit its cluster, tenant and step type.
    """

    _kind = "operation"
    _noun = "an operation"

    def __init__(
        self,
        tracer: trace.Tracer | None,
        cluster_id: str | None,
        step_type: str | None,
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
        self._lock = threading.Lock()
        self._steps: list[Owned] = []
        self._ended = False

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
        attrs[attributes.SPAN_KIND] = attributes.SPAN_OPERATION_START
        record_marker(
            tracer,
            f"{self.step_type} cluster started",
            self._span,
            attrs,
            now,
            "an operation",
        )
        return True

    def start(self) -> Operation:
        """Begin the operation now and make it current; call :meth:`end` when it is over."""
        if self._begin():
            self._attach(scoped=False)
        return self

    def adopt(self, scope: Owned) -> None:
        """Remember the step ``scope`` so that it is ended, at the latest, with the operation."""
        with self._lock:
            if not self._ended:
                self._steps.append(scope)

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
            end_span(self._span, "an operation")
        self._detach(self._token)
        self._token = None


class _NoOpOperation(NoOpContext, Operation):
    """The shared operation handed out when nothing is recorded."""

    def __init__(self) -> None:
        super().__init__(None, None, None)

    def start(self) -> Operation:
        return self

    def adopt(self, scope: Owned) -> None:
        pass

    def end(self, error: BaseException | None = None) -> None:
        pass


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


class OperationOptions(TypedDict, total=False):
    """The keyword arguments of :func:`operation` (and of :func:`start_operation`)."""

    cluster_name: str | None
    tenant_id: str | None
    plan: PlanLike | None
    tracer_provider: trace.TracerProvider | None


def start_operation(
    cluster_id: str, step_type: str, **options: Unpack[OperationOptions]
) -> Operation:
    """Begin a cluster operation now, for code that cannot use ``with``.

    It is current in the calling context until :meth:`Operation.end`. The arguments are
    those of :func:`operation`.
    """
    return operation(cluster_id, step_type, **options).start()
