"""Graph change notifications: the subscription of each polled folder, and wakes for the poller.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``subscriptions``: one row per polled folder (the folder's lease resource): the Graph subscription id, the
secret ``clientState`` every notification must carry, its expiry, and what a lifecycle notification asked
for (``reauthorize`` or ``recreate``). ``wakes``: a folder to poll now; written by whichever replica
received the notification, taken (deleted) by the replica holding the folder's lease.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("subscription_id", sa.String(128), nullable=True),
        sa.Column("client_state", sa.String(128), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("need", sa.String(16), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "need IS NULL OR need IN ('reauthorize', 'recreate')", name=op.f("ck_subscriptions_need")
        ),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        op.f("ix_subscriptions_subscription_id"), "subscriptions", ["subscription_id"], unique=False
    )
    op.create_table(
        "wakes",
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_wakes")),
    )


def downgrade() -> None:
    op.drop_table("wakes")
    op.drop_index(op.f("ix_subscriptions_subscription_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
