"""Effects know the function mailbox they write to, so the replica holding that mailbox runs them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``effects.mailbox``: the lower-case address of the function mailbox whose outbound lease owns the effect
(receipt mails and categories of an outbound job). The replica holding that mailbox's lease runs its
effects, so they spread over the replicas with the mailboxes and never run on two at once (see
docs/architecture.md, "Effects: exactly once across crashes"). Effects of earlier versions, and those with
no mailbox, get NULL; the housekeeping lease holder runs those.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("effects") as batch:
        batch.add_column(sa.Column("mailbox", sa.String(320), nullable=True))
    op.create_index("ix_effects_mailbox_state_created_at", "effects", ["mailbox", "state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_effects_mailbox_state_created_at", table_name="effects")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE effects DROP COLUMN mailbox")
    else:
        op.drop_column("effects", "mailbox")
