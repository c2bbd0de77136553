"""Graph requests counted per mailbox (and app) and minute, shared by the replicas (issue 18).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

``graph_budget``: one row per scope (``mailbox:<address>`` or ``app``) and fixed window of 60 seconds
(``window_start``: whole seconds since the epoch on the database's clock); ``used``: the requests the
replicas have reserved in it. A replica reserves a block with one ``UPDATE ... SET used = used + n WHERE
used + n <= cap`` (graph_dpg.core.budget: 900 a minute keep any 10 minutes under Graph's 10,000). Rows of
windows over an hour old are deleted when a scope opens a new window.

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graph_budget",
        sa.Column("scope", sa.String(400), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "window_start", name=op.f("pk_graph_budget")),
    )


def downgrade() -> None:
    op.drop_table("graph_budget")
