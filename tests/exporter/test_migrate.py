"""The migrations own the schema: up, down and up again on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.exc import IntegrityError

from otel_provlog import attributes as attr
from otel_provlog._ids import span_row_id
from otel_provlog.exporter import migrate
from otel_provlog.exporter.database import create_store_engine, session_factory
from otel_provlog.exporter.models import Base
from otel_provlog.exporter.writer import write_batch

TABLES = {"clusters", "cluster_operations", "provision_steps", "cluster_events", "rejected_spans"}


@pytest.fixture
def fresh_url(database_factory):
    """An empty database, never migrated."""
    return database_factory.new_url()


def test_upgrade_creates_every_table(fresh_url):
    """Upgrading an empty database to head creates the tables and records the revision."""
    engine = create_store_engine(fresh_url)
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_downgrade_removes_every_table_and_upgrade_again_works(fresh_url):
    """Downgrading to base drops the tables; upgrading again rebuilds them."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine)
    migrate.downgrade(engine)
    assert not TABLES & set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_migrated_schema_matches_the_models(fresh_url):
    """The schema the migrations build is exactly the one the models describe."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_every_foreign_key_is_indexed(fresh_url):
    """Each foreign key column leads some index, so joins and cascades stay cheap."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine)
    inspector = inspect(engine)
    for table in TABLES:
        leading = {tuple(index["column_names"][:1]) for index in inspector.get_indexes(table)}
        leading |= {tuple(u["column_names"][:1]) for u in inspector.get_unique_constraints(table)}
        for foreign_key in inspector.get_foreign_keys(table):
            assert tuple(foreign_key["constrained_columns"][:1]) in leading, (table, foreign_key)
    engine.dispose()


def test_revision_0002_adds_rejected_spans_and_comes_off_cleanly(fresh_url):
    """0002 adds rejected_spans and the steps' parent span id; going back to 0001 removes them."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine, "0002")
    inspector = inspect(engine)
    assert "rejected_spans" in inspector.get_table_names()
    assert "parent_span_id" in {c["name"] for c in inspector.get_columns("provision_steps")}
    migrate.downgrade(engine, "0001")
    inspector = inspect(engine)
    assert "rejected_spans" not in inspector.get_table_names()
    assert "parent_span_id" not in {c["name"] for c in inspector.get_columns("provision_steps")}
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()


def test_every_revision_goes_up_down_and_up_again(fresh_url):
    """Each migration step downgrades cleanly and upgrades again (the stairway)."""
    from alembic.script import ScriptDirectory

    revisions = [
        script.revision
        for script in reversed(
            list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions())
        )
    ]
    engine = create_store_engine(fresh_url)
    previous = "base"
    for revision in revisions:
        migrate.upgrade(engine, revision)
        assert migrate.current_revision(engine) == revision
        migrate.downgrade(engine, previous)
        assert migrate.current_revision(engine) == (None if previous == "base" else previous)
        migrate.upgrade(engine, revision)
        previous = revision
    assert previous == migrate.head_revision()
    engine.dispose()


OLD_TRACE = 'ssh refused\n\nTraceback (most recent call last):\n  File "/srv/x.py", line 1\nOSError'
OLD_JAVA = "Connection refused\n\tat com.example.Ssh.open(Ssh.java:42)"


def _old_events() -> list[dict[str, object]]:
    """Events as stored before 0007: failures held message and stack in event_info."""
    return [
        {"id": "e-1", "successful": False, "event_info": OLD_TRACE},
        {"id": "e-2", "successful": False, "event_info": OLD_JAVA},
        {"id": "e-3", "successful": False, "event_info": "one line"},
        {"id": "e-4", "successful": True, "event_info": "done\nin two lines"},
        {"id": "e-5", "successful": False, "event_info": None},
    ]


def test_revision_0007_moves_old_failure_text_out_of_event_info(fresh_url):
    """0007 keeps a multi-line failure's first line as its info and all of it as its stack."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine, "0006")
    at = datetime(2026, 5, 4, tzinfo=UTC)
    stamps = {"created_at": at, "updated_at": at}
    with engine.begin() as connection:
        tables = MetaData()
        tables.reflect(connection, only=["clusters", "provision_steps", "cluster_events"])
        connection.execute(
            tables.tables["clusters"].insert(), [{"id": "c-1", "status": "Unknown", **stamps}]
        )
        step = {"id": "s-1", "cluster_id": "c-1", "step_name": "Wait", "status": "running"}
        connection.execute(
            tables.tables["provision_steps"].insert(),
            [
                {
                    **step,
                    **stamps,
                    "completed": 0,
                    "failed": 0,
                    "trace_id": "a" * 32,
                    "span_id": "1" * 16,
                }
            ],
        )
        connection.execute(
            tables.tables["cluster_events"].insert(),
            [
                {
                    **event,
                    **stamps,
                    "cluster_id": "c-1",
                    "provision_step_id": "s-1",
                    "trace_id": "a" * 32,
                    "span_id": f"{number + 2:016x}",
                }
                for number, event in enumerate(_old_events())
            ],
        )
    migrate.upgrade(engine, "0007")
    query = text("SELECT id, event_info, stacktrace FROM cluster_events ORDER BY id")
    with engine.connect() as connection:
        moved = [tuple(row) for row in connection.execute(query)]
    assert moved == [
        ("e-1", "ssh refused", OLD_TRACE),
        ("e-2", "Connection refused", OLD_JAVA),
        ("e-3", "one line", None),
        ("e-4", "done\nin two lines", None),
        ("e-5", None, None),
    ]
    migrate.downgrade(engine, "0006")
    query = text("SELECT id, event_info FROM cluster_events ORDER BY id")
    with engine.connect() as connection:
        restored = [tuple(row) for row in connection.execute(query)]
    assert restored == [(event["id"], event["event_info"]) for event in _old_events()]
    engine.dispose()


