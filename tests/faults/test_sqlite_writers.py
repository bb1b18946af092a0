"""Eight processes write one SQLite file while the API reads it."""

from __future__ import annotations

from otel_provlog.api import create_app
from otel_provlog.config import Settings
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine

from .ledger import check_store

WRITERS = 8


def test_eight_processes_write_one_sqlite_file_while_the_api_reads(provisioners, tmp_path):
    """Every process's spans are stored exactly once; every read meanwhile answers, no 5xx."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(url)
    migrate.upgrade(engine)
    app = create_app(Settings(database_url=url, auth="none"), test_config={"TESTING": True})
    client = app.test_client()
    processes = [
        provisioners.start(
            url, spool=f"spool-{n}", cluster=f"c-{n}", steps=2, events=60, pace=0.001
        )
        for n in range(WRITERS)
    ]
    reads, seen = 0, {}
    try:
        while any(process.poll() is None for process in processes) or reads < WRITERS:
            cluster = f"c-{reads % WRITERS}"
            for path in (
                "/v2/clusters",
                f"/v2/clusters/{cluster}?show_progress=true",
                f"/v2/clusters/{cluster}/events?limit=20",
            ):
                response = client.get(path)
                assert response.status_code in (200, 404), (path, response.get_json())
            body = client.get(f"/v2/clusters/{cluster}").get_json()
            for step in body.get("cluster", {}).get("provisioning_progress", []):
                done = step["completed"]
                assert done >= seen.get(step["id"], 0), "a step's progress went back"
                seen[step["id"]] = done
            reads += 1
        assert [process.wait(timeout=120) for process in processes] == [0] * WRITERS
        check_store(engine, provisioners.ledger())
        listed = client.get("/v2/clusters?limit=100").get_json()["clusters"]
        assert sorted(c["id"] for c in listed) == sorted(f"c-{n}" for n in range(WRITERS))
    finally:
        app.extensions["provlog"]["engine"].dispose()
        engine.dispose()
