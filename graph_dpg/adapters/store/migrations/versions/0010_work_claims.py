"""Effects know the function mailbox they write to, so the replica holding that mailbox runs them; any
replica claims a batch of recorded business receipts to apply.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``effects.mailbox``: the lower-case address of the function mailbox whose outbound lease owns the effect
(receipt mails and categories of an outbound job). The replica holding that mailbox's lease runs its
effects, so they spread over the replicas with the mailboxes and never run on two at once (see
docs/architecture.md, "Effects: exactly once across crashes"). Effects of earlier versions, and those with
no mailbox, get NULL; the housekeeping lease holder runs those.

``receipts.claimed_by``/``claimed_until``: the replica applying a recorded business receipt, until when. Any
replica claims a batch of free (or expired) rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so applying
receipts is no longer one replica's singleton; a replica that dies mid-batch leaves its rows unprocessed,
and they are claimed again once the claim expires.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("effects") as batch:
        batch.add_column(sa.Column("mailbox", sa.String(320), nullable=True))
    op.create_index("ix_effects_mailbox_state_created_at", "effects", ["mailbox", "state", "created_at"])
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("claimed_until", TS, nullable=True))


def downgrade() -> None:
    op.drop_index("ix_effects_mailbox_state_created_at", table_name="effects")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE effects DROP COLUMN mailbox")
        op.execute("ALTER TABLE receipts DROP COLUMN claimed_until")
        op.execute("ALTER TABLE receipts DROP COLUMN claimed_by")
    else:
        op.drop_column("effects", "mailbox")
        op.drop_column("receipts", "claimed_until")
        op.drop_column("receipts", "claimed_by")
