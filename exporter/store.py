"""Data access for writers: idempotent inserts and merges that take a session.

The exporter and the command line write through these functions; the API reads through
:mod:`otel_provlog.exporter.queries`. Every function takes a :class:`~sqlalchemy.orm.Session`
and leaves the transaction to its caller (``with factory.begin() as session: ...``), so one
batch of spans is one transaction however many functions it calls.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, Dialect, Table, case, insert, select, true, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from otel_provlog.exporter import lifecycle
from otel_provlog.exporter.database import chunks
from otel_provlog.exporter.models import (
    Base,
    Cluster,
    ClusterEvent,
    ClusterOperation,
    ClusterStatus,
    ProvisionStep,
    RejectedSpan,
    RunStatus,
    utcnow,
)

__all__ = [
    "add_events",
    "add_rejected",
    "ensure_clusters",
    "insert_missing",
    "insert_rows",
    "link_steps",
    "merge_clusters",
    "merge_operations",
    "merge_steps",
    "new_cluster_row",
    "refresh_cluster_status",
    "set_cluster_status",
]

_COPY_FROM: Final = 64
"""Rows from which PostgreSQL (psycopg) takes an insert as ``COPY``, its fastest bulk load."""

Row = Mapping[str, Any]
"""A row as a mapping of column names to values."""


def insert_missing(
    session: Session, model: type[Base], rows: Sequence[Row], key: Sequence[str]
) -> list[Row]:
    """Insert the ``rows`` whose ``key`` columns match no stored row; return those inserted.

    Rows repeating a key within ``rows`` are inserted once (the first wins). Portable across
    SQLite, PostgreSQL and MariaDB: existing keys are read, then the rest is inserted in one
    statement. A concurrent writer inserting the same key makes the insert fail with an
    integrity error; the caller retries its transaction, which then skips that row.
    """
    if not rows:
        return []
    table: Table = model.__table__  # type: ignore[assignment]
    columns = [table.c[name] for name in key]
    unique: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        unique.setdefault(tuple(row[name] for name in key), row)
    keys = list(unique)
    for chunk in chunks(keys):
        if len(columns) == 1:
            found = select(columns[0]).where(columns[0].in_([k[0] for k in chunk]))
        else:
            found = select(*columns).where(tuple_(*columns).in_(chunk))
        for existing in session.execute(found):
            unique.pop(tuple(existing), None)
    # A stable order makes concurrent writers take row locks in the same order.
    new_rows = [unique[k] for k in sorted(unique)]
    if new_rows:
        insert_rows(session, table, new_rows)
    return new_rows


def insert_rows(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` in one driver ``executemany``, each value bound as SQLAlchemy binds it.

    Rows that all give every column of the table go straight to the driver (the type's own
    bind processors convert their values), which saves SQLAlchemy's per-row parameter
    handling, the larger part of the cost of a batch of events; other rows take
    :func:`~sqlalchemy.insert` so that column defaults apply.
    """
    names = tuple(table.c.keys())
    columns = set(names)
    if not all(row.keys() == columns for row in rows):
        session.execute(insert(table), rows)
        return
    connection = session.connection()
    driver_insert = _driver_insert(connection.dialect, table, names)
    values_of = operator.itemgetter(*names)
    parameters: list[Any] = []
    for row in rows:
        values = list(values_of(row))
        for index, process in driver_insert.processed:
            if values[index] is not None:
                values[index] = process(values[index])
        parameters.append(tuple(values))
    if connection.dialect.driver == "psycopg" and len(parameters) >= _COPY_FROM:
        _copy_rows(connection, driver_insert.copy, parameters)
    else:
        connection.exec_driver_sql(driver_insert.insert, parameters)


def _copy_rows(connection: Connection, statement: str, parameters: list[tuple[Any, ...]]) -> None:
    """Load rows with PostgreSQL's ``COPY``; errors are raised as SQLAlchemy raises them."""
    dialect = connection.dialect
    driver: Any = connection.connection.driver_connection
    dbapi: Any = dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for values in parameters:
                copy.write_row(values)
    except dbapi.Error as error:
        lost = dialect.is_disconnect(error, driver, None)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            statement, None, error, dbapi.Error, connection_invalidated=lost, dialect=dialect
        ) from error


