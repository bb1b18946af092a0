"""``provlog cluster list|show`` and ``provlog step list``: clusters and their steps.

They read through :class:`otel_provlog.client.ProvlogClient`, from the API or, offline,
from the store (see :mod:`otel_provlog.cli.reading`), and print a table, JSON, YAML or
Markdown (``-f``). Exit codes: 0 success, 2 bad usage, 4 no such cluster, 5 the API or
the store does not answer, 1 any other failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import click

from otel_provlog.cli.options import limit_option
from otel_provlog.cli.output import (
    Column,
    format_option,
    print_rich,
    render,
    safe,
    short_duration,
    step_counts,
    step_elapsed,
    table,
    timestamp,
)
from otel_provlog.cli.reading import (
    exit_on_errors,
    first_rows,
    no_cluster,
    open_client,
    source_options,
)

if TYPE_CHECKING:
    from otel_provlog.client import Cluster

__all__ = ["STEP_COLUMNS", "cluster", "step"]

DEFAULT_LIMIT: Final = 100
"""Clusters a list shows unless ``--limit`` says otherwise."""

STEP_COLUMNS: Final = (
    Column("STEP", lambda s: s.step_name),
    Column("TYPE", lambda s: s.step_type),
    Column("STATUS", lambda s: s.status),
    Column("DONE", step_counts, "right"),
    Column("FAILED", lambda s: s.failed, "right"),
    Column("STARTED", lambda s: timestamp(s.started_at or s.created_at)),
    Column("TOOK", lambda s: short_duration(step_elapsed(s)), "right"),
    Column("LEFT", lambda s: short_duration(s.seconds_left) if s.running else "", "right"),
)


def _current_step(found: Cluster) -> str:
    if not found.steps:
        return ""
    current = found.steps[-1]
    return f"{current.step_name} {step_counts(current)}"


def _operation_text(found: Cluster) -> str:
    operation = found.operation
    return "" if operation is None else f"{operation.step_type} {operation.status}"


CLUSTER_COLUMNS: Final = (
    Column("ID", lambda c: c.id),
    Column("NAME", lambda c: c.name),
    Column("TENANT", lambda c: c.tenant_id),
    Column("STATUS", lambda c: c.status),
    Column("OPERATION", _operation_text),
    Column("CURRENT STEP", _current_step),
    Column("CREATED", lambda c: timestamp(c.created_at)),
)


@click.group()
def cluster() -> None:
    """List clusters, or show one with its steps."""


@cluster.command("list")
@source_options
@click.option("--status", multiple=True, help="Keep clusters in this status (repeatable).")
@click.option("--name", default=None, help="Keep clusters of this exact name.")
@click.option("--tenant", default=None, help="Keep clusters of this tenant.")
@limit_option(DEFAULT_LIMIT)
@format_option
def list_clusters(
    api_url: str | None,
    database_url: str | None,
    status: tuple[str, ...],
    name: str | None,
    tenant: str | None,
    limit: int,
    output_format: str,
) -> None:
    """List the clusters, oldest first, with their latest operation and current step."""
    with exit_on_errors(), open_client(api_url, database_url) as client:
        found = first_rows(
            client, client.list_clusters, limit=limit, status=status, name=name, tenant_id=tenant
        )
    render(found, CLUSTER_COLUMNS, output_format, data=found, empty="no clusters")


def _summary_rows(found: Cluster) -> list[tuple[str, str]]:
    rows = [
        ("cluster", found.id),
        ("name", found.name or ""),
        ("tenant", found.tenant_id or ""),
        ("status", found.status),
    ]
    operation = found.operation
    if operation is not None:
        rows.append(("operation", f"{operation.step_type} {operation.status}"))
        if operation.running:
            left = short_duration(operation.seconds_left) or "unknown"
            rows.append(("time left", left))
    return rows


@cluster.command("show")
@click.argument("cluster_id", metavar="CLUSTER")
@source_options
@format_option
def show_cluster(
    cluster_id: str, api_url: str | None, database_url: str | None, output_format: str
) -> None:
    """Show a cluster, its latest operation and its steps."""
    with exit_on_errors(no_cluster(cluster_id)), open_client(api_url, database_url) as client:
        found = client.get_cluster(cluster_id)
    if output_format in ("json", "yaml"):
        render([], (), output_format, data=found)
        return
    summary = _summary_rows(found)
    pairs = (Column("FIELD", lambda r: r[0]), Column("VALUE", lambda r: r[1]))
    if output_format == "markdown":
        render(summary, pairs, "markdown", data=None)
        click.echo()
        render(found.steps, STEP_COLUMNS, "markdown", data=None)
        return
    width = max(len(key) for key, _ in summary)
    lines = "\n".join(
        f"{key + ':':<{width + 1}} {safe(value, one_line=True)}" for key, value in summary
    )
    click.echo(lines)
    if found.steps:
        print_rich(table(found.steps, STEP_COLUMNS))
    else:
        click.echo("no steps yet")


@click.group()
def step() -> None:
    """List a cluster's steps."""


@step.command("list")
@click.argument("cluster_id", metavar="CLUSTER")
@source_options
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(["running", "successful", "failed", "interrupted"]),
    help="Keep steps in this status (repeatable).",
)
@format_option
def list_steps(
    cluster_id: str,
    api_url: str | None,
    database_url: str | None,
    status: tuple[str, ...],
    output_format: str,
) -> None:
    """List a cluster's steps, oldest first, with their progress and time left."""
    with exit_on_errors(no_cluster(cluster_id)), open_client(api_url, database_url) as client:
        found = first_rows(client, client.list_steps, cluster_id, limit=0, status=status)
    render(found, STEP_COLUMNS, output_format, data=found, empty="no steps")
