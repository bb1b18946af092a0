"""Keyset pagination: one page of any ordered list, after a marker, with its neighbours.

A list is a query and an order: columns (each ascending or descending) whose last one is
unique, so every row has one place. A page starts after the *boundary*, the order values of
the row its marker names, and holds up to ``limit`` rows. The marker of the next page is the
unique value of the page's last row; the marker of the page before is found by reading the
list backwards from the page's first row. Rows added while a client pages never make it
skip or repeat a row behind its marker, which offsets cannot promise.

Lists of grouped rows page the same way: their order may hold aggregates, and the
conditions then go to ``HAVING``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Result, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = [
    "AnyResult",
    "AnySelect",
    "Keyset",
    "MarkerNotFoundError",
    "Ordering",
    "Page",
    "Sort",
    "boundary_of",
]

RowT = TypeVar("RowT")
AnySelect: TypeAlias = Select[*tuple[Any, ...]]
"""A select of any columns."""
AnyResult: TypeAlias = Result[*tuple[Any, ...]]
"""The result of any select."""


class MarkerNotFoundError(LookupError):
    """The marker names no row the caller may see."""


@dataclass(frozen=True, slots=True)
class Sort:
    """A sort order: one key of the model, ascending unless ``descending``."""

    key: str = "created_at"
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Page(Generic[RowT]):
    """One page of rows and the markers of its neighbours (None when there is none).

    ``prev`` is the marker that returns the page before; it is None both when there is no
    page before and when the page before is the first one (ask without a marker).
    """

    items: Sequence[RowT]
    next: str | None = None
    prev: str | None = None


@dataclass(frozen=True, slots=True)
class Ordering:
    """One column of a list's order, ascending unless ``descending``."""

    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    descending: bool = False


def _beyond(
    order: Sequence[Ordering], values: Sequence[Any], *, forward: bool, inclusive: bool
) -> ColumnElement[bool]:
    """Select the rows after ``values`` in list order (before it when not ``forward``)."""
    found: ColumnElement[bool] | None = None
    for position in reversed(range(len(order))):
        ordering, value = order[position], values[position]
        column = ordering.column
        ahead = forward != ordering.descending
        if found is None:  # the unique last column: equal only when inclusive
            if inclusive:
                found = column >= value if ahead else column <= value
            else:
                found = column > value if ahead else column < value
        else:
            past = column > value if ahead else column < value
            found = or_(past, and_(column == value, found))
    assert found is not None
    return found


def boundary_of(session: Session, query: AnySelect, marker: str) -> tuple[Any, ...]:
    """Return the one row ``query`` finds: the order values of the row ``marker`` names.

    Raises:
        MarkerNotFoundError: ``query`` finds no row.
    """
    found = session.execute(query).one_or_none()
    if found is None:
        raise MarkerNotFoundError(marker)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Keyset(Generic[RowT]):
    """How one list is paged: its query, its order and how its rows are read.

    ``query`` selects the list's rows, filtered; ``order`` ends with a unique column; ``read``
    turns a result into rows and ``values`` gives a row's order values (the last one is its
    marker). With ``grouped``, ``query`` has a ``GROUP BY`` and the order holds aggregates.
    """

    query: AnySelect
    order: Sequence[Ordering]
    read: Callable[[AnyResult], Sequence[RowT]]
    values: Callable[[RowT], Sequence[Any]]
    grouped: bool = False

    def _ordered(self, query: AnySelect, *, forward: bool) -> AnySelect:
        return query.order_by(
            *(o.column.asc() if forward != o.descending else o.column.desc() for o in self.order)
        )

    def _narrowed(self, query: AnySelect, condition: ColumnElement[bool]) -> AnySelect:
        return query.having(condition) if self.grouped else query.where(condition)

    def page(self, session: Session, *, limit: int, boundary: Sequence[Any] | None) -> Page[RowT]:
        """Return up to ``limit`` rows after ``boundary`` (from the start when None)."""
        query = self.query
        if boundary is not None:
            query = self._narrowed(
                query, _beyond(self.order, boundary, forward=True, inclusive=False)
            )
        rows = self.read(session.execute(self._ordered(query, forward=True).limit(limit + 1)))
        next_marker = str(self.values(rows[limit - 1])[-1]) if len(rows) > limit else None
        items = rows[:limit]
        prev_marker: str | None = None
        if boundary is not None:
            edge, inclusive = (self.values(items[0]), False) if items else (boundary, True)
            before = self._narrowed(
                self.query, _beyond(self.order, edge, forward=False, inclusive=inclusive)
            )
            unique = self.order[-1].column
            found = session.execute(
                self._ordered(before, forward=False).with_only_columns(unique).limit(limit + 1)
            ).all()
            if len(found) > limit:
                prev_marker = str(found[limit][0])
        return Page(items=items, next=next_marker, prev=prev_marker)
