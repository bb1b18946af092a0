"""When the retention clean-up removed a step's events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Naive UTC with microseconds everywhere (MariaDB keeps whole seconds without fsp=6).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("provision_steps", sa.Column("events_pruned_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    op.drop_column("provision_steps", "events_pruned_at")
