"""Inbound routes and planning warnings are kept with the rows they describe, not as effects.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``inbound_memos.route``: where the memo is delivered and why (the route value's JSON), written once
before delivery and replaced once by the main-mailbox fallback. ``outbound_jobs.warnings``: the notes
planning made for the receipt mail, written with the plan. Both are NULL on rows of earlier versions,
which kept them as effects (``inbound:{uuid}``, ``inbound-fallback:{uuid}``, ``warnings:{job}``); the
services still read those.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("inbound_memos") as batch:
        batch.add_column(sa.Column("route", JSON, nullable=True))
    with op.batch_alter_table("outbound_jobs") as batch:
        batch.add_column(sa.Column("warnings", JSON, nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: it would recreate outbound_jobs, and dropping the old table with foreign keys on
        # deletes every outbox row (ON DELETE CASCADE). SQLite has had DROP COLUMN since 3.35.
        op.execute("ALTER TABLE outbound_jobs DROP COLUMN warnings")
        op.execute("ALTER TABLE inbound_memos DROP COLUMN route")
    else:
        op.drop_column("outbound_jobs", "warnings")
        op.drop_column("inbound_memos", "route")
