"""The read commands: ``provlog cluster list|show``, ``step list``, ``event list``, ``failures``.

Each reads through :class:`otel_provlog.client.ProvlogClient`, from the API or, offline,
from the store (see :mod:`otel_provlog.cli.reading`), and prints a table, JSON, YAML or
Markdown (``-f``). Exit codes: 0 success, 2 bad usage, 4 the cluster (or step) does not
exist, 5 the API or the store does not answer, 1 any other failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

import click

from otel_provlog.cli.exit_codes import EXIT_BAD_USAGE, EXIT_NOT_FOUND
from otel_provlog.cli.output import (
    Column,
    format_option,
    print_rich,
    render,
    safe,
    short_duration,
    table,
    timestamp,
)
from otel_provlog.cli.reading import CommandError, exit_on_errors, open_client, source_options
from otel_provlog.config import parse_duration

if TYPE_CHECKING:
    from otel_provlog.client import Cluster, Event, ProvlogClient, Step
    from otel_provlog.client._models import FailureGroup

__all__ = ["cluster", "event", "failures", "step"]

PAGE_SIZE: Final = 1000
"""Rows fetched per request when a command reads a whole list."""
DEFAULT_LIMIT: Final = 100
"""Rows an event or failure list shows unless ``--limit`` says otherwise."""


if TYPE_CHECKING:  # click is generic in its value type from 8.5 on
    _ParamTypeOfTime = click.ParamType[datetime]
else:
    _ParamTypeOfTime = click.ParamType


class SinceType(_ParamTypeOfTime):
    """A point in time: a duration back from now (``10m``, ``2h``) or an ISO 8601 time."""

    name = "since"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """Return the point in time, in UTC (a time without an offset is UTC)."""
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            return datetime.now(UTC) - timedelta(seconds=parse_duration(text, name="--since"))
        except ValueError:
            pass
        try:
            found = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither a duration (10m, 2h) nor an ISO 8601 time")
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _limit_option(default: int) -> Callable[[Any], Any]:
    return click.option(
        "--limit",
        type=click.IntRange(0),
        default=default,
        show_default=True,
        help="Rows to show at most (0: all).",
    )


def _first(items: Iterator[Any], limit: int) -> list[Any]:
    """Return the first ``limit`` items (all when 0), warning when more were left out."""
    if limit == 0:
        return list(items)
    found = list(islice(items, limit + 1))
    if len(found) > limit:
        click.echo(f"showing the first {limit} rows; --limit 0 shows all", err=True)
    return found[:limit]


def _not_found(cluster_id: str) -> str:
    return f"no cluster {cluster_id!r}"


def _counts(step: Step) -> str:
    return f"{step.completed}/{step.total if step.total is not None else '?'}"


def _elapsed(step: Step) -> float | None:
    if step.duration is not None:
        return step.duration
    if step.started_at is None:
        return None
    end = step.completed_at or datetime.now(UTC)
    return max(0.0, (end - step.started_at).total_seconds())


STEP_COLUMNS: Final = (
    Column("STEP", lambda s: s.step_name),
    Column("TYPE", lambda s: s.step_type),
    Column("STATUS", lambda s: s.status),
    Column("DONE", _counts, "right"),
    Column("FAILED", lambda s: s.failed, "right"),
    Column("STARTED", lambda s: timestamp(s.started_at or s.created_at)),
    Column("TOOK", lambda s: short_duration(_elapsed(s)), "right"),
    Column("LEFT", lambda s: short_duration(s.seconds_left) if s.running else "", "right"),
)


def _current_step(found: Cluster) -> str:
    if not found.steps:
        return ""
    current = found.steps[-1]
    return f"{current.step_name} {_counts(current)}"


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


def _event_columns(step_names: dict[str, str], *, failures: bool) -> tuple[Column, ...]:
    def outcome(e: Event) -> str:
        return (
            {True: "ok", False: "FAILED"}.get(e.successful, "") if e.successful is not None else ""
        )

    middle = (
        (Column("ERROR ID", lambda e: e.error_id),) if failures else (Column("RESULT", outcome),)
    )
    return (
        Column("TIME", lambda e: timestamp(e.created_at)),
        Column("STEP", lambda e: step_names.get(e.step_id or "", e.step_id)),
        Column("INSTANCE", lambda e: e.instance_name or e.instance_id),
        Column("NODE GROUP", lambda e: e.node_group_id),
        *middle,
        Column("MESSAGE" if failures else "INFO", lambda e: safe(e.event_info, one_line=True)),
    )


@click.group()
def cluster() -> None:
    """List clusters, or show one with its steps."""


@cluster.command("list")
@source_options
@click.option("--status", multiple=True, help="Keep clusters in this status (repeatable).")
@click.option("--name", default=None, help="Keep clusters of this exact name.")
@click.option("--tenant", default=None, help="Keep clusters of this tenant.")
@_limit_option(DEFAULT_LIMIT)
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
        found = _first(
            client.iterate(
                client.list_clusters,
                status=status,
                name=name,
                tenant_id=tenant,
                limit=min(limit or PAGE_SIZE, PAGE_SIZE),
            ),
            limit,
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
    with exit_on_errors(_not_found(cluster_id)), open_client(api_url, database_url) as client:
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
    with exit_on_errors(_not_found(cluster_id)), open_client(api_url, database_url) as client:
        found = list(client.iterate(client.list_steps, cluster_id, status=status, limit=PAGE_SIZE))
    render(found, STEP_COLUMNS, output_format, data=found, empty="no steps")


def _step_id(client: ProvlogClient, cluster_id: str, wanted: str | None) -> str | None:
    """Return the id of the step ``wanted`` names (an id, or a name: the newest such step)."""
    if wanted is None:
        return None
    try:
        return str(uuid.UUID(wanted))
    except ValueError:
        pass
    steps = client.list_steps(cluster_id, step_name=wanted, sort_by="-created_at", limit=1)
    if not steps.items:
        raise CommandError(f"cluster {cluster_id!r} has no step named {wanted!r}", EXIT_NOT_FOUND)
    return steps.items[0].id


def _event_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option(
            "--step",
            "step_ref",
            default=None,
            help="A step's id or name (the newest step of that name).",
        ),
        click.option(
            "--node-group", multiple=True, help="Keep events of this node group (repeatable)."
        ),
        click.option(
            "--instance", multiple=True, help="Keep events of this instance id (repeatable)."
        ),
        click.option(
            "--since",
            type=SinceType(),
            default=None,
            help="Keep events since then: 10m, 2h or an ISO 8601 time.",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _print_events(
    client: ProvlogClient,
    cluster_id: str,
    events: list[Event],
    output_format: str,
    *,
    failures: bool,
) -> None:
    names = {}
    if output_format in ("table", "markdown") and events:
        names = {
            s.id: s.step_name
            for s in client.iterate(client.list_steps, cluster_id, limit=PAGE_SIZE)
        }
    columns = _event_columns(names, failures=failures)
    empty = "no failures" if failures else "no events"
    render(events, columns, output_format, data=events, empty=empty)


@click.group()
def event() -> None:
    """List a cluster's events."""


