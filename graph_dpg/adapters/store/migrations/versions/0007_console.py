"""The admin console: cancellations of mass deliveries, links from a refused letter to the one sent in its
place, and an index for the search by recipient (CPR/CVR).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``console_cancellations``: one row per job an operator cancelled (who, via cli|console, when; ``lifted_at``
when a later retry lifted it); the outbound worker fails the job's pending rows between two batches.
``letter_links``: a refused letter (``original_uuid``) and the new letter with a new messageUUID sent in
its place, in the same job. ``outbox.recipient_id`` gets an index so a search by CPR does not read every
row of every mass delivery.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_cancellations",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("lifted_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["outbound_jobs.id"],
            name="fk_console_cancellations_job_id_outbound_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name="pk_console_cancellations"),
    )
    op.create_table(
        "letter_links",
        sa.Column("original_uuid", sa.String(64), nullable=False),
        sa.Column("new_uuid", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["outbound_jobs.id"], name="fk_letter_links_job_id_outbound_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("original_uuid", name="pk_letter_links"),
        sa.UniqueConstraint("new_uuid", name="uq_letter_links_new_uuid"),
    )
    op.create_index("ix_letter_links_job_id", "letter_links", ["job_id"])
    op.create_index("ix_outbox_recipient_id", "outbox", ["recipient_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient_id", table_name="outbox")
    op.drop_index("ix_letter_links_job_id", table_name="letter_links")
    op.drop_table("letter_links")
    op.drop_table("console_cancellations")