class _DriverInsert(NamedTuple):
    """The driver's statements that insert given columns into a table."""

    insert: str
    """``INSERT ... VALUES`` in the driver's parameter style."""
    copy: str
    """PostgreSQL's ``COPY ... FROM STDIN`` of the same columns."""
    processed: tuple[tuple[int, Any], ...]
    """(position, the type's bind processor) for the columns whose type has one."""


@functools.lru_cache(maxsize=64)
def _driver_insert(dialect: Dialect, table: Table, names: tuple[str, ...]) -> _DriverInsert:
    """Return the driver's statements inserting ``names`` into ``table``, built once."""
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    return _DriverInsert(
        insert=f"INSERT INTO {target} VALUES ({', '.join(mark for _ in names)})",
        copy=f"COPY {target} FROM STDIN",
        processed=tuple((i, p) for i, p in enumerate(processors) if p is not None),
    )


def ensure_clusters(session: Session, clusters: Mapping[str, Row], *, at: datetime) -> None:
    """Make sure every cluster in ``clusters`` (id -> ``name``/``tenant_id``) has a row.

    Missing clusters are created with status ``Unknown``; for existing ones, a non-empty
    ``name`` or ``tenant_id`` given here fills or replaces the stored value.
    """
    merge_clusters(
        session,
        {
            cluster_id: {
                "name": info.get("name"),
                "tenant_id": info.get("tenant_id"),
                "first_at": at,
                "last_at": at,
            }
            for cluster_id, info in clusters.items()
        },
    )


def new_cluster_row(cluster_id: str, info: Row) -> dict[str, Any]:
    """Return the row of a cluster first seen in spans (``info`` as for :func:`merge_clusters`)."""
    return {
        "id": cluster_id,
        "name": info.get("name"),
        "tenant_id": info.get("tenant_id"),
        "status": ClusterStatus.UNKNOWN,
        "created_at": info["first_at"],
        "updated_at": info["last_at"],
    }


def merge_clusters(session: Session, clusters: Mapping[str, Row]) -> None:
    """Create or update clusters from what spans said about them.

    ``clusters`` maps each id to ``name`` and ``tenant_id`` (None when unknown) and to
    ``first_at``/``last_at``, the span times seen. A new cluster is created with status
    ``Unknown``; an existing one takes a non-empty name or tenant given here, and its
    ``created_at`` only moves back and its ``updated_at`` only forward, so the result does
    not depend on the order in which spans arrive.
    """
    if not clusters:
        return
    rows = [new_cluster_row(cluster_id, info) for cluster_id, info in sorted(clusters.items())]
    inserted = {row["id"] for row in insert_missing(session, Cluster, rows, ["id"])}
    for cluster_id, info in sorted(clusters.items()):
        if cluster_id in inserted:
            continue
        values = {k: info[k] for k in ("name", "tenant_id") if info.get(k)}
        session.execute(
            update(Cluster)
            .where(Cluster.id == cluster_id)
            .values(
                **values,
                created_at=_earliest(Cluster.created_at, info["first_at"]),
                updated_at=_latest(Cluster.updated_at, info["last_at"]),
            )
        )


def _earliest(column: Any, value: datetime) -> Any:
    return case((column > value, value), else_=column)


def _latest(column: Any, value: datetime) -> Any:
    return case((column < value, value), else_=column)


def set_cluster_status(
    session: Session, cluster_id: str, status: str, *, description: str | None = None
) -> None:
    """Set a cluster's status (one of :class:`ClusterStatus`) and its description."""
    session.execute(
        update(Cluster)
        .where(Cluster.id == cluster_id)
        .values(status=status, status_description=description, updated_at=utcnow())
    )


