"""Outbound jobs count their transient failures and wait before the next attempt.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

``outbound_jobs.attempts``: how often the job could not be advanced for a transient reason (Graph or NgDP
busy or unreachable); the service gives the job up with an answer once the attempts or the time allowed
are used up. ``outbound_jobs.not_before``: the job is not advanced again before this time (the shared
backoff). Rows of earlier versions get 0 and NULL: no failure counted, due now.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbound_jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("not_before", TS, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode, as in 0003 and 0009: recreating outbound_jobs would delete every outbox row
        # (ON DELETE CASCADE) when the old table is dropped.
        op.execute("ALTER TABLE outbound_jobs DROP COLUMN not_before")
        op.execute("ALTER TABLE outbound_jobs DROP COLUMN attempts")
    else:
        op.drop_column("outbound_jobs", "not_before")
        op.drop_column("outbound_jobs", "attempts")
