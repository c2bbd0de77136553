"""Outbox rows remember that a send may have reached NgDP before its outcome was recorded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

``outbox.in_flight_at``: set (in one transaction per batch) just before the gateway POSTs the batch's
memos, and never cleared. A crash between the POST and ``record_send_results`` leaves the row pending with
``attempts`` 0 but this mark, so the retry sends with ``possibly_sent`` and an unrecognised duplicate
answer is reconciled with NgDP's event log instead of being reported as a refusal. Rows of earlier
versions get NULL (no send in flight).

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("in_flight_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("in_flight_at")
