"""``provlog stats``: what the adapter did and what the store holds.

Reads the store (clusters, steps, events, pruned steps, rejected spans), the spool backlog
(spans waiting for the store) and the counts each instrumented process writes next to its
spool directory (spans appended, written, duplicate, rejected, dropped, retried, held in
memory while the spool was full; dropped spans by kind; on the OTLP path queued, sent,
failed, dropped). Exit codes: 0 done, 1 the store failed, 2 bad usage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from otel_provlog.cli.options import database_url_option, output_format_option, spool_dir_option
from otel_provlog.cli.store_access import command_settings, store_session

__all__ = ["stats"]


def _spool_backlog(directory: Path) -> dict[str, Any]:
    from otel_provlog.exporter import spool

    segments = spool.list_segments(directory)
    pending = 0
    for segment in segments:
        try:
            pending += max(segment.path.stat().st_size - spool.read_checkpoint(segment), 0)
        except OSError:
            continue
    return {"directory": str(directory), "segments": len(segments), "pending_bytes": pending}


def _table(body: dict[str, Any]) -> str:
    lines = ["store:"]
    lines += [f"  {key:<20} {value}" for key, value in body["store"].items()]
    spool_info = body["spool"]
    lines.append(f"spool: {spool_info['directory']}")
    lines.append(f"  {'segments':<20} {spool_info['segments']}")
    lines.append(f"  {'pending_bytes':<20} {spool_info['pending_bytes']}")
    for process in body["processes"]:
        state = "running" if process["alive"] else "ended"
        lines.append(f"process {process['pid']} ({state}):")
        for section in ("store", "dropped", "forwarding"):
            counts = process.get(section) or {}
            if counts:
                text = ", ".join(f"{key} {value}" for key, value in counts.items())
                lines.append(f"  {section:<11} {text}")
    return "\n".join(lines)


@click.command()
@database_url_option
@spool_dir_option
@output_format_option
def stats(database_url: str | None, spool_dir: Path | None, output_format: str) -> None:
    """Show span counts of the instrumented processes, the spool backlog and the store."""
    from otel_provlog.exporter import spool
    from otel_provlog.exporter.metrics import read_stats_files, stats_dir_for, store_stats

    settings = command_settings(
        database_url=database_url, spool_dir=None if spool_dir is None else str(spool_dir)
    )
    directory = spool.spool_dir_for(settings)
    with store_session(settings.database_url, writer=False) as session:
        stored = store_stats(session)
    body = {
        "store": stored,
        "spool": _spool_backlog(directory),
        "processes": read_stats_files(stats_dir_for(directory)),
    }
    click.echo(json.dumps(body) if output_format == "json" else _table(body))
