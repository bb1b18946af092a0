"""Self-observation: span counts as OpenTelemetry metrics, in a stats file, and in the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import otel_provlog
from otel_provlog.cli.commands import provlog
from otel_provlog.exporter.metrics import (
    StatsFileWriter,
    install_metrics,
    snapshot,
    stats_dir_for,
)
from otel_provlog.exporter.pipeline import configure
from tests.otlp_receivers import HttpReceiver, down_endpoint


def _points(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    """Return (metric name, outcome) -> value of everything the reader collected."""
    found: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    outcome = str((point.attributes or {}).get("outcome", ""))
                    found[(metric.name, outcome)] = int(point.value)  # type: ignore[union-attr]
    return found


def _provision(provider: TracerProvider, events: int) -> None:
    with otel_provlog.step("c-1", "Launching", total=events, tracer_provider=provider) as step:
        for number in range(events):
            step.add_success(instance_id=f"i-{number}")


def _configure(database_url: str, tmp_path: Path, endpoint: str) -> tuple[Any, TracerProvider]:
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        drain="thread",
        database_url=database_url,
        spool_dir=str(tmp_path / "spool"),
        otlp_endpoint=endpoint,
    )
    return handle, provider


def test_counts_become_metrics(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written and forwarded spans are readable as OpenTelemetry metrics."""
    monkeypatch.chdir(tmp_path)
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    with HttpReceiver() as receiver:
        handle, provider = _configure(database_url, tmp_path, receiver.endpoint)
        try:
            install_metrics(handle, meter_provider=meters)
            _provision(provider, 5)
            assert handle.force_flush(20_000)
            assert handle.forwarding.force_flush(5000)
            points = _points(reader)
        finally:
            handle.shutdown()
    meters.shutdown()
    assert points[("provlog.store.spans", "appended")] == 7
    assert points[("provlog.store.spans", "written")] == 7
    assert points[("provlog.store.spans", "dropped")] == 0
    assert points[("provlog.store.held", "")] == 0
    assert points[("provlog.forwarding.spans", "sent")] == 7
    assert points[("provlog.forwarding.spans", "failed")] == 0
    assert points[("provlog.forwarding.queue", "")] == 0


def test_a_dead_receiver_shows_as_failed_spans(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans the OTLP path lost are counted, and the store path is unaffected."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    handle, provider = _configure(database_url, tmp_path, down_endpoint())
    try:
        _provision(provider, 3)
        assert handle.force_flush(20_000)
        handle.forwarding.force_flush(3000)
        counts = snapshot(handle)
    finally:
        handle.shutdown()
    assert counts["store"]["written"] == 5
    assert counts["forwarding"]["sent"] == 0
    assert counts["forwarding"]["failed"] + counts["forwarding"]["dropped"] == 5


def test_snapshot_of_a_broken_handle_is_empty() -> None:
    """A handle that fails to answer gives empty counts, never an exception."""

    class _Broken:
        def counters(self) -> Any:
            raise RuntimeError("gone")

    assert snapshot(_Broken()) == {"store": {}, "dropped": {}, "forwarding": {}}


def test_provlog_stats_reads_the_stats_files_and_the_store(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``provlog stats`` shows each process's counts, the spool backlog and the store."""
    monkeypatch.chdir(tmp_path)
    with HttpReceiver() as receiver:
        handle, provider = _configure(database_url, tmp_path, receiver.endpoint)
        try:
            _provision(provider, 4)
            assert handle.force_flush(20_000)
            handle.forwarding.force_flush(5000)
        finally:
            handle.shutdown()
    assert handle.observation is not None
    assert handle.observation.stats_file.path.parent == stats_dir_for(tmp_path / "spool")
    arguments = ["stats", "--database-url", database_url, "--spool-dir", str(tmp_path / "spool")]
    result = CliRunner().invoke(provlog, [*arguments, "-f", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["store"]["steps"] == 1
    assert body["store"]["events"] == 4
    assert body["store"]["rejected_spans"] == 0
    assert body["spool"]["pending_bytes"] == 0
    (process,) = body["processes"]
    assert process["alive"] is True
    assert process["store"]["written"] == 6
    assert process["forwarding"]["sent"] == 6
    result = CliRunner().invoke(provlog, arguments)
    assert result.exit_code == 0, result.output
    assert "forwarding  queued 6, sent 6, failed 0, dropped 0" in result.output


def test_a_stats_file_writer_writes_periodically(tmp_path: Path) -> None:
    """The stats file appears without waiting for shutdown and is replaced atomically."""

    class _Handle:
        def counters(self) -> Any:
            return type("C", (), {"written": 3})()

    writer = StatsFileWriter(_Handle(), tmp_path / "stats", interval=0.02).start()
    try:
        deadline = time.monotonic() + 5
        while not writer.path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert json.loads(writer.path.read_text())["store"] == {"written": 3}
    finally:
        writer.stop()
    assert [p.name for p in (tmp_path / "stats").iterdir()] == [writer.path.name]
