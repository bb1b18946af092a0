"""``provlog demo``: a simulated provisioning recorded into the store, served live.

The store is the one of the settings: by default the embedded SQLite file ``provlog.db``
in the current directory. The simulation (:mod:`otel_provlog.cli.demo_simulation`) runs in
the background while the web page and the API are served by Werkzeug's simple server; the
command prints the cluster's page URL first, then a few ``curl`` and ``provlog watch``
lines to try. ``--no-serve`` runs the simulation alone, in the foreground. Beside it, the
engine of a second cluster is killed in the middle of a step (a process of its own), which
leaves that step, its operation and the cluster interrupted (``--no-interrupted`` leaves
it out).

Exit codes: 0 the simulation finished (``--no-serve``) or the server was stopped with
Ctrl-C, 1 the store or the settings are unusable, 2 bad usage.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable
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
        f"provlog watch {cluster} --api-url {base}",
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
    type=click.IntRange(1, 10_000),
    help="Instances of the simulated cluster (3 masters, workers in node groups of 1000).",
)
@click.option(
    "--scale-out",
    default=60,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Instances the scale-out adds (0: none).",
)
@click.option(
    "--failure-rate",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Chance that an instance fails once (and is retried) in a step that can fail.",
)
@click.option(
    "--no-interrupted",
    is_flag=True,
    help="Leave out the second cluster, whose engine is killed in the middle of a step.",
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
    failure_rate: float,
    no_interrupted: bool,
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
        failure_rate=failure_rate,
        seed=seed,
    )
    dying = None
    if not no_interrupted:
        dying = demo_simulation.Scenario(
            cluster_id=f"demo-{uuid.uuid4().hex[:8]}",
            cluster_name="demo-restarted",
            instances=min(instances, 40),
            scale_out=0,
            speed=max(speed, 0.05),  # events in flight when it is killed
            failure_rate=0.0,
            seed=seed,
        )
    _short_failure_logs()
    if no_serve:
        click.echo(f"store: {settings.database_url}")
        try:
            _simulate(settings, scenario, dying, click.echo)
        finally:
            store.force_flush()
            store.shutdown()
        click.echo("serve what was recorded with: provlog serve")
        return
    _serve(settings, scenario, dying, store, host=host, port=port)


def _simulate(settings: Any, scenario: Any, dying: Any, report: Callable[[str], None]) -> None:
    """Run the simulation; the engine that dies runs beside it, in a process of its own."""
    import multiprocessing

    from otel_provlog.cli import demo_simulation
    from otel_provlog.exporter import spool

    engine = None
    if dying is not None:
        url = spool.absolute_database_url(settings.database_url)
        engine = multiprocessing.get_context("spawn").Process(
            target=demo_simulation.engine_that_dies, args=(url, dying), daemon=True
        )
        engine.start()
        report(f"creating cluster {dying.cluster_id}: its engine will be killed mid-step")
    demo_simulation.run(scenario, report=report)
    if engine is not None:
        engine.join()
        report(f"cluster {dying.cluster_id}: its engine died (exit code {engine.exitcode})")


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(settings: Any, scenario: Any, dying: Any, store: Any, *, host: str, port: int) -> None:
    from werkzeug.serving import make_server

    from otel_provlog.api import create_app

    def _simulation() -> None:
        _simulate(settings, scenario, dying, lambda line: click.echo(f"[simulation] {line}"))
        store.force_flush()

    app = create_app(settings)
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host if ':' not in host else f'[{host}]'}:{server.server_port}"
    click.echo(f"the event log page: {base}/clusters/{scenario.cluster_id}")
    click.echo(f"store: {settings.database_url}")
    click.echo(f"serving the page and the API on {base} (Ctrl-C stops); try:")
    for line in _curl_lines(base, scenario, settings.auth):
        click.echo(f"  {line}")
    threading.Thread(target=_simulation, name="provlog-demo", daemon=True).start()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.server_close()
        store.shutdown()
        app.extensions["provlog"]["engine"].dispose()
