"""Indexes for sorting clusters by name and finding earlier runs of a step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 22:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_clusters_tenant_id_name", "clusters", ["tenant_id", "name"])
    op.create_index("ix_clusters_name", "clusters", ["name"])
    op.create_index(
        "ix_provision_steps_step_name_completed_at",
        "provision_steps",
        ["step_name", "completed_at"],
        mysql_length={"step_name": 255},
    )


def downgrade() -> None:
    op.drop_index("ix_provision_steps_step_name_completed_at", table_name="provision_steps")
    op.drop_index("ix_clusters_name", table_name="clusters")
    op.drop_index("ix_clusters_tenant_id_name", table_name="clusters")
