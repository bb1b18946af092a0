"""The OpenAPI 3.0 document of the API, kept by hand next to the views it describes.

The test suite validates it with ``openapi-spec-validator`` and runs schemathesis against
the application with it, so a view and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Final

from otel_provlog.api.openapi_schemas import (
    ID,
    NO_COMMA,
    PRINTABLE,
    array,
    component_schemas,
    obj,
    ref,
    string,
    timestamp,
)
from otel_provlog.api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from otel_provlog.attributes import STEP_TYPES
from otel_provlog.exporter.models import RUN_STATUSES
from otel_provlog.exporter.queries import CLUSTER_SORT_KEYS, EVENT_SORT_KEYS, STEP_SORT_KEYS

__all__ = ["openapi_document"]

Json = dict[str, Any]


def _query(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or string(minLength=1, maxLength=255, pattern=PRINTABLE),
    }


def _list_query(name: str, description: str, values: list[str] | None = None) -> Json:
    item = string(enum=values) if values else string(minLength=1, pattern=NO_COMMA)
    return {
        **_query(name, description + " Comma separated, or repeated.", array(item)),
        "style": "form",
        "explode": False,
    }


_ID: Final = string(minLength=1, maxLength=255, pattern=ID)


def _path(name: str) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": _ID,
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
        _query("sort_by", "Sort key; a leading '-' sorts descending.", string(enum=orders)),
    ]


_WINDOW = [
    _query("created_after", "Only rows created at or after this time.", timestamp()),
    _query("created_before", "Only rows created before this time.", timestamp()),
]
_SHOW_PROGRESS = _query(
    "show_progress", "'true' (any case) adds each step's events.", string(maxLength=16)
)
_SUCCESSFUL = _query("successful", "true or false.", string(enum=["true", "false"]))
_EVENT_FILTERS = [
    _query("provision_step", "Only events of this step (its id).", string(format="uuid")),
    _list_query("node_group_id", "Only events of these node groups."),
    _list_query("instance_id", "Only events of these instances."),
]
_ERRORS = (400, 401, 403, 404, 500, 503)


def _operation(summary: str, params: list[Json], body: str, tag: str) -> Json:
    responses: Json = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": ref(body)}},
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
        _list_query("status", "Only steps in these statuses.", list(RUN_STATUSES)),
        _list_query("step_type", "Only steps of these types.", list(STEP_TYPES)),
        _query("step_name", "Only steps of this name."),
        _query(
            "successful",
            "true, false or null (still running).",
            string(enum=["true", "false", "null"]),
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
            [_query("project_id", "Only this tenant's clusters.", _ID), *cluster_list],
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
                _query("error_id", "Only the failure with this error id.", _ID),
                *_WINDOW,
                *_pagination(EVENT_SORT_KEYS),
            ],
            "FailureList",
            "drill-down",
        ),
        "/v2/clusters/{cluster_id}/failure-groups": _operation(
            "List a cluster's failures grouped by cause (largest group first)",
            [
                cluster,
                _EVENT_FILTERS[0],
                _EVENT_FILTERS[1],
                *_pagination(EVENT_SORT_KEYS)[:2],
            ],
            "FailureGroupList",
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
                        "content": {"application/json": {"schema": obj({"status": string()})}},
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
            "schemas": component_schemas(),
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {"application/json": {"schema": ref("Error")}},
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
