"""Any replica claims a batch of inbound memos to deliver or acknowledge (issue 18).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``inbound_memos.claimed_by``/``claimed_until``: the replica delivering (RECEIVED), acknowledging (DELIVERED)
or deleting (ACKNOWLEDGED, pulled) a memo, and until when. Any replica claims a batch of free (or expired)
rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so delivery is no longer the ``ngdp:memos`` lease holder's
singleton. The holder renews the claim while it works and releases it when the step is over; a replica
that dies mid-delivery leaves its rows claimed until the claim expires, then another one takes them. Rows
of earlier versions get NULL (free).

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_memos") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("claimed_until", TS, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode (as 0009/0010): it would copy the table and drop the old one, the raw XML of every
        # memo included; no table references inbound_memos today, but a copy is no way to drop two
        # columns. SQLite has had DROP COLUMN since 3.35.
        op.execute("ALTER TABLE inbound_memos DROP COLUMN claimed_until")
        op.execute("ALTER TABLE inbound_memos DROP COLUMN claimed_by")
    else:
        op.drop_column("inbound_memos", "claimed_until")
        op.drop_column("inbound_memos", "claimed_by")
