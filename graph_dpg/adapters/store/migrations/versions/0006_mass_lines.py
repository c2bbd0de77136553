"""Outbox rows remember the recipient's line in masseforsendelse.txt.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``outbox.mass_line``: the 1-based line of the recipient in ``masseforsendelse.txt``, known when the mass
delivery is planned, so the receipt's ``Linje`` column and the attached lists trace every failed recipient
back to the file the sender wrote. NULL for ordinary letters and for rows planned by earlier versions (their
receipts leave the column empty, as before).

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("mass_line", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("mass_line")