def add_events(session: Session, rows: Iterable[Row]) -> list[Row]:
    """Insert event rows not stored yet and count them into their steps; return the new ones.

    Each row holds the :class:`ClusterEvent` columns; its step row must exist. Replaying
    the same events inserts nothing and counts nothing, so the steps' ``completed`` and
    ``failed`` stay exact however often a batch is retried. A failed event makes its step's
    ``successful`` false at once (and an ended step ``failed``).
    """
    # The row id names the span: a primary-key lookup whatever the store holds, and new
    # events' ids grow with time, so they are appended to the key rather than scattered.
    new_rows = insert_missing(session, ClusterEvent, list(rows), ["id"])
    per_step: dict[str, list[Row]] = {}
    for row in new_rows:
        per_step.setdefault(row["provision_step_id"], []).append(row)
    for step_id, events in per_step.items():
        succeeded = sum(1 for event in events if event["successful"])
        failed = len(events) - succeeded
        latest = max(event["created_at"] for event in events)
        values: dict[str, Any] = {
            "completed": ProvisionStep.completed + succeeded,
            "failed": ProvisionStep.failed + failed,
            "updated_at": _latest(ProvisionStep.updated_at, latest),
        }
        if failed:
            values |= lifecycle.event_failed_sql()
        session.execute(update(ProvisionStep).where(ProvisionStep.id == step_id).values(**values))
    return new_rows


_OPERATION_SPAN_VALUES: Final = (
    "cluster_id",
    "step_type",
    "status",
    "successful",
    "plan",
    "started_at",
    "completed_at",
    "created_at",
)


def merge_operations(
    session: Session, spans: Sequence[Row], markers: Sequence[Row]
) -> tuple[int, int]:
    """Write operation rows from ended operation spans and ``operation.start`` markers.

    Whatever the order in which they arrive, the operation span decides (status, plan,
    times); a marker creates a running operation only while its operation is not stored
    at all, so a marker arriving after its operation ended never reopens it. A span ends
    the running (or, after :func:`~otel_provlog.exporter.writer.expire_stale_steps`,
    interrupted) row its marker made.

    Returns:
        How many spans and markers were new, and how many were stored already (a marker
        counts as stored once its operation is).
    """
    ids = sorted({row["id"] for row in (*spans, *markers)})
    known: dict[str, tuple[datetime | None, str]] = {}
    for chunk in chunks(ids):
        query = select(
            ClusterOperation.id, ClusterOperation.completed_at, ClusterOperation.status
        ).where(ClusterOperation.id.in_(chunk))
        for operation_id, completed_at, status in session.execute(query):
            known[operation_id] = (completed_at, status)
    fresh: dict[str, Row] = {}
    applied = unchanged = 0
    for row in spans:
        state = known.get(row["id"])
        if state is None:
            fresh[row["id"]] = row
        elif not lifecycle.span_may_end(*state):
            unchanged += 1
            continue
        else:
            session.execute(
                update(ClusterOperation)
                .where(ClusterOperation.id == row["id"])
                .values(
                    **{k: row[k] for k in _OPERATION_SPAN_VALUES},
                    updated_at=_latest(ClusterOperation.updated_at, row["updated_at"]),
                )
            )
        applied += 1
    for row in markers:
        if row["id"] in known:
            unchanged += 1
            continue
        applied += 1
        fresh.setdefault(row["id"], row)
    # Through insert_missing: a concurrent writer's insert fails the transaction, which
    # is retried and then merges into that row instead.
    insert_missing(session, ClusterOperation, [fresh[key] for key in sorted(fresh)], ["id"])
    return applied, unchanged


_STEP_COLUMNS: Final[Row] = {
    "operation_id": None,
    "parent_span_id": None,
    "step_name": "",
    "step_type": None,
    "position": None,
    "completed": 0,
    "failed": 0,
    "total": None,
    "successful": None,
    "status": RunStatus.RUNNING,
    "started_at": None,
    "completed_at": None,
    "duration": None,
}


_MARKER_VALUES: Final = (
    "cluster_id",
    "step_name",
    "step_type",
    "total",
    "started_at",
    "created_at",
)
_SPAN_VALUES: Final = (*_MARKER_VALUES, "parent_span_id", "completed_at", "duration")


class _StepState(NamedTuple):
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    status: str


