"""Initial schema: clusters, operations, provisioning steps and events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 20:56:52.968105
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Naive UTC with microseconds everywhere (MariaDB keeps whole seconds without fsp=6).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("tenant_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_description", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_clusters_created_at"), "clusters", ["created_at"], unique=False)
    op.create_index(op.f("ix_clusters_status"), "clusters", ["status"], unique=False)
    op.create_index(
        op.f("ix_clusters_tenant_id_created_at"),
        "clusters",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_clusters_updated_at"), "clusters", ["updated_at"], unique=False)
    op.create_table(
        "cluster_operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=255), nullable=False),
        sa.Column("step_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("successful", sa.Boolean(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_cluster_operations_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_operations")),
        sa.UniqueConstraint(
            "trace_id", "span_id", name=op.f("uq_cluster_operations_trace_id_span_id")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_cluster_operations_cluster_id_created_at"),
        "cluster_operations",
        ["cluster_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "provision_steps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=255), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column("step_name", sa.String(length=1024), nullable=False),
        sa.Column("step_type", sa.String(length=16), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("successful", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_provision_steps_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["cluster_operations.id"],
            name=op.f("fk_provision_steps_operation_id_cluster_operations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_steps")),
        sa.UniqueConstraint(
            "trace_id", "span_id", name=op.f("uq_provision_steps_trace_id_span_id")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_provision_steps_cluster_id_created_at"),
        "provision_steps",
        ["cluster_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_provision_steps_operation_id"), "provision_steps", ["operation_id"], unique=False
    )
    op.create_index(
        op.f("ix_provision_steps_status_updated_at"),
        "provision_steps",
        ["status", "updated_at"],
        unique=False,
    )
    op.create_table(
        "cluster_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=255), nullable=False),
        sa.Column("provision_step_id", sa.String(length=36), nullable=False),
        sa.Column("node_group_id", sa.String(length=255), nullable=True),
        sa.Column("instance_id", sa.String(length=255), nullable=True),
        sa.Column("instance_name", sa.String(length=255), nullable=True),
        sa.Column("event_info", LONG_TEXT, nullable=True),
        sa.Column("successful", sa.Boolean(), nullable=False),
        sa.Column("error_id", sa.String(length=36), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_cluster_events_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provision_step_id"],
            ["provision_steps.id"],
            name=op.f("fk_cluster_events_provision_step_id_provision_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_events")),
        sa.UniqueConstraint("trace_id", "span_id", name=op.f("uq_cluster_events_trace_id_span_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_cluster_events_cluster_id_created_at"),
        "cluster_events",
        ["cluster_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cluster_events_cluster_id_instance_id"),
        "cluster_events",
        ["cluster_id", "instance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cluster_events_cluster_id_node_group_id"),
        "cluster_events",
        ["cluster_id", "node_group_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cluster_events_cluster_id_successful_created_at"),
        "cluster_events",
        ["cluster_id", "successful", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cluster_events_error_id"), "cluster_events", ["error_id"], unique=False
    )
    op.create_index(
        op.f("ix_cluster_events_provision_step_id_created_at"),
        "cluster_events",
        ["provision_step_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("cluster_events")
    op.drop_table("provision_steps")
    op.drop_table("cluster_operations")
    op.drop_table("clusters")
