"""Rejected span records, and the parent span of each step.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Naive UTC with microseconds everywhere (MariaDB keeps whole seconds without fsp=6).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column(
        "provision_steps", sa.Column("parent_span_id", sa.String(length=16), nullable=True)
    )
    op.create_table(
        "rejected_spans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_spans")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_rejected_spans_created_at"), "rejected_spans", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_rejected_spans_trace_id_span_id"),
        "rejected_spans",
        ["trace_id", "span_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("rejected_spans")
    op.drop_column("provision_steps", "parent_span_id")