@event.command("list")
@click.argument("cluster_id", metavar="CLUSTER")
@source_options
@_event_filters
@click.option(
    "--outcome",
    type=click.Choice(["success", "failure"]),
    default=None,
    help="Keep successful or failed events.",
)
@_limit_option(DEFAULT_LIMIT)
@format_option
def list_events(
    cluster_id: str,
    api_url: str | None,
    database_url: str | None,
    step_ref: str | None,
    node_group: tuple[str, ...],
    instance: tuple[str, ...],
    since: datetime | None,
    outcome: str | None,
    limit: int,
    output_format: str,
) -> None:
    """List a cluster's events, oldest first, filtered."""
    with exit_on_errors(_not_found(cluster_id)), open_client(api_url, database_url) as client:
        found = _first(
            client.iterate(
                client.list_events,
                cluster_id,
                step_id=_step_id(client, cluster_id, step_ref),
                node_group_ids=node_group,
                instance_ids=instance,
                successful=None if outcome is None else outcome == "success",
                created_after=since,
                limit=min(limit or PAGE_SIZE, PAGE_SIZE),
            ),
            limit,
        )
        _print_events(client, cluster_id, found, output_format, failures=False)


GROUP_COLUMNS: Final = (
    Column("COUNT", lambda g: g.count, "right"),
    Column("CAUSE", lambda g: safe(g.pattern, one_line=True)),
    Column("NODE GROUPS", lambda g: ", ".join(f"{k}: {v}" for k, v in g.node_groups.items())),
    Column("FIRST SEEN", lambda g: timestamp(g.first_seen)),
    Column("LAST SEEN", lambda g: timestamp(g.last_seen)),
    Column("EXAMPLE", lambda g: _example(g)),
)


def _example(group: FailureGroup) -> str:
    if not group.examples:
        return ""
    first = group.examples[0]
    name = first.instance_name or first.instance_id or first.event_id
    return f"{name} ({first.error_id})" if first.error_id else str(name)


@click.command()
@click.argument("cluster_id", metavar="CLUSTER")
@source_options
@click.option("--group", is_flag=True, help="Group the failures by cause, largest group first.")
@_event_filters
@_limit_option(DEFAULT_LIMIT)
@format_option
def failures(
    cluster_id: str,
    api_url: str | None,
    database_url: str | None,
    group: bool,
    step_ref: str | None,
    node_group: tuple[str, ...],
    instance: tuple[str, ...],
    since: datetime | None,
    limit: int,
    output_format: str,
) -> None:
    """List a cluster's failed events with their messages, or (--group) their causes."""
    with exit_on_errors(_not_found(cluster_id)), open_client(api_url, database_url) as client:
        if group:
            if step_ref or node_group or instance or since:
                raise CommandError("--group takes no filter", EXIT_BAD_USAGE)
            groups = _first(
                client.iterate(
                    client.list_failure_groups, cluster_id, limit=min(limit or PAGE_SIZE, PAGE_SIZE)
                ),
                limit,
            )
            render(groups, GROUP_COLUMNS, output_format, data=groups, empty="no failures")
            return
        found = _first(
            client.iterate(
                client.list_failures,
                cluster_id,
                step_id=_step_id(client, cluster_id, step_ref),
                node_group_ids=node_group,
                instance_ids=instance,
                created_after=since,
                limit=min(limit or PAGE_SIZE, PAGE_SIZE),
            ),
            limit,
        )
        _print_events(client, cluster_id, found, output_format, failures=True)
