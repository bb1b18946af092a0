"""The store schema: SQLAlchemy 2.x typed models, owned by this module alone.

Alembic migrations in ``migrations/`` create and change these tables; production code never
calls ``create_all``. Every timestamp is stored as UTC with microseconds on every backend
(``DATETIME(6)`` on MariaDB/MySQL) and comes back as an aware :class:`datetime.datetime`.

Rows mirror the spans of the event log (see :mod:`otel_provlog.attributes`):

- :class:`Cluster`: one cluster, known as soon as any of its spans is stored;
- :class:`ClusterOperation`: one creating/scaling/deleting run (the root span);
- :class:`ProvisionStep`: one step of an operation (Sahara's ClusterProvisionStep);
- :class:`ClusterEvent`: one per-instance event of a step (Sahara's ClusterEvent);
- :class:`RejectedSpan`: a span record the store could not use, with the reason.

Rows are named after their span so that writing the same span twice changes nothing:
an operation's or step's id is derived from (``trace_id``, ``span_id``)
(:func:`span_row_id`), an event's from those and the millisecond it ended
(:func:`~otel_provlog._ids.event_row_id`, which makes event ids grow with time), so any
writer, in any process, computes the same id without asking the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from otel_provlog._ids import span_row_id
from otel_provlog.exporter.fingerprints import FINGERPRINT_LENGTH, PATTERN_LENGTH

__all__ = [
    "EXTERNAL_ID_LENGTH",
    "NAME_LENGTH",
    "REASON_LENGTH",
    "ROW_ID_LENGTH",
    "RUN_STATUSES",
    "SPAN_ID_LENGTH",
    "STATUS_LENGTH",
    "STEP_NAME_LENGTH",
    "TRACE_ID_LENGTH",
    "Base",
    "Cluster",
    "ClusterEvent",
    "ClusterOperation",
    "ClusterStatus",
    "IdString",
    "ProvisionStep",
    "RejectedSpan",
    "RunStatus",
    "UTCDateTime",
    "span_row_id",
    "utcnow",
]

EXTERNAL_ID_LENGTH: Final = 255
"""Longest id taken from span data (cluster, tenant, node group, instance)."""
NAME_LENGTH: Final = 255
"""Longest cluster or instance name."""
STEP_NAME_LENGTH: Final = 1024
"""Longest step name: real names are built from instance names and run long."""
ROW_ID_LENGTH: Final = 36
"""Length of the UUIDs naming our own rows."""
TRACE_ID_LENGTH: Final = 32
SPAN_ID_LENGTH: Final = 16
STATUS_LENGTH: Final = 16
"""Length of the status and step type columns."""
REASON_LENGTH: Final = 255
"""Longest reason stored with a rejected span."""


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite's ``DATETIME`` text, written by :meth:`datetime.isoformat` (C speed).

    The text is exactly SQLAlchemy's default storage format (``2026-12-01 10:00:00.000000``),
    so stored values compare and sort as before; only the formatting is cheaper than the
    dialect's ``%``-format of a dict, which cost more than the insert of an event row.
    """

    def bind_processor(self, dialect: Dialect) -> Any:
        """Format naive datetimes with ``isoformat``; anything else as the dialect does."""
        fallback = super().bind_processor(dialect)

        def process(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is None:
                return value.isoformat(" ", "microseconds")
            return fallback(value) if fallback is not None else value

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC with microseconds, returned as aware UTC.

    Naive input is taken to be UTC already; aware input is converted to UTC.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use ``DATETIME(6)`` on MariaDB/MySQL, which keep whole seconds otherwise."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "sqlite":
            return _SQLiteDateTime()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to naive UTC before it reaches the driver."""
        if value is None or value.tzinfo is None:
            return value
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark what the database returns as UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class IdString(TypeDecorator[str]):
    """An id taken from span data, compared byte for byte and case-sensitively everywhere.

    On MariaDB/MySQL it is ``VARCHAR`` in a binary NO PAD collation (``utf8mb4_bin`` would
    find ``'c1'`` when asked for ``'c1 '``); SQLite and PostgreSQL compare exactly already.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use a binary NO PAD collation on MariaDB/MySQL."""
        length = getattr(self.impl, "length", None)
        if dialect.name in ("mysql", "mariadb"):
            mariadb = getattr(dialect, "is_mariadb", False)
            collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
            return dialect.type_descriptor(
                mysql.VARCHAR(length, charset="utf8mb4", collation=collation)
            )
        return dialect.type_descriptor(String(length))


LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
"""Text that holds a long stack trace on every backend (TEXT is 64 KiB on MariaDB)."""

_MYSQL_TABLE: Final = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
"""Table options on MariaDB/MySQL: full Unicode, text compared byte for byte (ids: IdString)."""

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ClusterStatus:
    """Values of :attr:`Cluster.status`, following the cluster's latest operation."""

    UNKNOWN: Final = "Unknown"
    """Spans of the cluster arrived, but no operation span yet."""
    CREATING: Final = "Creating"
    SCALING: Final = "Scaling"
    DELETING: Final = "Deleting"
    ACTIVE: Final = "Active"
    """The latest creating or scaling operation finished successfully."""
    DELETED: Final = "Deleted"
    """The latest deleting operation finished successfully."""
    ERROR: Final = "Error"
    """The latest operation failed or was interrupted."""


class RunStatus:
    """Values of :attr:`ClusterOperation.status` and :attr:`ProvisionStep.status`.

    A step's ``successful`` keeps Sahara's tri-state next to it; the rules that set both
    are in :mod:`~otel_provlog.exporter.lifecycle`.
    """

    RUNNING: Final = "running"
    SUCCESSFUL: Final = "successful"
    FAILED: Final = "failed"
    INTERRUPTED: Final = "interrupted"
    """Its process ended without ending it, or it had no news within the staleness window."""


RUN_STATUSES: Final = (
    RunStatus.RUNNING,
    RunStatus.SUCCESSFUL,
    RunStatus.FAILED,
    RunStatus.INTERRUPTED,
)
"""Every value of :class:`RunStatus`."""


class Base(DeclarativeBase):
    """Declarative base of the store: one metadata with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class _Timestamps:
    """``created_at`` and ``updated_at``, in UTC with microseconds."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class _SpanIdentity:
    """The span a row was made from: unique together, so a replay inserts nothing."""

    trace_id: Mapped[str] = mapped_column(String(TRACE_ID_LENGTH))
    span_id: Mapped[str] = mapped_column(String(SPAN_ID_LENGTH))


class Cluster(_Timestamps, Base):
    """A cluster being provisioned: exists as soon as any of its spans is stored."""

    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(IdString(EXTERNAL_ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    tenant_id: Mapped[str | None] = mapped_column(IdString(EXTERNAL_ID_LENGTH))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), default=ClusterStatus.UNKNOWN)
    """One of :class:`ClusterStatus`."""
    status_description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(None, "tenant_id", "created_at", "id"),
        Index(None, "tenant_id", "name"),
        Index(None, "name"),
        Index(None, "status"),
        Index(None, "created_at", "id"),
        Index(None, "updated_at"),
        _MYSQL_TABLE,
    )