def _step_states(session: Session, ids: Iterable[str]) -> dict[str, _StepState]:
    wanted = sorted(set(ids))
    states: dict[str, _StepState] = {}
    for chunk in chunks(wanted):
        query = select(
            ProvisionStep.id,
            ProvisionStep.started_at,
            ProvisionStep.completed_at,
            ProvisionStep.created_at,
            ProvisionStep.status,
        ).where(ProvisionStep.id.in_(chunk))
        for step_id, started_at, completed_at, created_at, status in session.execute(query):
            states[step_id] = _StepState(started_at, completed_at, created_at, status)
    return states


def _end_step(session: Session, row: Row) -> None:
    session.execute(
        update(ProvisionStep)
        .where(ProvisionStep.id == row["id"])
        .values(
            **{k: row[k] for k in _SPAN_VALUES},
            **lifecycle.step_end_sql(bool(row["successful"])),
            updated_at=_latest(ProvisionStep.updated_at, row["updated_at"]),
        )
    )


def merge_steps(
    session: Session, spans: Sequence[Row], markers: Sequence[Row], placeholders: Sequence[Row]
) -> tuple[int, int]:
    """Write step rows from ended step spans, start markers and events' placeholders.

    Whatever the order in which they arrive, the step span decides (names, times, status),
    a marker fills a step only while no start is known (so it never reopens an ended step),
    and a placeholder (made for events whose step is not known yet: running, no name) takes
    the earliest start among its events until a marker or the span fills it. A step ends
    ``failed`` when its span has status ERROR or one of its events failed.

    Returns:
        How many spans and markers were new, and how many were stored already (a marker
        counts as stored once its step's start is).
    """
    known = _step_states(session, (row["id"] for row in (*spans, *markers, *placeholders)))
    inserts: dict[str, Row] = {}
    applied = unchanged = 0
    for row in spans:
        state = known.get(row["id"])
        if state is None:
            inserts[row["id"]] = row
        elif not lifecycle.span_may_end(state.completed_at, state.status):
            unchanged += 1
            continue
        else:
            _end_step(session, row)
        applied += 1
    for row in markers:
        state = known.get(row["id"])
        if state is not None and not lifecycle.marker_may_describe(state.started_at):
            unchanged += 1
            continue
        applied += 1
        if row["id"] in inserts:
            continue
        if state is None:
            inserts[row["id"]] = row
        else:
            session.execute(
                update(ProvisionStep)
                .where(ProvisionStep.id == row["id"], ProvisionStep.started_at.is_(None))
                .values(
                    **{k: row[k] for k in _MARKER_VALUES},
                    updated_at=_latest(ProvisionStep.updated_at, row["updated_at"]),
                )
            )
    for row in placeholders:
        state = known.get(row["id"])
        if row["id"] in inserts:
            continue
        if state is None:
            inserts[row["id"]] = row
        elif lifecycle.marker_may_describe(state.started_at) and (
            state.created_at > row["created_at"]
        ):
            session.execute(
                update(ProvisionStep)
                .where(
                    ProvisionStep.id == row["id"],
                    ProvisionStep.started_at.is_(None),
                    ProvisionStep.created_at > row["created_at"],
                )
                .values(created_at=row["created_at"], updated_at=ProvisionStep.updated_at)
            )
    if inserts:
        # A plain insert: a step a concurrent writer just stored fails the transaction,
        # which is retried and then merges into that row instead.
        rows = [{**_STEP_COLUMNS, **inserts[key]} for key in sorted(inserts)]
        session.execute(insert(ProvisionStep), rows)
    return applied, unchanged


