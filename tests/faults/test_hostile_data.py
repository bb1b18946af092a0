"""Hypothesis-generated hostile span data on every backend: valid spans stored, bad set aside."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from sqlalchemy import delete

from otel_provlog.api import create_app
from otel_provlog.config import Settings
from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import Base, Cluster
from otel_provlog.exporter.records import decode_record, encode_record
from otel_provlog.exporter.writer import write_batch

from .hostile import batches
from .ledger import Entry, Ledger, check_store, read_store

EXAMPLES = 30
"""Batches per backend: bounded, so the run stays short."""


def _entries(records):
    """The ledger entries of valid records: they all ended, they all must be stored."""
    return [
        Entry(
            kind=record["kind"],
            trace_id=record["trace_id"].lower(),
            span_id=record["span_id"],
            parent_span_id=record["parent_span_id"] or "-",
            successful=str(record["status"]).lower() != "error",
        )
        for record in records
    ]


def test_hostile_batches_store_every_valid_span_and_set_aside_the_rest(database_url, engine):
    """Through the spool's encoding and the drain's writer; the API reads the result, no 5xx."""
    sessions = session_factory(engine)
    app = create_app(
        Settings(database_url=database_url, auth="none"), test_config={"TESTING": True}
    )
    client = app.test_client()

    @given(batch=batches())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def _check(batch):
        valid, broken = batch
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
        spooled = [decode_record(encode_record(record)) for record in valid + broken]
        result = write_batch(sessions, spooled)
        ledger = Ledger(must=_entries(valid), may=_entries(valid))
        stored = check_store(engine, ledger, rejected_ok=True)
        payloads = {json.dumps(record, sort_keys=True, default=repr) for record in broken}
        assert len(stored.rejected) == len(payloads), stored.rejected
        assert len(result.rejected) == len(broken)
        replayed = write_batch(sessions, list(reversed(spooled)))
        assert replayed.written == 0
        assert read_store(engine).keys == stored.keys
        with engine.connect() as connection:
            clusters = connection.execute(Cluster.__table__.select()).all()
        for cluster in clusters:
            path = f"/v2/clusters/{quote(cluster.id, safe='')}"
            for suffix in ("?show_progress=true", "/events", "/failures", "/steps"):
                response = client.get(path + suffix)
                assert response.status_code < 500, (cluster.id, suffix, response.get_json())
        assert client.get("/v2/clusters?limit=100").status_code == 200

    try:
        _check()
    finally:
        app.extensions["provlog"]["engine"].dispose()
