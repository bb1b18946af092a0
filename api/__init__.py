"""The REST API over the store: a Flask application made by :func:`create_app`.

Run it with ``provlog serve`` (gunicorn, several workers), or in-process::

    from otel_provlog.api import create_app

    app = create_app()  # settings from PROVLOG_* (database URL, auth mode)
    app.run()

Endpoints (every body is JSON; see ``/openapi.json``):

- ``GET /v1.1/<tenant_id>/clusters[/<cluster_id>[/progress]]``: Sahara's v1.1 paths;
- ``GET /v2/clusters[/<cluster_id>]``: Sahara's v2 paths (``project_id``, strict params);
- ``GET /v2/clusters/<cluster_id>/{steps,events,failures}``: drilling down;
- ``GET /openapi.json`` and ``GET /healthz``;
- the web page (HTML): ``/``, ``/clusters/<cluster_id>``,
  ``/clusters/<cluster_id>/instances/<instance_id>`` (:mod:`otel_provlog.api.pages`).

Authentication is described in :mod:`otel_provlog.api.auth`. The API only reads: its
engine is read-only at the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import Engine

from otel_provlog.config import Settings, load_settings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    test_config: Mapping[str, Any] | None = None,
    engine: Engine | None = None,
) -> Flask:
    """Make the API application.

    Args:
        settings: the settings to serve with (loaded from ``PROVLOG_*`` when None): the
            store's URL and the authentication mode.
        test_config: Flask configuration to apply last; also accepts ``PROVLOG_AUTH``,
            ``PROVLOG_API_TOKENS`` and ``PROVLOG_API_TOKENS_FILE``.
        engine: the engine to read with (a read-only engine on ``settings.database_url``
            is made when None).

    Raises:
        ValueError: for an unknown authentication mode or a malformed token table.
    """
    from otel_provlog.api import clusters, events, ingest, meta, pages, sahara_v2
    from otel_provlog.api.auth import Authenticator, install_auth
    from otel_provlog.api.database import create_reader_engine, install_database
    from otel_provlog.api.errors import install_error_handlers

    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(
        PROVLOG_AUTH=settings.auth,
        PROVLOG_DATABASE_URL=settings.database_url,
        PROVLOG_TRACE_URL=settings.trace_url,
        PROVLOG_API_TOKENS=settings.api_tokens or "",
        PROVLOG_API_TOKENS_FILE=settings.api_tokens_file or "",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="provlog_session",
    )
    if test_config is not None:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    authenticator = Authenticator.from_tables(
        app.config["PROVLOG_AUTH"],
        tokens=app.config["PROVLOG_API_TOKENS"],
        tokens_file=app.config["PROVLOG_API_TOKENS_FILE"],
    )
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _derived_secret(authenticator)
    install_error_handlers(app)
    install_auth(app, authenticator)
    install_database(app, engine or create_reader_engine(app.config["PROVLOG_DATABASE_URL"]))
    for blueprint in (clusters.blueprint, sahara_v2.blueprint, events.blueprint, meta.blueprint):
        app.register_blueprint(blueprint)
    app.register_blueprint(ingest.blueprint)
    app.register_blueprint(pages.blueprint)
    return app


def _derived_secret(authenticator: Any) -> str:
    """Return the page's cookie key when ``PROVLOG_SECRET_KEY`` is unset.

    It is derived from the token table (SHA-256 hashes known to the server only), so every
    worker of ``provlog serve`` signs alike; changing the tokens signs every browser out.
    """
    table = ",".join(sorted(authenticator.tokens))
    return hashlib.sha256(f"provlog page cookie\n{table}".encode()).hexdigest()