class ClusterOperation(_Timestamps, _SpanIdentity, Base):
    """One creating, scaling or deleting run over a cluster: its root span."""

    __tablename__ = "cluster_operations"

    id: Mapped[str] = mapped_column(String(ROW_ID_LENGTH), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(
        IdString(EXTERNAL_ID_LENGTH), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    step_type: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    """``creating``, ``scaling`` or ``deleting``."""
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), default=RunStatus.RUNNING)
    """One of :class:`RunStatus`."""
    successful: Mapped[bool | None] = mapped_column(Boolean)
    plan: Mapped[list[str] | None] = mapped_column(JSON)
    """The step names the plugin declared for this operation, in order."""
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("trace_id", "span_id"),
        Index(None, "cluster_id", "created_at"),
        _MYSQL_TABLE,
    )


class ProvisionStep(_Timestamps, _SpanIdentity, Base):
    """One provisioning step of a cluster (Sahara's ClusterProvisionStep), from a step span.

    ``completed`` and ``failed`` are the materialised counts of its events: they stay when
    the clean-up removes old event rows.
    """

    __tablename__ = "provision_steps"

    id: Mapped[str] = mapped_column(String(ROW_ID_LENGTH), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(
        IdString(EXTERNAL_ID_LENGTH), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    operation_id: Mapped[str | None] = mapped_column(
        ForeignKey("cluster_operations.id", ondelete="SET NULL")
    )
    parent_span_id: Mapped[str | None] = mapped_column(String(SPAN_ID_LENGTH))
    """The step span's parent: links the step to its operation when that span arrives."""
    step_name: Mapped[str] = mapped_column(String(STEP_NAME_LENGTH), default="")
    step_type: Mapped[str | None] = mapped_column(String(STATUS_LENGTH))
    position: Mapped[int | None] = mapped_column(Integer)
    """Where the step stands in its operation's plan (0-based), when it was declared."""
    completed: Mapped[int] = mapped_column(Integer, default=0)
    """Events that finished successfully."""
    failed: Mapped[int] = mapped_column(Integer, default=0)
    """Events that failed."""
    total: Mapped[int | None] = mapped_column(Integer)
    """Events the step expects."""
    successful: Mapped[bool | None] = mapped_column(Boolean)
    """Null while running, false once an event failed, true or false once ended."""
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), default=RunStatus.RUNNING)
    """One of :class:`RunStatus`."""
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    """Seconds from ``started_at`` to ``completed_at``, once the step ended."""
    events_pruned_at: Mapped[datetime | None]
    """When the retention clean-up removed this step's events (its counts stay)."""

    __table_args__ = (
        UniqueConstraint("trace_id", "span_id"),
        Index(None, "cluster_id", "created_at", "id"),
        Index(None, "operation_id"),
        Index(None, "status", "updated_at"),
        # Earlier runs of the same step, for time-left estimates. MariaDB indexes at most
        # 3072 bytes, so it keeps the first 255 characters of the name.
        Index(None, "step_name", "completed_at", mysql_length={"step_name": 255}),
        _MYSQL_TABLE,
    )