def link_steps(session: Session, trace_ids: Iterable[str]) -> None:
    """Link the steps of the given traces to their operation and place them in its plan.

    A step belongs to the operation that is its parent span. While its parent is not known
    yet (only its ``step.start`` marker or its events are stored), it belongs to the
    operation of its trace when the trace has exactly one (operations are roots). Its
    ``position`` is the index of its name in that operation's plan, or None. The links
    depend on the stored rows only, never on the order in which spans arrived; traces
    without a stored operation are left alone.
    """
    traces = sorted(set(trace_ids))
    for chunk in chunks(traces):
        by_span: dict[tuple[str, str], lifecycle.Plan] = {}
        by_trace: dict[str, list[lifecycle.Plan]] = {}
        for row_id, trace_id, span_id, declared in session.execute(
            select(
                ClusterOperation.id,
                ClusterOperation.trace_id,
                ClusterOperation.span_id,
                ClusterOperation.plan,
            ).where(ClusterOperation.trace_id.in_(chunk))
        ):
            plan = lifecycle.Plan(row_id, declared or [])
            by_span[(trace_id, span_id)] = plan
            by_trace.setdefault(trace_id, []).append(plan)
        if not by_trace:
            continue
        query = select(
            ProvisionStep.id,
            ProvisionStep.trace_id,
            ProvisionStep.parent_span_id,
            ProvisionStep.step_name,
            ProvisionStep.operation_id,
            ProvisionStep.position,
        ).where(ProvisionStep.trace_id.in_(sorted(by_trace)))
        for step_id, trace_id, parent_id, name, linked, position in session.execute(query).all():
            op_id, place = lifecycle.step_link(trace_id, parent_id, name, by_span, by_trace)
            if (linked, position) != (op_id, place):
                session.execute(
                    update(ProvisionStep)
                    .where(ProvisionStep.id == step_id)
                    .values(operation_id=op_id, position=place, updated_at=ProvisionStep.updated_at)
                )


def add_rejected(session: Session, rows: Sequence[Row]) -> list[Row]:
    """Store rejected span records not stored yet (their ids name their content)."""
    return insert_missing(session, RejectedSpan, rows, ["id"])


def _failed_step(session: Session, operation_id: str) -> str | None:
    """Return the name of the operation's first step that did not succeed, if any."""
    return session.scalars(
        select(ProvisionStep.step_name)
        .where(
            ProvisionStep.operation_id == operation_id,
            ProvisionStep.status != RunStatus.SUCCESSFUL,
        )
        .order_by(ProvisionStep.created_at, ProvisionStep.id)
        .limit(1)
    ).first()


def refresh_cluster_status(session: Session, cluster_ids: Iterable[str]) -> None:
    """Set each cluster's status from its latest operation and its latest step.

    The rule is :func:`~otel_provlog.exporter.lifecycle.cluster_status`, asked about the
    latest operation (by start) and the latest named step begun since it started (while it
    runs) or ended. The status depends on the stored rows only, never on the order spans
    arrived in.
    """
    for cluster_id in sorted(set(cluster_ids)):
        operation = (
            session.execute(
                select(
                    ClusterOperation.id,
                    ClusterOperation.step_type,
                    ClusterOperation.status,
                    ClusterOperation.created_at,
                    ClusterOperation.completed_at,
                )
                .where(ClusterOperation.cluster_id == cluster_id)
                .order_by(ClusterOperation.created_at.desc(), ClusterOperation.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        running = operation is not None and operation["status"] == RunStatus.RUNNING
        after = true()
        if operation is not None and running:
            after = ProvisionStep.created_at >= operation["created_at"]
        elif operation is not None and operation["completed_at"] is not None:
            after = ProvisionStep.created_at > operation["completed_at"]
        step = session.execute(
            select(ProvisionStep.step_name, ProvisionStep.step_type, ProvisionStep.status)
            .where(
                ProvisionStep.cluster_id == cluster_id,
                ProvisionStep.step_type.is_not(None),
                after,
            )
            .order_by(ProvisionStep.created_at.desc(), ProvisionStep.id.desc())
            .limit(1)
        ).first()
        ended = operation is not None and operation["status"] not in (
            RunStatus.RUNNING,
            RunStatus.SUCCESSFUL,
        )
        status, description = lifecycle.cluster_status(
            None
            if operation is None
            else lifecycle.OperationState(operation["step_type"], operation["status"]),
            None if step is None else lifecycle.StepState(*step),
            _failed_step(session, operation["id"])
            if operation is not None and ended and step is None
            else None,
        )
        session.execute(
            update(Cluster)
            .where(Cluster.id == cluster_id)
            .values(status=status, status_description=description, updated_at=Cluster.updated_at)
        )
