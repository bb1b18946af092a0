"""``provlog serve``: the REST API under gunicorn, with several worker processes.

Each worker builds the application from the ``PROVLOG_*`` settings of the environment
(database URL, authentication mode and tokens), so the command needs nothing else. The
store must exist already (``provlog db upgrade``); the API only reads it.

Exit codes: 0 stopped on request (SIGTERM or SIGINT), 1 the settings are unusable or the
server could not start, 2 bad usage.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import click

__all__ = ["default_workers", "serve"]


def default_workers() -> int:
    """Return the default worker count: two per CPU plus one, at most eight."""
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def _check_settings() -> None:
    """Build the application once so that bad settings fail here, not in every worker."""
    from otel_provlog.api import create_app

    app = create_app()
    app.extensions["provlog"]["engine"].dispose()


def _run_gunicorn(options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class _ApiServer(BaseApplication):  # type: ignore[misc]
        """Gunicorn serving :func:`otel_provlog.api.create_app`, configured in code."""

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 25.1 and later
                # Its control socket (for gunicornc) is an asyncio thread in the master that
                # is stopped before every fork and again before the workers are told to stop,
                # each time waiting seconds on a busy machine; and its default path is shared
                # by every gunicorn of the user. The API does not use it.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            from otel_provlog.api import create_app

            return create_app()

    _ApiServer().run()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes [default: 2 per CPU plus 1, at most 8].",
)
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Seconds a worker may spend on one request before it is restarted.",
)
def serve(host: str, port: int, workers: int | None, timeout: int) -> None:
    """Serve the REST API (and its OpenAPI document) under gunicorn."""
    try:
        _check_settings()
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    from otel_provlog.config import load_settings
    from otel_provlog.exporter.retention import start_retention_process

    settings = load_settings()  # the events clean-up runs beside the API, in its own process
    pruner = start_retention_process(settings.database_url, settings.event_retention)
    try:
        _run_gunicorn(
            {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers or default_workers(),
                "timeout": timeout,
                "accesslog": "-",
                "errorlog": "-",
                "proc_name": "provlog-api",
            }
        )
    finally:
        pruner.terminate()
        try:
            pruner.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pruner.kill()
            pruner.wait()
