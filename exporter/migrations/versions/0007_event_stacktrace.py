"""A failed event's stack in a column of its own, apart from its message.

Rows stored before held the message and the stack together in ``event_info``, in whatever
form the sender used. Which part is the stack cannot be told reliably, so a failed event
whose ``event_info`` has several lines keeps only its first line (the message's start) in
``event_info``, and all of the old text moves to ``stacktrace`` (admins only). Going back
puts ``event_info`` and ``stacktrace`` together again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

_EVENTS = sa.table(
    "cluster_events",
    sa.column("id", sa.String()),
    sa.column("event_info", sa.Text()),
    sa.column("stacktrace", sa.Text()),
    sa.column("successful", sa.Boolean()),
)


def _first_line(text: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[str]:
    """The text before the first newline of ``text``, in each backend's own SQL."""
    if dialect == "postgresql":
        return sa.func.split_part(text, "\n", 1)
    if dialect in ("mysql", "mariadb"):
        return sa.func.substring_index(text, "\n", 1)
    return sa.func.substr(text, 1, sa.func.instr(text, "\n") - 1)


def upgrade() -> None:
    op.add_column("cluster_events", sa.Column("stacktrace", LONG_TEXT, nullable=True))
    info, stacktrace = _EVENTS.c.event_info, _EVENTS.c.stacktrace
    dialect = op.get_bind().dialect.name
    # MariaDB assigns left to right: the old text is copied before it is cut.
    op.execute(
        _EVENTS.update()
        .where(_EVENTS.c.successful == sa.false(), info.contains("\n", autoescape=True))
        .ordered_values((stacktrace, info), (info, _first_line(info, dialect)))
    )


def _joined(info: str | None, stacktrace: str) -> str:
    """The event info of before: a moved text whole, else the message and then the stack."""
    if info is None or stacktrace.startswith(info):
        return stacktrace
    return f"{info}\n\n{stacktrace}"


def downgrade() -> None:
    bind = op.get_bind()
    found = bind.execute(
        sa.select(_EVENTS.c.id, _EVENTS.c.event_info, _EVENTS.c.stacktrace).where(
            _EVENTS.c.stacktrace.is_not(None)
        )
    ).all()
    if found:
        bind.execute(
            _EVENTS.update()
            .where(_EVENTS.c.id == sa.bindparam("row_id"))
            .values(event_info=sa.bindparam("joined")),
            [{"row_id": row.id, "joined": _joined(row.event_info, row.stacktrace)} for row in found],
        )
    op.drop_column("cluster_events", "stacktrace")
