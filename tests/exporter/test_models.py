"""The models store what spans carry, the same way on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from otel_provlog.exporter.database import session_factory
from otel_provlog.exporter.models import (
    NAME_LENGTH,
    STEP_NAME_LENGTH,
    Cluster,
    ClusterEvent,
    ProvisionStep,
    span_row_id,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _cluster(session, cluster_id="c-1"):
    session.add(Cluster(id=cluster_id, name="cluster", tenant_id="tenant-a"))


def _step(session, span_id="b7ad6b7169203331", **values):
    step = ProvisionStep(
        id=span_row_id(TRACE, span_id),
        cluster_id="c-1",
        trace_id=TRACE,
        span_id=span_id,
        step_name=values.pop("step_name", "Launching instances"),
        step_type="creating",
        total=3,
        **values,
    )
    session.add(step)
    return step


def test_span_row_id_is_stable_and_distinct():
    """The same span always gets the same row id; different spans get different ones."""
    assert span_row_id(TRACE, "b7ad6b7169203331") == span_row_id(TRACE, "b7ad6b7169203331")
    assert span_row_id(TRACE, "b7ad6b7169203331") != span_row_id(TRACE, "b7ad6b7169203332")
    assert len(span_row_id(TRACE, "b7ad6b7169203331")) == 36


def test_timestamps_keep_microseconds_in_utc(engine):
    """A timestamp in any zone comes back as the same instant, in UTC, to the microsecond."""
    local = timezone(timedelta(hours=5, minutes=30))
    started = datetime(2026, 3, 1, 17, 45, 10, 123456, tzinfo=local)
    factory = session_factory(engine)
    with factory.begin() as session:
        _cluster(session)
        _step(session, started_at=started)
    with factory() as session:
        stored = session.scalars(select(ProvisionStep)).one()
    assert stored.started_at == started
    assert stored.started_at.tzinfo == UTC
    assert stored.started_at.microsecond == 123456
    assert stored.created_at.tzinfo == UTC


def test_long_names_unicode_and_long_tracebacks_fit(engine):
    """Real names fit: long step names, long instance names, Unicode, megabyte tracebacks."""
    step_name = ("Wait for instance accessibility: cluster-datanode-0001 ü ✓ " * 40)[
        :STEP_NAME_LENGTH
    ]
    instance_name = ("worker-ñ-" * 40)[:NAME_LENGTH]
    traceback_text = "Traceback (most recent call last):\n" + "  frame ✗\n" * 100_000
    factory = session_factory(engine)
    with factory.begin() as session:
        _cluster(session)
        step = _step(session, step_name=step_name)
        session.flush()
        session.add(
            ClusterEvent(
                id=span_row_id(TRACE, "00f067aa0ba902b7"),
                cluster_id="c-1",
                provision_step_id=step.id,
                instance_name=instance_name,
                event_info=traceback_text,
                stacktrace=traceback_text,
                successful=False,
                trace_id=TRACE,
                span_id="00f067aa0ba902b7",
            )
        )
    with factory() as session:
        event = session.scalars(select(ClusterEvent)).one()
        assert session.scalars(select(ProvisionStep.step_name)).one() == step_name
    assert event.instance_name == instance_name
    assert event.event_info == traceback_text
    assert event.stacktrace == traceback_text


def test_successful_is_tri_state(engine):
    """A step's ``successful`` stores true, false and null as distinct values."""
    factory = session_factory(engine)
    with factory.begin() as session:
        _cluster(session)
        _step(session, span_id="0000000000000001", successful=True)
        _step(session, span_id="0000000000000002", successful=False)
        _step(session, span_id="0000000000000003", successful=None)
    with factory() as session:
        values = session.execute(
            select(ProvisionStep.span_id, ProvisionStep.successful).order_by(ProvisionStep.span_id)
        ).all()
    assert [v for _, v in values] == [True, False, None]


def test_a_span_is_stored_once(engine):
    """Two step rows from the same span are refused by the database."""
    factory = session_factory(engine)
    with factory.begin() as session:
        _cluster(session)
        _step(session)
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.add(
            ProvisionStep(
                id="another-id",
                cluster_id="c-1",
                trace_id=TRACE,
                span_id="b7ad6b7169203331",
                step_name="x",
            )
        )


def test_events_need_an_existing_step(engine):
    """Foreign keys are enforced on every backend, SQLite included."""
    factory = session_factory(engine)
    with factory.begin() as session:
        _cluster(session)
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.add(
            ClusterEvent(
                id="e-1",
                cluster_id="c-1",
                provision_step_id="no-such-step",
                successful=True,
                trace_id=TRACE,
                span_id="00f067aa0ba902b7",
            )
        )


@given(st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()))
def test_sqlite_timestamps_are_stored_in_sqlalchemys_text_format(moment):
    """SQLite rows hold SQLAlchemy's own DATETIME text, so stores written before compare alike."""
    from sqlalchemy.dialects import sqlite

    from otel_provlog.exporter.models import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    naive = UTCDateTime().process_bind_param(moment, dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    assert ours(naive) == theirs(naive)
