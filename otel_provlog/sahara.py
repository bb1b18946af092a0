"""Sahara-compatible helpers: ``sahara.utils.cluster_progress_ops`` on OpenTelemetry.

Plugin code written for Sahara's event log runs unchanged against these functions::

    from otel_provlog import sahara as cpo

    cpo.add_provisioning_step(cluster.id, "Wait for ssh", len(instances))

    @cpo.event_wrapper(True)
    def _wait_for_ssh(instance): ...

Instances are read as Sahara's: ``instance_id``, ``instance_name``, ``node_group_id`` (or
``node_group.id``) and ``cluster_id`` (or ``node_group.cluster_id``).

Differences from Sahara, all deliberate:

- Steps are linear per calling context, not per cluster: a worker thread that adds a
  step replaces only its own previous step, and its siblings keep reporting to theirs
  (Sahara's bug 1627081 is gone).
- A step added here ends when its ``total`` events were recorded, when the next step of
  the same context replaces it, or when its operation ends; it stays current (and takes
  late events) until it is replaced.
- Step ids are the steps' span ids (16 hex digits); ``None`` when nothing is recorded.
- A failure's ``event_info`` holds its message; the stack is recorded apart (the span's
  ``exception.stacktrace``, shown to admins only), and an ``error_id`` names it in the log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from otel_provlog._attachment import anything_open
from otel_provlog._events import Instance
from otel_provlog._reporting import call_with_event
from otel_provlog._steps import (
    Step,
    check_total,
    current_step,
    innermost_explicit_step,
    start_step,
)
from otel_provlog._tracer import is_recording, logger

__all__ = [
    "add_fail_event",
    "add_provisioning_step",
    "add_successful_event",
    "event_wrapper",
    "get_current_provisioning_step",
]

P = ParamSpec("P")
R = TypeVar("R")


def _start_linear_step(
    cluster_id: str | None,
    step_name: str,
    total: int,
    tracer_provider: trace.TracerProvider | None,
) -> Step:
    check_total(total)
    try:
        previous = innermost_explicit_step(cluster_id)
        if previous is not None:
            previous.end()
    except Exception:
        logger.exception("otel_provlog: could not end the previous step")
    return start_step(
        cluster_id, step_name, total, end_on_total=True, tracer_provider=tracer_provider
    )


def add_provisioning_step(
    cluster_id: str,
    step_name: str,
    total: int,
    *,
    tracer_provider: trace.TracerProvider | None = None,
) -> str | None:
    """Start a step of ``total`` events for the cluster; return its id.

    The previous step this context added for the cluster ends. The step type and tenant
    come from the cluster's open operation.

    Raises:
        ValueError: for a negative total or an empty step name.
    """
    return _start_linear_step(cluster_id, step_name, total, tracer_provider).id


def get_current_provisioning_step(cluster_id: str) -> str | None:
    """Return the id of the step events of the cluster reported here go to, if any."""
    if not anything_open():
        return None
    try:
        found = current_step(cluster_id)
        return found.id if found is not None else None
    except Exception:
        logger.exception("otel_provlog: could not find the current step")
        return None


def _record_now(instance: Any, record: Callable[[Step, Instance], object], outcome: str) -> None:
    """Call ``record`` with the current step of ``instance``'s cluster, if there is one.

    A failure is logged as one to record an event of that ``outcome`` (never raised).
    """
    if not anything_open():
        return
    try:
        described = Instance.of(instance)
        found = current_step(described.cluster_id)
        if found is not None:
            record(found, described)
    except Exception:
        logger.exception("otel_provlog: could not record a %s event", outcome)


def add_successful_event(instance: Any) -> None:
    """Record that the current step succeeded for ``instance`` (nothing without a step)."""
    _record_now(instance, lambda found, described: found.add_success(described), "successful")


def add_fail_event(instance: Any, exception: BaseException) -> None:
    """Record that the current step failed for ``instance`` with ``exception``.

    The exception is recorded with an ``error_id`` and logged; it is not raised.
    """
    _record_now(
        instance,
        lambda found, described: found.add_failure(described, exception=exception),
        "failed",
    )


def _looks_like_instance(obj: object) -> bool:
    return hasattr(obj, "instance_id") and hasattr(obj, "instance_name")


def _info_from(obj: object) -> object:
    if _looks_like_instance(obj):
        return obj
    if hasattr(obj, "node_groups") and hasattr(obj, "id"):
        return Instance(cluster_id=str(obj.id))
    get_event_info = getattr(obj, "get_event_info", None)
    if callable(get_event_info):
        return get_event_info()
    return None


def _find_in_args(
    param: tuple[str, int] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> object:
    try:
        if param:
            name, position = param
            obj = kwargs.get(name)
            if obj is None and -len(args) <= position < len(args):
                obj = args[position]
            return None if obj is None else _info_from(obj)
        for arg in (*args, *kwargs.values()):
            if _looks_like_instance(arg):
                return arg
    except Exception:
        logger.exception("otel_provlog: could not find the instance of an event")
    return None


def event_wrapper(
    mark_successful_on_exit: bool,
    step: str | None = None,
    param: tuple[str, int] | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so that each call records an event of its instance.

    Args:
        mark_successful_on_exit: record a successful event when the function returns
            (a failure is always recorded, and the exception re-raised).
        step: first add a step of this name with a total of 1 (a step of one event).
        param: ``(name, position)`` of the argument describing the instance: an
            instance, a cluster (an event about the cluster as a whole) or an object with
            ``get_event_info()``. Without it, the first instance-like argument is used;
            without any, the event goes to the current step of the calling context.
        tracer_provider: where spans go; the global provider when None.
    """

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def handler(*args: P.args, **kwargs: P.kwargs) -> R:
            if not is_recording():
                return func(*args, **kwargs)
            instance = _find_in_args(param, args, kwargs)

            def open_step(described: Instance) -> tuple[Step | None, bool]:
                if step is not None:
                    _start_linear_step(described.cluster_id, step, 1, tracer_provider)
                return current_step(described.cluster_id), False

            return call_with_event(func, args, kwargs, instance, open_step, mark_successful_on_exit)

        return handler

    return decorator
