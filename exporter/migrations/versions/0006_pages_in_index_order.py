"""Indexes that hold the pages' whole sort order (time, then row id).

Lists are paged by (``created_at``, ``id``). Indexes on the time alone made the database
sort every row of a step or cluster that shared a time to find the first page; with the
row id as the last column the first page is read from the index and stops after ``limit``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEXES = (  # table, columns before the row id
    ("clusters", ("tenant_id", "created_at")),
    ("clusters", ("created_at",)),
    ("provision_steps", ("cluster_id", "created_at")),
    ("cluster_events", ("provision_step_id", "created_at")),
    ("cluster_events", ("cluster_id", "created_at")),
    ("cluster_events", ("cluster_id", "successful", "created_at")),
)


def _name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, columns in _INDEXES:
        op.create_index(_name(table, (*columns, "id")), table, [*columns, "id"])
        op.drop_index(_name(table, columns), table_name=table)


def downgrade() -> None:
    for table, columns in reversed(_INDEXES):
        op.create_index(_name(table, columns), table, list(columns))
        op.drop_index(_name(table, (*columns, "id")), table_name=table)
