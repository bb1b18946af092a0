"""Reporting events without holding the step: by cluster, by decorator, across threads."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, Unpack

from opentelemetry import trace

from otel_provlog._attachment import anything_open
from otel_provlog._events import NOOP_EVENT, Event, EventFields, Instance
from otel_provlog._steps import Step, current_step, step
from otel_provlog._tracer import is_recording, logger

__all__ = ["bind", "call_with_event", "event", "record_event"]

P = ParamSpec("P")
R = TypeVar("R")


def event(
    instance: object = None, *, cluster_id: str | None = None, **fields: Unpack[EventFields]
) -> Event:
    """Describe one event of the current step of a cluster; use it as a context manager.

    The step is found as :func:`otel_provlog.current_step` finds it, so this works from
    worker threads and thread pools. With no step open for the cluster nothing is
    recorded. The other arguments are those of :meth:`otel_provlog.Step.event`.

    Args:
        instance: an :class:`~otel_provlog.Instance`, a mapping or a Sahara-like object.
        cluster_id: the cluster (taken from ``instance`` when None).
        fields: as for :meth:`otel_provlog.Step.event`.
    """
    if not anything_open():
        return NOOP_EVENT
    try:
        cluster = cluster_id if cluster_id is not None else Instance.of(instance).cluster_id
        found = current_step(cluster)
        if found is None:
            logger.debug("otel_provlog: no open step for cluster %s, event dropped", cluster)
            return NOOP_EVENT
        return found.event(instance, **fields)
    except Exception:
        logger.exception("otel_provlog: could not describe an event")
        return NOOP_EVENT


OpenStep = Callable[[Instance], tuple[Step | None, bool]]
"""Find or open the step of a recorded call: returns the step and whether the call owns
it (then it is entered before the call and exited after it)."""


def _close(found: Step | None, owned: bool, error: BaseException | None) -> None:
    if found is not None and owned:
        found.__exit__(type(error) if error is not None else None, error, None)


def call_with_event(
    func: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    instance: object,
    open_step: OpenStep,
    mark_successful: bool,
) -> R:
    """Call ``func`` once, recording an event about ``instance`` on the step it gets.

    With ``mark_successful`` the event spans the call, succeeding when it returns; without
    it only a failure is recorded. An exception of ``func`` is recorded and re-raised
    unchanged; a failure of the recording itself is logged and never changes the call.
    """
    found: Step | None = None
    owned = False
    recorded: Event = NOOP_EVENT
    try:
        described = Instance.of(instance)
        found, owned = open_step(described)
        if owned and found is not None:
            found.__enter__()
        if found is not None and mark_successful:
            recorded = found.event(described).start()
    except Exception:
        logger.exception("otel_provlog: could not prepare an event")
    try:
        result = func(*args, **kwargs)
    except BaseException as error:
        try:
            if recorded is not NOOP_EVENT:
                recorded.fail(error)
                recorded.finish()
            elif found is not None:
                found.add_failure(instance, exception=error)
            _close(found, owned, error)
        except Exception:
            logger.exception("otel_provlog: could not record a failed event")
        raise
    try:
        recorded.finish()
        _close(found, owned, None)
    except Exception:
        logger.exception("otel_provlog: could not record an event")
    return result


def _argument(
    signature: inspect.Signature | None,
    param: str | int,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> object:
    if isinstance(param, int):
        return args[param] if -len(args) <= param < len(args) else None
    if param in kwargs:
        return kwargs[param]
    if signature is None:
        return None
    try:
        return signature.bind_partial(*args, **kwargs).arguments.get(param)
    except TypeError:
        return None


def record_event(
    param: str | int = "instance",
    *,
    step_name: str | None = None,
    mark_successful: bool = True,
    tracer_provider: trace.TracerProvider | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function working on one instance so that each call records an event.

    >>> @record_event("node")  # doctest: +SKIP
    ... def wait_for_ssh(node): ...

    The call succeeds: the event succeeds (when ``mark_successful``). The call raises:
    the event fails with the exception, which is re-raised unchanged.

    Args:
        param: the name (or position) of the argument holding the instance: an
            :class:`~otel_provlog.Instance`, a mapping or a Sahara-like object whose
            cluster picks the step.
        step_name: open a step of this name (total 1) around each call instead of
            reporting to the current step.
        mark_successful: record an event when the call returns (failures always are).
        tracer_provider: where spans go; the global provider when None.
    """

    def open_step(described: Instance) -> tuple[Step | None, bool]:
        if step_name is not None:
            return step(described.cluster_id, step_name, 1, tracer_provider=tracer_provider), True
        return current_step(described.cluster_id), False

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        try:
            signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None

        @functools.wraps(func)
        def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not is_recording():
                return func(*args, **kwargs)
            instance = _argument(signature, param, args, kwargs)
            return call_with_event(func, args, kwargs, instance, open_step, mark_successful)

        return recorded

    return decorate


def bind(func: Callable[P, R]) -> Callable[P, R]:
    """Return ``func`` bound to the caller's current operation and steps.

    Each call of the result runs in a copy of the context ``bind`` was called in, so a
    thread or pool task started with it reports to the same step as its creator, even a
    step private to the creator (see :func:`otel_provlog.current_step`)::

        executor.submit(otel_provlog.bind(configure_instance), instance)
    """
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(func, *args, **kwargs)

    return bound
