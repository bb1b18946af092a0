"""Endpoints about the API itself, open to every caller: its OpenAPI document and health.

- ``GET /openapi.json``: the OpenAPI 3 document describing every endpoint.
- ``GET /healthz``: ``{"status": "ok"}`` when the store answers, a 503 otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from otel_provlog.api.database import read_session
from otel_provlog.api.errors import error_response
from otel_provlog.api.openapi import openapi_document

__all__ = ["blueprint"]

logger = logging.getLogger(__name__)

blueprint = Blueprint("meta", __name__)


@blueprint.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """Return the OpenAPI document of this API."""
    return openapi_document()


@blueprint.get("/healthz")
def health() -> ResponseReturnValue:
    """Tell whether the API can read its store."""
    try:
        read_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        logger.exception("health check: the store does not answer")
        return error_response(503, "SERVICE_UNAVAILABLE", "The store does not answer")
    return jsonify(status="ok")
