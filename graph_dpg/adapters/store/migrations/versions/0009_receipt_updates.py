"""Outbound jobs remember when the case worker sent the mail, so every receipt can name it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``outbound_jobs.sent_at``: the original mail's Graph ``sentDateTime`` as read when the job was created. A
receipt (and an updated receipt) points to its original by subject and this time, in Danish local time.
Jobs of earlier versions get NULL; their receipts name the subject only.

Updated receipts need no table of their own: each generation is an effect (``receipt:{job}:update:...``)
in the effects table, and what a receipt mail showed is kept in its effect's result.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbound_jobs") as batch:
        batch.add_column(sa.Column("sent_at", TS, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: it would recreate outbound_jobs, and dropping the old table with foreign keys on
        # deletes every outbox row (ON DELETE CASCADE). SQLite has had DROP COLUMN since 3.35.
        op.execute("ALTER TABLE outbound_jobs DROP COLUMN sent_at")
    else:
        op.drop_column("outbound_jobs", "sent_at")
