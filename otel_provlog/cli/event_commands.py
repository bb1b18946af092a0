"""``provlog event list`` and ``provlog failures``: a cluster's events and failures.

Filters: ``--step`` (an id, or a name: the newest step of that name), ``--node-group``,
``--instance``, ``--since`` (``10m``, ``2h`` or an ISO 8601 time) and, for events,
``--outcome success|failure``. ``provlog failures --group`` groups the failures by cause.
Output as ``-f table|json|yaml|markdown``. Exit codes: 0 success, 2 bad usage, 4 no such
cluster or step, 5 the API or the store does not answer, 1 any other failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import click

from otel_provlog.cli.exit_codes import EXIT_BAD_USAGE, EXIT_NOT_FOUND, CommandError
from otel_provlog.cli.options import SINCE, limit_option
from otel_provlog.cli.output import Column, format_option, render, safe, timestamp
from otel_provlog.cli.reading import (
    exit_on_errors,
    first_rows,
    no_cluster,
    open_client,
    source_options,
)

if TYPE_CHECKING:
    from otel_provlog.client import Event, FailureGroup, ProvlogClient

__all__ = ["event", "failures"]

DEFAULT_LIMIT: Final = 100
"""Rows an event or failure list shows unless ``--limit`` says otherwise."""


def _event_columns(step_names: dict[str, str], *, failures: bool) -> tuple[Column, ...]:
    def outcome(e: Event) -> str:
        return "" if e.successful is None else ("ok" if e.successful else "FAILED")

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
            type=SINCE,
            default=None,
            help="Keep events since then: 10m, 2h or an ISO 8601 time.",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _filters(
    client: ProvlogClient,
    cluster_id: str,
    step_ref: str | None,
    node_group: tuple[str, ...],
    instance: tuple[str, ...],
    since: datetime | None,
) -> dict[str, Any]:
    """Return the client's event filters for the options of :func:`_event_filters`."""
    return {
        "step_id": _step_id(client, cluster_id, step_ref),
        "node_group_ids": node_group,
        "instance_ids": instance,
        "created_after": since,
    }


def _show_events(
    client: ProvlogClient,
    cluster_id: str,
    filters: dict[str, Any],
    output_format: str,
    *,
    limit: int,
    failures: bool,
    **more: Any,
) -> None:
    """Print the first ``limit`` of the cluster's events (its failures when ``failures``)."""
    fetch = client.list_failures if failures else client.list_events
    events = first_rows(client, fetch, cluster_id, limit=limit, **filters, **more)
    names = {}
    if output_format in ("table", "markdown") and events:
        steps = first_rows(client, client.list_steps, cluster_id, limit=0)
        names = {s.id: s.step_name for s in steps}
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
@limit_option(DEFAULT_LIMIT)
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
    with exit_on_errors(no_cluster(cluster_id)), open_client(api_url, database_url) as client:
        filters = _filters(client, cluster_id, step_ref, node_group, instance, since)
        successful = None if outcome is None else outcome == "success"
        _show_events(
            client,
            cluster_id,
            filters,
            output_format,
            limit=limit,
            failures=False,
            successful=successful,
        )


GROUP_COLUMNS: Final = (
    Column("COUNT", lambda g: g.count, "right"),
    Column("CAUSE", lambda g: safe(g.pattern, one_line=True)),
    Column("NODE GROUPS", lambda g: _node_groups(g)),
    Column("FIRST SEEN", lambda g: timestamp(g.first_seen)),
    Column("LAST SEEN", lambda g: timestamp(g.last_seen)),
    Column("EXAMPLE", lambda g: _example(g)),
)


def _node_groups(group: FailureGroup) -> str:
    return ", ".join(
        f"{safe(k, one_line=True) or '(none)'}: {v}" for k, v in group.node_groups.items()
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
@limit_option(DEFAULT_LIMIT)
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
    with exit_on_errors(no_cluster(cluster_id)), open_client(api_url, database_url) as client:
        if group:
            if instance or since:
                raise CommandError("--group takes --step and --node-group only", EXIT_BAD_USAGE)
            groups = first_rows(
                client,
                client.list_failure_groups,
                cluster_id,
                limit=limit,
                step_id=_step_id(client, cluster_id, step_ref),
                node_group_ids=node_group,
            )
            render(groups, GROUP_COLUMNS, output_format, data=groups, empty="no failures")
            return
        filters = _filters(client, cluster_id, step_ref, node_group, instance, since)
        _show_events(client, cluster_id, filters, output_format, limit=limit, failures=True)