class ClusterEvent(_Timestamps, _SpanIdentity, Base):
    """One per-instance event of a step (Sahara's ClusterEvent), from an event span.

    ``created_at`` is when the event span ended; ``started_at`` when it began.
    """

    __tablename__ = "cluster_events"

    id: Mapped[str] = mapped_column(String(ROW_ID_LENGTH), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(
        IdString(EXTERNAL_ID_LENGTH), ForeignKey("clusters.id", ondelete="CASCADE")
    )
    provision_step_id: Mapped[str] = mapped_column(
        ForeignKey("provision_steps.id", ondelete="CASCADE")
    )
    node_group_id: Mapped[str | None] = mapped_column(IdString(EXTERNAL_ID_LENGTH))
    instance_id: Mapped[str | None] = mapped_column(IdString(EXTERNAL_ID_LENGTH))
    instance_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    event_info: Mapped[str | None] = mapped_column(LongText)
    """Free text about the event, shown to every reader: on failure, its message."""
    stacktrace: Mapped[str | None] = mapped_column(LongText)
    """The failure's stack, from ``exception.stacktrace`` alone: shown to admins only."""
    successful: Mapped[bool] = mapped_column(Boolean)
    error_id: Mapped[str | None] = mapped_column(IdString(ROW_ID_LENGTH))
    error_fingerprint: Mapped[str | None] = mapped_column(String(FINGERPRINT_LENGTH))
    """A failure's cause: the hash of ``error_pattern`` (None for successful events)."""
    error_pattern: Mapped[str | None] = mapped_column(String(PATTERN_LENGTH))
    """A failure's ``event_info`` with ids, addresses, names and numbers replaced."""
    started_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "provision_step_id", "created_at", "id"),
        Index(None, "cluster_id", "created_at", "id"),
        Index(None, "cluster_id", "instance_id"),
        Index(None, "cluster_id", "node_group_id"),
        Index(None, "cluster_id", "successful", "created_at", "id"),
        Index(None, "error_id"),
        Index(None, "cluster_id", "error_fingerprint", "created_at"),
        _MYSQL_TABLE,
    )


class RejectedSpan(Base):
    """A span record the store could not use, kept with the reason for whoever investigates.

    The id is derived from the record's content, so storing the same record again adds no row.
    """

    __tablename__ = "rejected_spans"

    id: Mapped[str] = mapped_column(String(ROW_ID_LENGTH), primary_key=True)
    trace_id: Mapped[str | None] = mapped_column(String(TRACE_ID_LENGTH))
    span_id: Mapped[str | None] = mapped_column(String(SPAN_ID_LENGTH))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH))
    payload: Mapped[str] = mapped_column(LongText)
    """The record as JSON, shortened to a bounded size."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "trace_id", "span_id"),
        _MYSQL_TABLE,
    )
