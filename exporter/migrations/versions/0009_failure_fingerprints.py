"""Failure fingerprints: ``error_fingerprint`` and ``error_pattern`` on every failed event.

The two columns are filled when an event is stored; failed events stored before are given
theirs here, in batches of :data:`BATCH` rows, by the same function the store uses
(:func:`~otel_provlog.exporter.fingerprints.fingerprint_message` of ``event_info``), so old
and new failures of one cause share one fingerprint. An index on (``cluster_id``,
``error_fingerprint``, ``created_at``) lets a cluster's failures be grouped from the index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from otel_provlog.exporter.fingerprints import (
    FINGERPRINT_LENGTH,
    PATTERN_LENGTH,
    fingerprint_message,
)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 1000
"""Failed events read and updated per statement."""
_INDEX = "ix_cluster_events_cluster_id_error_fingerprint_created_at"

_EVENTS = sa.table(
    "cluster_events",
    sa.column("id", sa.String()),
    sa.column("event_info", sa.Text()),
    sa.column("successful", sa.Boolean()),
    sa.column("error_fingerprint", sa.String()),
    sa.column("error_pattern", sa.String()),
)


def _backfill(bind: sa.Connection) -> None:
    """Fingerprint the failed events stored so far, a batch at a time, in id order."""
    update = (
        _EVENTS.update()
        .where(_EVENTS.c.id == sa.bindparam("row_id"))
        .values(
            error_fingerprint=sa.bindparam("fingerprint"), error_pattern=sa.bindparam("pattern")
        )
    )
    after = ""
    while True:
        found = bind.execute(
            sa.select(_EVENTS.c.id, _EVENTS.c.event_info)
            .where(_EVENTS.c.successful == sa.false(), _EVENTS.c.id > after)
            .order_by(_EVENTS.c.id)
            .limit(BATCH)
        ).all()
        if not found:
            return
        rows = []
        for row in found:
            fingerprint, pattern = fingerprint_message(row.event_info)
            rows.append({"row_id": row.id, "fingerprint": fingerprint, "pattern": pattern})
        bind.execute(update, rows)
        after = found[-1].id


def upgrade() -> None:
    op.add_column(
        "cluster_events",
        sa.Column("error_fingerprint", sa.String(FINGERPRINT_LENGTH), nullable=True),
    )
    op.add_column(
        "cluster_events", sa.Column("error_pattern", sa.String(PATTERN_LENGTH), nullable=True)
    )
    _backfill(op.get_bind())
    op.create_index(
        _INDEX, "cluster_events", ["cluster_id", "error_fingerprint", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="cluster_events")
    op.drop_column("cluster_events", "error_pattern")
    op.drop_column("cluster_events", "error_fingerprint")
