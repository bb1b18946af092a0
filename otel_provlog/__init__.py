"""otel-provlog: a live event log of infrastructure provisioning, built on OpenTelemetry.

Provisioning code describes what it does; OpenTelemetry spans carry it. A cluster
operation is a root span, each provisioning step a child span of it, each per-instance
event a child span of its step (the attributes are those of
:mod:`otel_provlog.attributes`). This package needs ``opentelemetry-api`` only; spans go
to whatever tracer provider you pass (``tracer_provider=``) or the global one, and
:func:`configure` wires the store onto one.

>>> import otel_provlog
>>> from otel_provlog.testing import capture_spans   # needs opentelemetry-sdk
>>> captured = capture_spans()
>>> tp = captured.tracer_provider
>>> plan = {"creating": ["Launching instances", "Waiting for ssh"]}
>>> with otel_provlog.operation("c-1", "creating", cluster_name="demo", tenant_id="t-1",
...                             plan=plan, tracer_provider=tp):
...     with otel_provlog.step("c-1", "Launching instances", total=2,
...                            tracer_provider=tp) as step:
...         for name in ("worker-1", "worker-2"):
...             with step.event(instance_id=name, instance_name=name,
...                             node_group_id="ng-1"):
...                 pass   # launch it; an exception here records a failed event
>>> sorted({s.name for s in captured.spans()})  # doctest: +NORMALIZE_WHITESPACE
['Launching instances', 'Launching instances started', 'creating cluster',
 'creating cluster started', 'instance event']

In short:

- :func:`operation` / :func:`step` are context managers; :func:`start_operation` /
  :func:`start_step` with ``.end()`` serve code that cannot use ``with``.
- ``with step.event(...)`` records one event: success when the block ends, failure (with
  an ``error_id`` in the span and in the log) when it raises; the exception is re-raised.
  :meth:`Step.add_success` / :meth:`Step.add_failure` record one at once.
- :func:`event` and :func:`record_event` (a decorator) report to the current step of a
  cluster from any thread or thread pool (found as :func:`current_step` finds it);
  :func:`bind` carries the caller's steps into a thread or task explicitly.
- :func:`inject_step` / :func:`remote_event` carry a step to another process (W3C
  ``traceparent``).
- :mod:`otel_provlog.sahara` runs Sahara's ``cluster_progress_ops`` plugin code unchanged.
- ``PROVLOG_ENABLED=false`` (or ``OTEL_SDK_DISABLED=true``) makes every call a cheap no-op.
  Recording never raises into, nor changes the result of, the instrumented code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Literal, Protocol, Unpack

from opentelemetry import trace

from otel_provlog._events import Event, EventFields, Instance
from otel_provlog._operations import Operation, operation, start_operation
from otel_provlog._plan import Plan, PlanLike
from otel_provlog._propagation import extract_context, inject_step, remote_event
from otel_provlog._reporting import bind, event, record_event
from otel_provlog._steps import Step, current_step, start_step, step
from otel_provlog.config import SettingValues

if TYPE_CHECKING:
    from otel_provlog.config import Settings

__all__ = [
    "ConfigureOptions",
    "Event",
    "EventFields",
    "Instance",
    "Operation",
    "Plan",
    "PlanLike",
    "Step",
    "StoreHandle",
    "bind",
    "configure",
    "current_step",
    "event",
    "extract_context",
    "inject_step",
    "operation",
    "record_event",
    "remote_event",
    "start_operation",
    "start_step",
    "step",
]


class ConfigureOptions(SettingValues, total=False):
    """What :func:`configure` takes besides ``settings``: setting values, and how to run.

    See :func:`otel_provlog.exporter.pipeline.configure` for ``drain``, ``upgrade``,
    ``shutdown_timeout_millis``, ``linger`` and ``segment_bytes``.
    """

    drain: Literal["process", "thread", "none"]
    upgrade: bool
    shutdown_timeout_millis: float
    linger: float
    segment_bytes: int


class StoreHandle(Protocol):
    """What :func:`configure` returns (the store path, or a no-op when recording is off)."""

    def force_flush(self, timeout_millis: int = ...) -> bool:
        """Wait until every span ended so far is stored; False when the time ran out."""

    def shutdown(self, timeout_millis: float = ...) -> None:
        """Store what can be stored within the time, then stop; never raises."""


def configure(
    settings: Settings | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    **options: Unpack[ConfigureOptions],
) -> StoreHandle:
    """Wire the store (and OTLP forwarding when configured) onto a tracer provider.

    Args:
        settings: the settings to use; loaded from ``PROVLOG_*`` variables (and the
            ``PROVLOG_CONFIG`` file) when None.
        tracer_provider: the SDK provider to add the processors to; the pipeline picks
            (and installs) one when None.
        options: setting values that beat ``settings`` and the environment, e.g.
            ``database_url="sqlite:///provlog.db"``, and how to run the store path, e.g.
            ``drain="thread"`` (:class:`ConfigureOptions`).

    Returns:
        the store path's handle, with ``force_flush()`` and ``shutdown()``.

    Needs the ``store`` extra (``pip install otel-provlog[store]``): the pipeline is
    imported on this call, never by ``import otel_provlog``.
    """
    pipeline = importlib.import_module("otel_provlog.exporter.pipeline")
    handle: StoreHandle = pipeline.configure(settings, tracer_provider=tracer_provider, **options)
    return handle
