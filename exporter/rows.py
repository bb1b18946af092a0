"""Plain read-only rows for the lists that show many rows at once.

A page of clusters shows a hundred clusters with their steps and operations; loading them
as ORM objects (identity map, instrumented attributes) cost more than the queries. These
named tuples carry the same fields under the same names, read by Core selects of just those
columns (no ORM layer at all), so :mod:`otel_provlog.api.serialize` takes a row or an ORM
object alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, FromClause

from otel_provlog.exporter.keyset import AnyResult

__all__ = ["ClusterRow", "OperationRow", "StepRow", "columns_of", "read_rows"]

RowT = TypeVar("RowT", bound=tuple[Any, ...])


class ClusterRow(NamedTuple):
    """A cluster's own fields (see :class:`~otel_provlog.exporter.models.Cluster`)."""

    id: str
    name: str | None
    tenant_id: str | None
    status: str
    status_description: str | None
    created_at: datetime
    updated_at: datetime


class OperationRow(NamedTuple):
    """An operation's fields (see :class:`~otel_provlog.exporter.models.ClusterOperation`)."""

    id: str
    cluster_id: str
    step_type: str
    status: str
    successful: bool | None
    plan: list[str] | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    trace_id: str


class StepRow(NamedTuple):
    """A step's fields (see :class:`~otel_provlog.exporter.models.ProvisionStep`)."""

    id: str
    cluster_id: str
    operation_id: str | None
    step_name: str
    step_type: str | None
    position: int | None
    completed: int
    failed: int
    total: int | None
    successful: bool | None
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    duration: float | None
    created_at: datetime
    updated_at: datetime


def columns_of(table: FromClause, row_type: type[tuple[Any, ...]]) -> list[ColumnElement[Any]]:
    """Return the columns of ``table`` a row of ``row_type`` holds, in its order."""
    fields: Sequence[str] = getattr(row_type, "_fields")  # noqa: B009 (NamedTuple API)
    return [table.c[name] for name in fields]


def read_rows(row_type: type[RowT], result: AnyResult) -> list[RowT]:
    """Return the rows of ``result`` (a select of :func:`columns_of`) as ``row_type``."""
    make = getattr(row_type, "_make")  # noqa: B009 (NamedTuple API)
    return list(map(make, result.all()))
