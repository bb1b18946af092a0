"""The span vocabulary: every attribute key and value of the adapter's wire format.

This module is the single owner of the names pinned in the public contract. Any
OpenTelemetry SDK, in any language, that emits spans with these attributes is
understood by the store exactly like spans made by :mod:`otel_provlog` itself.

========================  =====================  =============================================
span                      ``provisioning.span``  attributes
========================  =====================  =============================================
cluster operation (root)  ``operation``          cluster id/name, tenant id, step type, plan
operation started marker  ``operation.start``    the same as its operation (zero-length child)
provisioning step         ``step``               cluster id, tenant id, step name/type/total
step started marker       ``step.start``         the same as its step (zero-length child)
per-instance event        ``event``              cluster id, node group, instance id/name,
                                                 event info; on failure ``error_id``
========================  =====================  =============================================

A failure's message and its stack travel apart, as OpenTelemetry records exceptions: the
``exception`` span event's ``exception.type`` and ``exception.message`` (and the event info)
are shown to every reader; ``exception.stacktrace`` only to admins. Nothing is recognised in
text, so a stack put anywhere but ``exception.stacktrace`` is shown as a message.

The two markers are ended the moment their operation or step begins, so that everything
needed to show a running operation (the cluster's name and tenant, the operation's step
type and plan, its steps and their place in the plan) is in ended spans long before the
operation span itself ends. A marker arriving after its operation or step ended changes
nothing; spans without markers (from SDKs that do not emit them) still work, the running
operation then showing up only when its span ends.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CLUSTER_ID",
    "CLUSTER_NAME",
    "ERROR_ID",
    "EVENT_INFO",
    "EXCEPTION_EVENT",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_STACKTRACE",
    "EXCEPTION_TYPE",
    "INSTANCE_ID",
    "INSTANCE_NAME",
    "NODE_GROUP_ID",
    "PLAN",
    "PREFIX",
    "SPAN_EVENT",
    "SPAN_KIND",
    "SPAN_KINDS",
    "SPAN_OPERATION",
    "SPAN_OPERATION_START",
    "SPAN_STEP",
    "SPAN_STEP_START",
    "STEP_NAME",
    "STEP_TOTAL",
    "STEP_TYPE",
    "STEP_TYPES",
    "STEP_TYPE_CREATING",
    "STEP_TYPE_DELETING",
    "STEP_TYPE_SCALING",
    "TENANT_ID",
]

PREFIX: Final = "provisioning."
"""What every attribute key of the adapter begins with; spans carry others too, which it ignores."""

SPAN_KIND: Final = "provisioning.span"
"""Which part of the event log a span is: one of :data:`SPAN_KINDS`."""

SPAN_OPERATION: Final = "operation"
"""A cluster operation (creating, scaling, deleting): the root span."""
SPAN_OPERATION_START: Final = "operation.start"
"""The zero-length marker emitted as an operation begins, a child of the operation span."""
SPAN_STEP: Final = "step"
"""A provisioning step: child of its operation, parent of its events."""
SPAN_STEP_START: Final = "step.start"
"""The zero-length marker emitted as a step begins, a child of the step span."""
SPAN_EVENT: Final = "event"
"""One per-instance event: a child of its step."""
SPAN_KINDS: Final = frozenset(
    {SPAN_OPERATION, SPAN_OPERATION_START, SPAN_STEP, SPAN_STEP_START, SPAN_EVENT}
)
"""Every value :data:`SPAN_KIND` may take."""

CLUSTER_ID: Final = "provisioning.cluster.id"
"""The cluster a span belongs to (on every span)."""
CLUSTER_NAME: Final = "provisioning.cluster.name"
"""The cluster's display name (operation spans and their start markers)."""
TENANT_ID: Final = "provisioning.tenant.id"
"""The tenant (project) owning the cluster (operation and step spans)."""

STEP_NAME: Final = "provisioning.step.name"
"""The step's description, e.g. ``"Launching instances"``."""
STEP_TYPE: Final = "provisioning.step.type"
"""The kind of operation: one of :data:`STEP_TYPES`."""
STEP_TOTAL: Final = "provisioning.step.total"
"""How many events the step expects (an int)."""
PLAN: Final = "provisioning.plan"
"""The step names a plugin declared for the operation (a sequence of strings)."""

NODE_GROUP_ID: Final = "provisioning.node_group.id"
"""The node group of the instance an event is about."""
INSTANCE_ID: Final = "provisioning.instance.id"
"""The instance an event is about."""
INSTANCE_NAME: Final = "provisioning.instance.name"
"""The display name of the instance an event is about."""
EVENT_INFO: Final = "provisioning.event.info"
"""Free text about an event, shown to every reader: on failure, its message, never a stack."""
ERROR_ID: Final = "provisioning.event.error_id"
"""A UUID naming a failure, also written to the Python log with the traceback."""

EXCEPTION_EVENT: Final = "exception"
"""The name of the span event an exception is recorded as (OpenTelemetry's conventions)."""
EXCEPTION_TYPE: Final = "exception.type"
"""The exception's type, e.g. ``TimeoutError`` or ``java.net.ConnectException``."""
EXCEPTION_MESSAGE: Final = "exception.message"
"""The exception's message: shown to every reader of the event."""
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
"""The exception's stack, in the language's own form: shown to admins only."""

STEP_TYPE_CREATING: Final = "creating"
"""Step type of an operation creating a cluster."""
STEP_TYPE_SCALING: Final = "scaling"
"""Step type of an operation scaling a cluster."""
STEP_TYPE_DELETING: Final = "deleting"
"""Step type of an operation deleting a cluster."""
STEP_TYPES: Final = (STEP_TYPE_CREATING, STEP_TYPE_SCALING, STEP_TYPE_DELETING)
"""Every value :data:`STEP_TYPE` may take, in the order a cluster's life runs."""
