"""The reusable parts of the OpenAPI document: JSON Schema helpers and the components.

Kept apart from :mod:`otel_provlog.api.openapi` (the paths) so each stays short.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "NO_COMMA",
    "PRINTABLE",
    "array",
    "component_schemas",
    "obj",
    "ref",
    "string",
    "timestamp",
]

Json = dict[str, Any]

_REF: Final = "#/components/schemas/"
PRINTABLE: Final = "^[^\\x00-\\x1f\\x7f]+$"
"""Ids and texts in paths and queries: no control characters (others are a 400)."""
ID: Final = "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f\\x85][^\\x00-\\x1f\\x7f]*$"
"""Ids in paths and queries: printable, and more than whitespace (kept without it)."""
NO_COMMA: Final = "^[^\\x00-\\x1f\\x7f,]{1,255}$"
"""One value of a comma-separated list parameter."""


def ref(name: str) -> Json:
    """Return a reference to the component schema ``name``."""
    return {"$ref": _REF + name}


def string(nullable: bool = False, **more: Any) -> Json:
    """Return a string schema (nullable when asked) with any further keywords."""
    return {"type": "string", "nullable": True, **more} if nullable else {"type": "string", **more}


def timestamp(nullable: bool = False) -> Json:
    """Return an ISO 8601 timestamp schema."""
    return string(nullable, format="date-time")


def _int(nullable: bool = False) -> Json:
    return {"type": "integer", "nullable": True} if nullable else {"type": "integer"}


def _num(nullable: bool = True) -> Json:
    return {"type": "number", "nullable": True} if nullable else {"type": "number"}


def _bool(nullable: bool = False) -> Json:
    return {"type": "boolean", "nullable": True} if nullable else {"type": "boolean"}


def obj(properties: Json, *, required: list[str] | None = None) -> Json:
    """Return an object schema; every property is required unless ``required`` says."""
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else sorted(properties),
    }


def array(items: Json) -> Json:
    """Return an array schema of ``items``."""
    return {"type": "array", "items": items}


_ESTIMATE = obj(
    {
        "seconds_left": _num(),
        "basis": string(enum=["rate", "history", "rate+history", "ended", "none"]),
        "expected_duration": _num(),
        "history_samples": _int(),
        "actual_duration": _num(),
        "error_seconds": _num(),
        "error_ratio": _num(),
    }
)
_STEP_FIELDS = {
    "id": string(),
    "cluster_id": string(),
    "operation_id": string(True),
    "step_name": string(),
    "step_type": string(True),
    "position": _int(True),
    "completed": _int(),
    "failed": _int(),
    "total": _int(True),
    "successful": _bool(True),
    "status": string(),
    "created_at": timestamp(),
    "started_at": timestamp(True),
    "completed_at": timestamp(True),
    "updated_at": timestamp(),
    "duration": _num(),
    "progress": string(),
}
_STEP = obj({**_STEP_FIELDS, "estimate": ref("Estimate")}, required=sorted(_STEP_FIELDS))
_STACKTRACE = string(
    True, description="The failure's stack (exception.stacktrace): for admins only, else null."
)
_EVENT = obj(
    {
        "id": string(),
        "cluster_id": string(),
        "node_group_id": string(True),
        "instance_id": string(True),
        "instance_name": string(True),
        "provisioning_step_id": string(),
        "event_info": string(True, description="Free text; on failure, the message."),
        "stacktrace": _STACKTRACE,
        "successful": _bool(),
        "error_id": string(True),
        "started_at": timestamp(True),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    }
)
_SAHARA_EVENT = obj(
    {
        "id": string(),
        "node_group_id": string(True),
        "instance_id": string(True),
        "instance_name": string(True),
        "event_info": string(True, description="Free text; on failure, the message."),
        "stacktrace": _STACKTRACE,
        "successful": _bool(),
        "step_id": string(),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    }
)


def _sahara_step(tenant_key: str) -> Json:
    fields = {
        "id": string(),
        "cluster_id": string(),
        tenant_key: string(True),
        "step_name": string(),
        "step_type": string(True),
        "total": _int(True),
        "successful": _bool(True),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    }
    return obj({**fields, "events": array(ref("SaharaEvent"))}, required=sorted(fields))


_OPERATION = {
    "type": "object",
    "nullable": True,
    "properties": {
        "id": string(),
        "step_type": string(),
        "status": string(),
        "successful": _bool(True),
        "plan": {"type": "array", "items": string(), "nullable": True},
        "created_at": timestamp(),
        "started_at": timestamp(True),
        "completed_at": timestamp(True),
        "updated_at": timestamp(),
        "estimate": {
            "type": "object",
            "nullable": True,
            "properties": {
                "seconds_left": _num(),
                "steps_left": _int(),
                "unknown_steps": _int(),
            },
            "required": ["seconds_left", "steps_left", "unknown_steps"],
        },
        "trace_id": string(description="The operation's trace (32 hex digits)."),
        "trace_url": string(
            True, description="The trace in Jaeger or Tempo (PROVLOG_TRACE_URL); null when unset."
        ),
    },
    "required": ["id", "step_type", "status", "successful", "plan", "created_at", "trace_url"],
}


def _cluster(tenant_key: str, sahara_step: str) -> Json:
    return obj(
        {
            "id": string(),
            "name": string(True),
            tenant_key: string(True),
            "status": string(),
            "status_description": string(True),
            "created_at": timestamp(),
            "updated_at": timestamp(),
            "operation": _OPERATION,
            "provisioning_progress": array(ref("Step")),
            "provision_progress": array(ref(sahara_step)),
        }
    )


_FAILURE_EXAMPLE = obj(
    {
        "event_id": string(),
        "instance_id": string(True),
        "instance_name": string(True),
        "node_group_id": string(True),
        "error_id": string(True),
        "provisioning_step_id": string(),
    },
    required=["event_id", "provisioning_step_id"],
)
_FAILURE_GROUP = obj(
    {
        "fingerprint": string(description="Hash of the pattern: the group's key and marker."),
        "pattern": string(
            True, description="The message with ids, addresses, names and numbers replaced."
        ),
        "message": string(True, description="One real message of the group."),
        "count": _int(),
        "node_groups": {
            "type": "object",
            "description": "Failures per node group id ('' for none).",
            "additionalProperties": _int(),
        },
        "first_seen": timestamp(),
        "last_seen": timestamp(),
        "examples": array(ref("FailureExample")),
    },
    required=["fingerprint", "count", "node_groups", "first_seen", "last_seen", "examples"],
)
_MARKERS = obj({"prev": string(True), "next": string(True)})
_ERROR = obj(
    {
        "error_code": _int(),
        "error_name": string(),
        "error_message": string(),
        "request_id": string(),
        "error_id": string(),
    },
    required=["error_code", "error_name", "error_message", "request_id"],
)


def _list(name: str, item: str, extra: Json | None = None) -> Json:
    return obj(
        {name: array(ref(item)), "markers": ref("Markers"), **(extra or {})}, required=[name]
    )


def component_schemas() -> Json:
    """Return the ``components.schemas`` of the document."""
    return {
        "Estimate": _ESTIMATE,
        "Step": _STEP,
        "Event": _EVENT,
        "SaharaEvent": _SAHARA_EVENT,
        "SaharaStep": _sahara_step("tenant_id"),
        "SaharaStepV2": _sahara_step("project_id"),
        "Cluster": _cluster("tenant_id", "SaharaStep"),
        "ClusterV2": _cluster("project_id", "SaharaStepV2"),
        "Markers": _MARKERS,
        "Error": _ERROR,
        "ClusterDocument": obj({"cluster": ref("Cluster")}),
        "ClusterDocumentV2": obj({"cluster": ref("ClusterV2")}),
        "ClusterList": _list("clusters", "Cluster"),
        "ClusterListV2": _list("clusters", "ClusterV2"),
        "StepDocument": obj({"step": ref("Step")}),
        "StepList": _list("steps", "Step"),
        "EventList": _list("events", "Event"),
        "FailureList": _list("failures", "Event"),
        "FailureExample": _FAILURE_EXAMPLE,
        "FailureGroup": _FAILURE_GROUP,
        "FailureGroupList": _list("failure_groups", "FailureGroup"),
        "Progress": _list("events", "Event", {"step": {"allOf": [ref("Step")], "nullable": True}}),
    }
