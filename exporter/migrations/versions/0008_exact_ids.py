"""Ids compared exactly on MariaDB/MySQL: a binary collation that does not pad spaces.

``utf8mb4_bin`` compares with PAD SPACE, so ``'c1 '`` equals ``'c1'`` in a key or a lookup
on MariaDB/MySQL but not on SQLite or PostgreSQL. The id columns taken from span data get
a binary NO PAD collation (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL
8), so ids compare byte for byte, case-sensitively, on every backend. The foreign keys on
``clusters.id`` are dropped and made again around the change (MariaDB refuses to change a
referenced column otherwise). Nothing changes on SQLite and PostgreSQL. A downgrade fails
while two stored ids differ only by trailing spaces (the padded keys cannot hold both).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CHILDREN = ("cluster_operations", "provision_steps", "cluster_events")
_COLUMNS = (  # table, column, length, nullable
    ("clusters", "id", 255, False),
    ("clusters", "tenant_id", 255, True),
    ("cluster_operations", "cluster_id", 255, False),
    ("provision_steps", "cluster_id", 255, False),
    ("cluster_events", "cluster_id", 255, False),
    ("cluster_events", "node_group_id", 255, True),
    ("cluster_events", "instance_id", 255, True),
    ("cluster_events", "error_id", 36, True),
)


def _collate(collation: str) -> None:
    for table in _CHILDREN:
        op.drop_constraint(f"fk_{table}_cluster_id_clusters", table, type_="foreignkey")
    for table, column, length, nullable in _COLUMNS:
        null = "NULL" if nullable else "NOT NULL"
        op.execute(
            f"ALTER TABLE {table} MODIFY {column} VARCHAR({length})"
            f" CHARACTER SET utf8mb4 COLLATE {collation} {null}"
        )
    for table in _CHILDREN:
        op.create_foreign_key(
            f"fk_{table}_cluster_id_clusters",
            table,
            "clusters",
            ["cluster_id"],
            ["id"],
            ondelete="CASCADE",
        )


def _mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if _mysql():
        mariadb = getattr(op.get_bind().dialect, "is_mariadb", False)
        _collate("utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin")


def downgrade() -> None:
    if _mysql():
        _collate("utf8mb4_bin")
