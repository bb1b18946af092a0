"""``provlog demo``: a simulated provisioning recorded into the store, served live.

The store is the one of the settings: by default the embedded SQLite file ``provlog.db``
in the current directory. The simulation (:mod:`otel_provlog.cli.demo_simulation`) runs in
the background while the web page and the API are served by Werkzeug's simple server; the
command prints the cluster's page URL first, then a few ``curl`` lines to try.
``--no-serve`` runs the simulation alone, in the foreground.

Exit codes: 0 the simulation finished (``--no-serve``) or the server was stopped with
Ctrl-C, 1 the store or the settings are unusable, 2 bad usage.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from typing import Any

import click

__all__ = ["demo"]


def _curl_lines(base: str, scenario: Any, auth: str) -> list[str]:
    header = ' -H "Authorization: Bearer $PROVLOG_TOKEN"' if auth == "tokens" else ""
    cluster, tenant = scenario.cluster_id, scenario.tenant_id
    return [
        f"curl -s{header} {base}/v1.1/{tenant}/clusters/{cluster} | python3 -m json.tool",
        f"curl -s{header} {base}/v1.1/{tenant}/clusters/{cluster}/progress",
        f"curl -s{header} '{base}/v2/clusters/{cluster}?show_progress=true'",
        f"curl -s{header} '{base}/v2/clusters/{cluster}/failures?limit=5'",
        f"curl -s{header} '{base}/v2/clusters/{cluster}/steps?sort_by=-created_at'",
        f"curl -s {base}/openapi.json",
    ]


class _OneLineFormatter(logging.Formatter):
    """Log lines without their traceback: the demo's failures keep theirs in the store."""

    def formatException(self, ei: Any) -> str:
        """Leave the traceback out."""
        return ""


def _short_failure_logs() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("[log] %(message)s (traceback in the store)"))
    logger = logging.getLogger("otel_provlog")
    logger.addHandler(handler)
    logger.propagate = False


@click.command()
@click.option("--no-serve", is_flag=True, help="Run the simulation only; do not serve the API.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@click.option(
    "--instances",
    default=300,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Instances of the simulated cluster.",
)
@click.option(
    "--scale-out",
    default=60,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Instances the scale-out adds (0: none).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Multiplies the simulated durations (0: as fast as possible).",
)
@click.option("--seed", type=int, default=None, help="Seed of the random durations and failures.")
def demo(
    no_serve: bool,
    host: str,
    port: int,
    instances: int,
    scale_out: int,
    speed: float,
    seed: int | None,
) -> None:
    """Simulate a cluster provisioning on the embedded SQLite store and serve the API."""
    import otel_provlog
    from otel_provlog.cli import demo_simulation
    from otel_provlog.config import load_settings
    from otel_provlog.exporter import migrate

    try:
        settings = load_settings()
        migrate.upgrade(settings.database_url)
        store = otel_provlog.configure(settings)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if not settings.enabled:
        click.echo("recording is off (PROVLOG_ENABLED / OTEL_SDK_DISABLED): nothing is stored")
    scenario = demo_simulation.Scenario(
        cluster_id=f"demo-{uuid.uuid4().hex[:8]}",
        instances=instances,
        scale_out=scale_out,
        speed=speed,
        seed=seed,
    )
    _short_failure_logs()
    if no_serve:
        click.echo(f"store: {settings.database_url}")
        try:
            demo_simulation.run(scenario, report=click.echo)
        finally:
            store.force_flush()
            store.shutdown()
        click.echo("serve what was recorded with: provlog serve")
        return
    _serve(settings, scenario, store, host=host, port=port)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(settings: Any, scenario: Any, store: Any, *, host: str, port: int) -> None:
    from werkzeug.serving import make_server

    from otel_provlog.api import create_app
    from otel_provlog.cli import demo_simulation

    def _simulate() -> None:
        demo_simulation.run(scenario, report=lambda line: click.echo(f"[simulation] {line}"))
        store.force_flush()

    app = create_app(settings)
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host if ':' not in host else f'[{host}]'}:{server.server_port}"
    click.echo(f"the event log page: {base}/clusters/{scenario.cluster_id}")
    click.echo(f"store: {settings.database_url}")
    click.echo(f"serving the page and the API on {base} (Ctrl-C stops); try:")
    for line in _curl_lines(base, scenario, settings.auth):
        click.echo(f"  {line}")
    threading.Thread(target=_simulate, name="provlog-demo", daemon=True).start()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.server_close()
        store.shutdown()
        app.extensions["provlog"]["engine"].dispose()
