"""A collector that never answers, and one that is down: the store gets every span anyway."""

from __future__ import annotations

import time

import pytest

from tests.otlp_receivers import HangingReceiver, down_endpoint

from .ledger import check_store

EXIT_SECONDS = 15
"""Bound on a whole provisioning run, flush and exit included, on a loaded machine."""


@pytest.mark.parametrize(
    ("collector", "protocol"), [("hanging", "grpc"), ("down", "http/protobuf")]
)
def test_a_dead_collector_costs_the_store_nothing(
    database_url, store_engine, provisioners, collector, protocol
):
    """Forwarding to a silent or absent collector: every span stored once, a prompt exit."""
    hanging = HangingReceiver() if collector == "hanging" else None
    try:
        started = time.monotonic()
        process = provisioners.start(
            database_url,
            cluster=f"c-{collector}",
            steps=2,
            events=60,
            otlp_endpoint=hanging.endpoint if hanging else down_endpoint(),
            env={"OTEL_EXPORTER_OTLP_PROTOCOL": protocol},
        )
        assert process.wait(timeout=60) == 0
        elapsed = time.monotonic() - started
        if hanging is not None:
            assert hanging.connections, "the collector was never called"
    finally:
        if hanging is not None:
            hanging.stop()
    assert elapsed < EXIT_SECONDS
    check_store(store_engine, provisioners.ledger())
