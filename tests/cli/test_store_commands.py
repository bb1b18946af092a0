"""``provlog expire`` ends silent steps on any backend."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from otel_provlog import attributes as attr
from otel_provlog.cli.commands import provlog
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import Cluster, ProvisionStep, utcnow
from otel_provlog.exporter.writer import write_records

SECOND = 1_000_000_000


def _marker(minutes_ago):
    """The start marker of a step that began ``minutes_ago`` and is still running."""
    start = int((utcnow().timestamp() - minutes_ago * 60) * SECOND)
    return {
        "v": 1,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": f"{minutes_ago + 1:016x}",
        "parent_span_id": f"{minutes_ago + 1000:016x}",
        "kind": attr.SPAN_STEP_START,
        "name": "start",
        "start_ns": start,
        "end_ns": start,
        "status": "unset",
        "status_message": None,
        "attributes": {
            attr.SPAN_KIND: attr.SPAN_STEP_START,
            attr.CLUSTER_ID: f"c-{minutes_ago}",
            attr.STEP_NAME: "Wait for ssh",
            attr.STEP_TYPE: "creating",
        },
        "exception": None,
    }


def test_expire_interrupts_only_silent_steps(engine, database_url):
    """Steps silent longer than --stale-after are interrupted; recent ones keep running."""
    factory = session_factory(engine)
    with factory.begin() as session:
        write_records(session, [_marker(10), _marker(120)])
    runner = CliRunner()
    result = runner.invoke(
        provlog, ["expire", "--database-url", database_url, "--stale-after", "1h"]
    )
    assert result.exit_code == 0, result.output
    assert "marked 1 steps and operations" in result.output
    with factory() as session:
        statuses = dict(
            session.execute(select(ProvisionStep.cluster_id, ProvisionStep.status)).all()
        )
        clusters = dict(session.execute(select(Cluster.id, Cluster.status)).all())
    assert statuses == {"c-10": "running", "c-120": "interrupted"}
    assert clusters == {"c-10": "Creating", "c-120": "Error"}
    again = runner.invoke(
        provlog, ["expire", "--database-url", database_url, "--stale-after", "5m", "-f", "json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == {"interrupted": 1, "stale_after_seconds": 300.0}


def test_expire_reads_the_window_from_the_environment(engine, database_url, monkeypatch):
    """Without --stale-after, PROVLOG_STALE_AFTER sets the window (6h by default)."""
    with session_factory(engine).begin() as session:
        write_records(session, [_marker(120)])
    monkeypatch.setenv("PROVLOG_DATABASE_URL", database_url)
    result = CliRunner().invoke(provlog, ["expire", "-f", "json"])
    assert json.loads(result.output)["interrupted"] == 0
    monkeypatch.setenv("PROVLOG_STALE_AFTER", "90m")
    result = CliRunner().invoke(provlog, ["expire", "-f", "json"])
    assert json.loads(result.output) == {"interrupted": 1, "stale_after_seconds": 5400.0}


def test_expire_refuses_a_bad_window_and_reports_a_broken_store(tmp_path):
    """An unreadable duration is a usage error (2); a store without tables fails with 1."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    runner = CliRunner()
    bad = runner.invoke(provlog, ["expire", "--database-url", url, "--stale-after", "soon"])
    assert bad.exit_code == 2
    assert "--stale-after" in bad.output
    broken = runner.invoke(provlog, ["expire", "--database-url", url])
    assert broken.exit_code == 1
    assert "the store failed" in broken.output
