"""Events are kept unique by their row id alone.

An event's row id names its (trace id, span id) (``otel_provlog._ids.span_row_id``), so the
primary key already keeps a span from being stored twice. The second unique index on
(trace id, span id) cost every insert a random B-tree write and nothing reads it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NAME = "uq_cluster_events_trace_id_span_id"


def upgrade() -> None:
    # SQLite cannot drop a constraint in place: batch mode copies the table.
    with op.batch_alter_table("cluster_events") as batch:
        batch.drop_constraint(_NAME, type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("cluster_events") as batch:
        batch.create_unique_constraint(_NAME, ["trace_id", "span_id"])
