"""Events' row ids grow with time: stored ids are rewritten to ``event_row_id``.

An event's row id used to be a hash of its (trace id, span id) alone
(``otel_provlog._ids.span_row_id``, UUID version 5): every stored event then wrote into a
random page of the primary key, which costs more the more events the store holds. It is
now ``otel_provlog._ids.event_row_id`` (UUID version 8: the span's end in milliseconds,
then the same hash), so new events append to the end of the key. The stored events get
their new ids here, so a span stored before the upgrade and sent again after it is still
recognised; the downgrade gives them back their old ids. Nothing else refers to an event's
row id. Rows are rewritten in batches, in primary-key order.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

from otel_provlog._ids import event_row_id, span_row_id

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 2000
_EPOCH = datetime(1970, 1, 1)
_EVENTS = sa.table(
    "cluster_events",
    sa.column("id", sa.String(36)),
    sa.column("trace_id", sa.String(32)),
    sa.column("span_id", sa.String(16)),
    sa.column("created_at", sa.DateTime()),
)


def _nanoseconds(at: datetime) -> int:
    return (at.replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1) * 1000


def _rewrite(version: str, new_id: Callable[[str, str, datetime], str]) -> None:
    """Give every event whose id is of UUID ``version`` the id ``new_id`` names."""
    bind = op.get_bind()
    events = _EVENTS.c
    old: sa.BindParameter[str] = sa.bindparam("old_id")
    rename = sa.update(_EVENTS).where(events.id == old).values(id=sa.bindparam("new_id"))
    last = ""
    while True:
        rows = bind.execute(
            sa.select(events.id, events.trace_id, events.span_id, events.created_at)
            .where(events.id > last, sa.func.substr(events.id, 15, 1) == version)
            .order_by(events.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            rename,
            [{"old_id": row[0], "new_id": new_id(row[1], row[2], row[3])} for row in rows],
        )
        last = rows[-1][0]


def upgrade() -> None:
    _rewrite("5", lambda trace, span, at: event_row_id(trace, span, _nanoseconds(at)))


def downgrade() -> None:
    _rewrite("8", lambda trace, span, at: span_row_id(trace, span))