def _add_cluster(connection, cluster_id):
    connection.execute(
        text(
            "INSERT INTO clusters (id, status, created_at, updated_at)"
            " VALUES (:id, 'Unknown', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ),
        {"id": cluster_id},
    )


def test_revision_0008_makes_ids_exact_on_an_existing_store(fresh_url):
    """After 0008, 'c1 ', 'C1' and 'c1' are three ids on every backend; rows and keys stay."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine, "0007")
    with engine.begin() as connection:
        _add_cluster(connection, "c1")
        connection.execute(
            text(
                "INSERT INTO cluster_operations (id, cluster_id, step_type, status, created_at,"
                " updated_at, trace_id, span_id) VALUES ('o-1', 'c1', 'creating', 'running',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00', 't', 's')"
            )
        )
    migrate.upgrade(engine)
    with engine.begin() as connection:
        _add_cluster(connection, "c1 ")
        _add_cluster(connection, "C1")
        ids = connection.execute(text("SELECT id FROM clusters WHERE id = 'c1'")).scalars().all()
        assert ids == ["c1"]
        count = connection.execute(text("SELECT COUNT(*) FROM clusters")).scalar()
        assert count == 3
        owner = connection.execute(text("SELECT cluster_id FROM cluster_operations")).scalar()
        assert owner == "c1"
    with pytest.raises(IntegrityError), engine.begin() as connection:  # the key holds
        connection.execute(text("UPDATE cluster_operations SET cluster_id = 'c2'"))
    with engine.begin() as connection:  # MariaDB's padded keys could not hold both again
        connection.execute(text("DELETE FROM clusters WHERE id = 'c1 '"))
    migrate.downgrade(engine, "0007")
    engine.dispose()


EVENTS_0009 = 1600  # more failed events than one batch of the backfill


def test_revision_0009_fingerprints_the_failures_stored_before(fresh_url):
    """0009 gives every failed event stored before its fingerprint and pattern, in batches."""
    from otel_provlog.exporter.fingerprints import fingerprint_message

    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine, "0008")
    at = "2026-01-01 00:00:00"
    with engine.begin() as connection:
        _add_cluster(connection, "c1")
        connection.execute(
            text(
                "INSERT INTO provision_steps (id, cluster_id, step_name, status, completed,"
                " failed, created_at, updated_at, trace_id, span_id) VALUES ('s-1', 'c1',"
                " 'Wait', 'running', 0, 0, :at, :at, :trace, :span)"
            ),
            {"at": at, "trace": "a" * 32, "span": "1" * 16},
        )
        connection.execute(
            text(
                "INSERT INTO cluster_events (id, cluster_id, provision_step_id, event_info,"
                " successful, created_at, updated_at, trace_id, span_id) VALUES (:id, 'c1',"
                " 's-1', :info, :ok, :at, :at, :trace, :span)"
            ),
            [
                {
                    "id": f"e-{number:04d}",
                    "info": None
                    if number == 4
                    else f"SSH to 10.0.{number // 250}.{number % 250} timed out",
                    "ok": number % 3 == 0,
                    "at": at,
                    "trace": "a" * 32,
                    "span": f"{number + 2:016x}",
                }
                for number in range(EVENTS_0009)
            ],
        )
    migrate.upgrade(engine, "0009")
    query = text("SELECT id, successful, error_fingerprint, error_pattern FROM cluster_events")
    with engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(query)}
    timeout = fingerprint_message("SSH to 10.0.0.1 timed out")
    for number in range(EVENTS_0009):
        row = rows[f"e-{number:04d}"]
        if number % 3 == 0:
            assert (row.error_fingerprint, row.error_pattern) == (None, None)
        elif number == 4:
            assert (row.error_fingerprint, row.error_pattern) == fingerprint_message(None)
        else:
            assert (row.error_fingerprint, row.error_pattern) == timeout
    indexes = {index["name"] for index in inspect(engine).get_indexes("cluster_events")}
    assert "ix_cluster_events_cluster_id_error_fingerprint_created_at" in indexes
    migrate.downgrade(engine, "0008")
    columns = {column["name"] for column in inspect(engine).get_columns("cluster_events")}
    assert not {"error_fingerprint", "error_pattern"} & columns
    engine.dispose()


def _event_records(count):
    """A step and ``count`` of its events, as the span processor spools them."""
    trace, start = "4bf92f3577b34da6a3ce929d0e0e4736", 1_780_000_000 * 10**9
    common = {attr.CLUSTER_ID: "c-1", attr.TENANT_ID: "t-1"}

    def record(kind, span, parent, end, attributes):
        return {
            "v": 1,
            "trace_id": trace,
            "span_id": span,
            "parent_span_id": parent,
            "kind": kind,
            "name": kind,
            "start_ns": start,
            "end_ns": start + end,
            "status": "unset",
            "status_message": None,
            "attributes": {attr.SPAN_KIND: kind, **common, **attributes},
            "exception": None,
        }

    step = {attr.STEP_NAME: "Launch", attr.STEP_TYPE: "creating", attr.STEP_TOTAL: count}
    events = [
        record(attr.SPAN_EVENT, f"{n + 2:016x}", "1" * 16, n * 7_000_000, {attr.INSTANCE_ID: n})
        for n in range(count)
    ]
    return [*events, record(attr.SPAN_STEP, "1" * 16, None, count * 7_000_000, step)]


def test_revision_0010_gives_stored_events_time_ordered_ids_and_replays_stay_duplicates(
    fresh_url,
):
    """Events stored with 0009's ids get their span's event_row_id; the downgrade undoes it."""
    engine = create_store_engine(fresh_url)
    migrate.upgrade(engine, "0009")
    records = _event_records(2500)  # more than one batch of the migration
    factory = session_factory(engine)
    write_batch(factory, records)
    with engine.begin() as connection:  # as a drain before 0010 stored them
        stored = connection.execute(text("SELECT id, trace_id, span_id FROM cluster_events"))
        old_ids = {row.id: span_row_id(row.trace_id, row.span_id) for row in stored}
        connection.execute(
            text("UPDATE cluster_events SET id = :old WHERE id = :new"),
            [{"old": old, "new": new} for new, old in old_ids.items()],
        )
    migrate.upgrade(engine, "0010")
    query = text("SELECT id FROM cluster_events")
    with engine.connect() as connection:
        assert set(connection.execute(query).scalars()) == set(old_ids)
    again = write_batch(factory, records)  # the same spans sent again: nothing new
    assert (again.written, again.duplicates) == (0, len(records))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT completed FROM provision_steps")).scalar() == 2500
    migrate.downgrade(engine, "0009")
    with engine.connect() as connection:
        assert set(connection.execute(query).scalars()) == set(old_ids.values())
    engine.dispose()
