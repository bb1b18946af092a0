"""The OpenAPI 3.0 document of the API, kept by hand next to the views it describes.

The test suite validates it with ``openapi-spec-validator`` and runs schemathesis against
the application with it, so a view and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Final

from otel_provlog.api.events import STEP_STATUSES, STEP_TYPES
from otel_provlog.api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from otel_provlog.exporter.queries import CLUSTER_SORT_KEYS, EVENT_SORT_KEYS, STEP_SORT_KEYS

__all__ = ["openapi_document"]

Json = dict[str, Any]

_REF: Final = "#/components/schemas/"
_PRINTABLE: Final = "^[^\\x00-\\x1f\\x7f]+$"
"""Ids and texts in paths and queries: no control characters (others are a 400)."""
_NO_COMMA: Final = "^[^\\x00-\\x1f\\x7f,]{1,255}$"


def _ref(name: str) -> Json:
    return {"$ref": _REF + name}


def _str(nullable: bool = False, **more: Any) -> Json:
    return (
        {"type": "string", "nullable": nullable, **more} if nullable else {"type": "string", **more}
    )


def _time(nullable: bool = False) -> Json:
    return _str(nullable, format="date-time")


def _int(nullable: bool = False) -> Json:
    return {"type": "integer", "nullable": True} if nullable else {"type": "integer"}


def _num(nullable: bool = True) -> Json:
    return {"type": "number", "nullable": True} if nullable else {"type": "number"}


def _bool(nullable: bool = False) -> Json:
    return {"type": "boolean", "nullable": True} if nullable else {"type": "boolean"}


def _object(properties: Json, *, required: list[str] | None = None) -> Json:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else sorted(properties),
    }


def _array(items: Json) -> Json:
    return {"type": "array", "items": items}


_ESTIMATE = _object(
    {
        "seconds_left": _num(),
        "basis": _str(enum=["rate", "history", "rate+history", "ended", "none"]),
        "expected_duration": _num(),
        "history_samples": _int(),
        "actual_duration": _num(),
        "error_seconds": _num(),
        "error_ratio": _num(),
    }
)
_STEP_FIELDS = {
    "id": _str(),
    "cluster_id": _str(),
    "operation_id": _str(True),
    "step_name": _str(),
    "step_type": _str(True),
    "position": _int(True),
    "completed": _int(),
    "failed": _int(),
    "total": _int(True),
    "successful": _bool(True),
    "status": _str(),
    "created_at": _time(),
    "started_at": _time(True),
    "completed_at": _time(True),
    "updated_at": _time(),
    "duration": _num(),
    "progress": _str(),
}
_STEP = _object({**_STEP_FIELDS, "estimate": _ref("Estimate")}, required=sorted(_STEP_FIELDS))
_EVENT = _object(
    {
        "id": _str(),
        "cluster_id": _str(),
        "node_group_id": _str(True),
        "instance_id": _str(True),
        "instance_name": _str(True),
        "provisioning_step_id": _str(),
        "event_info": _str(True),
        "successful": _bool(),
        "error_id": _str(True),
        "started_at": _time(True),
        "created_at": _time(),
        "updated_at": _time(),
    }
)
_SAHARA_EVENT = _object(
    {
        "id": _str(),
        "node_group_id": _str(True),
        "instance_id": _str(True),
        "instance_name": _str(True),
        "event_info": _str(True),
        "successful": _bool(),
        "step_id": _str(),
        "created_at": _time(),
        "updated_at": _time(),
    }
)


def _sahara_step(tenant_key: str) -> Json:
    fields = {
        "id": _str(),
        "cluster_id": _str(),
        tenant_key: _str(True),
        "step_name": _str(),
        "step_type": _str(True),
        "total": _int(True),
        "successful": _bool(True),
        "created_at": _time(),
        "updated_at": _time(),
    }
    return _object({**fields, "events": _array(_ref("SaharaEvent"))}, required=sorted(fields))


_OPERATION = {
    "type": "object",
    "nullable": True,
    "properties": {
        "id": _str(),
        "step_type": _str(),
        "status": _str(),
        "successful": _bool(True),
        "plan": {"type": "array", "items": _str(), "nullable": True},
        "created_at": _time(),
        "started_at": _time(True),
        "completed_at": _time(True),
        "updated_at": _time(),
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
    },
    "required": ["id", "step_type", "status", "successful", "plan", "created_at"],
}


def _cluster(tenant_key: str, sahara_step: str) -> Json:
    return _object(
        {
            "id": _str(),
            "name": _str(True),
            tenant_key: _str(True),
            "status": _str(),
            "status_description": _str(True),
            "created_at": _time(),
            "updated_at": _time(),
            "operation": _OPERATION,
            "provisioning_progress": _array(_ref("Step")),
            "provision_progress": _array(_ref(sahara_step)),
        }
    )


_MARKERS = _object({"prev": _str(True), "next": _str(True)})
_ERROR = _object(
    {
        "error_code": _int(),
        "error_name": _str(),
        "error_message": _str(),
        "request_id": _str(),
        "error_id": _str(),
    },
    required=["error_code", "error_name", "error_message", "request_id"],
)


def _list(name: str, item: str, extra: Json | None = None) -> Json:
    return _object(
        {name: _array(_ref(item)), "markers": _ref("Markers"), **(extra or {})}, required=[name]
    )


def _query(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _str(minLength=1, maxLength=255, pattern=_PRINTABLE),
    }


def _list_query(name: str, description: str, values: list[str] | None = None) -> Json:
    item = _str(enum=values) if values else _str(minLength=1, pattern=_NO_COMMA)
    return {
        **_query(name, description + " Comma separated, or repeated.", _array(item)),
        "style": "form",
        "explode": False,
    }


def _path(name: str) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": _str(minLength=1, maxLength=255, pattern=_PRINTABLE),
    }


def _pagination(keys: tuple[str, ...]) -> list[Json]:
    orders = [*keys, *(f"-{key}" for key in keys)]
    return [
        _query(
            "limit",
            f"Page size (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}).",
            {"type": "integer", "minimum": 1},
        ),
        _query("marker", "The id of the last row of the page before."),
        _query("sort_by", "Sort key; a leading '-' sorts descending.", _str(enum=orders)),
    ]


_WINDOW = [
    _query("created_after", "Only rows created at or after this time.", _time()),
    _query("created_before", "Only rows created before this time.", _time()),
]
_SHOW_PROGRESS = _query(
    "show_progress", "'true' (any case) adds each step's events.", _str(maxLength=16)
)
_SUCCESSFUL = _query("successful", "true or false.", _str(enum=["true", "false"]))
_EVENT_FILTERS = [
    _query("provision_step", "Only events of this step (its id).", _str(format="uuid")),
    _list_query("node_group_id", "Only events of these node groups."),
    _list_query("instance_id", "Only events of these instances."),
]
_ERRORS = (400, 401, 403, 404, 500)


def _operation(summary: str, params: list[Json], body: str, tag: str) -> Json:
    responses: Json = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": _ref(body)}},
        }
    }
    for status in _ERRORS:
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    return {
        "get": {"summary": summary, "tags": [tag], "parameters": params, "responses": responses}
    }


def _paths() -> Json:
    tenant, cluster = _path("tenant_id"), _path("cluster_id")
    cluster_list = [
        _query("name", "Only clusters of this name."),
        _list_query("status", "Only clusters in these statuses."),
        *_WINDOW,
        *_pagination(CLUSTER_SORT_KEYS),
    ]
    step_filters = [
        _list_query("status", "Only steps in these statuses.", list(STEP_STATUSES)),
        _list_query("step_type", "Only steps of these types.", list(STEP_TYPES)),
        _query("step_name", "Only steps of this name."),
        _query(
            "successful",
            "true, false or null (still running).",
            _str(enum=["true", "false", "null"]),
        ),
        _query("operation_id", "Only steps of this operation."),
    ]
    return {
        "/v1.1/{tenant_id}/clusters": _operation(
            "List a tenant's clusters", [tenant, *cluster_list], "ClusterList", "v1.1"
        ),
        "/v1.1/{tenant_id}/clusters/{cluster_id}": _operation(
            "Show a cluster with its provisioning progress",
            [tenant, cluster, _SHOW_PROGRESS],
            "ClusterDocument",
            "v1.1",
        ),
        "/v1.1/{tenant_id}/clusters/{cluster_id}/progress": _operation(
            "List the events of the current step (or of provision_step)",
            [tenant, cluster, _EVENT_FILTERS[0], *_pagination(EVENT_SORT_KEYS)],
            "Progress",
            "v1.1",
        ),
        "/v2/clusters": _operation(
            "List the caller's clusters (every tenant's for an admin)",
            [_query("project_id", "Only this tenant's clusters."), *cluster_list],
            "ClusterListV2",
            "v2",
        ),
        "/v2/clusters/{cluster_id}": _operation(
            "Show a cluster, Sahara v2 style",
            [cluster, _SHOW_PROGRESS, *_pagination(CLUSTER_SORT_KEYS)],
            "ClusterDocumentV2",
            "v2",
        ),
        "/v2/clusters/{cluster_id}/steps": _operation(
            "List a cluster's steps",
            [cluster, *step_filters, *_WINDOW, *_pagination(STEP_SORT_KEYS)],
            "StepList",
            "drill-down",
        ),
        "/v2/clusters/{cluster_id}/steps/{step_id}": _operation(
            "Show one step with its estimate",
            [cluster, _path("step_id")],
            "StepDocument",
            "drill-down",
        ),
        "/v2/clusters/{cluster_id}/events": _operation(
            "List a cluster's events",
            [cluster, *_EVENT_FILTERS, _SUCCESSFUL, *_WINDOW, *_pagination(EVENT_SORT_KEYS)],
            "EventList",
            "drill-down",
        ),
        "/v2/clusters/{cluster_id}/failures": _operation(
            "List a cluster's failed events",
            [
                cluster,
                *_EVENT_FILTERS,
                _query("error_id", "Only the failure with this error id."),
                *_WINDOW,
                *_pagination(EVENT_SORT_KEYS),
            ],
            "FailureList",
            "drill-down",
        ),
        "/healthz": {
            "get": {
                "summary": "Tell whether the API can read its store",
                "tags": ["meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": _object({"status": _str()})}},
                    },
                    "503": {"$ref": "#/components/responses/Error"},
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _schemas() -> Json:
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
        "ClusterDocument": _object({"cluster": _ref("Cluster")}),
        "ClusterDocumentV2": _object({"cluster": _ref("ClusterV2")}),
        "ClusterList": _list("clusters", "Cluster"),
        "ClusterListV2": _list("clusters", "ClusterV2"),
        "StepDocument": _object({"step": _ref("Step")}),
        "StepList": _list("steps", "Step"),
        "EventList": _list("events", "Event"),
        "FailureList": _list("failures", "Event"),
        "Progress": _list("events", "Event", {"step": {"allOf": [_ref("Step")], "nullable": True}}),
    }


@cache
def _document() -> Json:
    from otel_provlog.api import ingest

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "otel-provlog",
            "version": "1",
            "description": (
                "The event log of cluster provisioning: steps, events and failures, with "
                "Sahara-compatible cluster documents. Every error is a JSON object with "
                "error_code, error_name, error_message and request_id."
            ),
        },
        "paths": {**_paths(), **ingest.openapi_paths()},
        "components": {
            "schemas": _schemas(),
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "proxyProject": {"type": "apiKey", "in": "header", "name": "X-Project-Id"},
            },
        },
        "security": [{}, {"bearer": []}, {"authToken": []}, {"proxyProject": []}],
    }


def openapi_document() -> Json:
    """Return the OpenAPI document (a fresh copy the caller may change)."""
    return copy.deepcopy(_document())
