"""Initial schema of the state store: every table of ``graph_dpg.adapters.store.schema``.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Types are spelled out here (not imported from ``schema``) so this revision stays what it was when
released, whatever later revisions change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware timestamps (timestamptz on PostgreSQL; naive UTC text on SQLite, see schema.UtcDateTime).
TS = sa.DateTime(timezone=True)
# SQLite autoincrements only an "INTEGER PRIMARY KEY".
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("replica", sa.String(length=256), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_action_ts"), "audit_events", ["action", "ts"])
    op.create_index(op.f("ix_audit_events_ts"), "audit_events", ["ts"])

    op.create_table(
        "delta_links",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("folder", sa.String(length=512), nullable=False),
        sa.Column("delta_link", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "folder", name=op.f("pk_delta_links")),
    )
    op.create_table(
        "effects",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.CheckConstraint("state IN ('planned', 'done')", name=op.f("ck_effects_state")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_effects")),
    )
    op.create_index(op.f("ix_effects_state_created_at"), "effects", ["state", "created_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])

    op.create_table(
        "inbound_memos",
        sa.Column("memo_uuid", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target_mailbox", sa.String(length=320), nullable=True),
        sa.Column("created_message_id", sa.String(length=512), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("source IN ('pull', 'push', 'mail')", name=op.f("ck_inbound_memos_source")),
        sa.CheckConstraint(
            "state IN ('received', 'delivered', 'acknowledged', 'deleted')",
            name=op.f("ck_inbound_memos_state"),
        ),
        sa.PrimaryKeyConstraint("memo_uuid", name=op.f("pk_inbound_memos")),
    )
    op.create_index(op.f("ix_inbound_memos_state_received_at"), "inbound_memos", ["state", "received_at"])

    op.create_table(
        "leases",
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("acquired_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("resource", name=op.f("pk_leases")),
    )
    op.create_table(
        "outbound_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.String(length=512), nullable=False),
        sa.Column("internet_message_id", sa.String(length=1024), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "state IN ('new', 'planned', 'sending', 'done', 'rejected', 'failed')",
            name=op.f("ck_outbound_jobs_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_jobs")),
        sa.UniqueConstraint("mailbox", "message_id", name=op.f("uq_outbound_jobs_mailbox_message_id")),
    )
    op.create_index(op.f("ix_outbound_jobs_state_updated_at"), "outbound_jobs", ["state", "updated_at"])

    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.String(length=128), nullable=False),
        sa.Column("message_uuid", sa.String(length=64), nullable=True),
        sa.Column("receipt_status", sa.String(length=32), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipts")),
    )
    op.create_index(op.f("ix_receipts_message_uuid"), "receipts", ["message_uuid"])
    op.create_index(op.f("ix_receipts_processed_received_at"), "receipts", ["processed", "received_at"])

    op.create_table(
        "replicas",
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_replicas")),
    )
    op.create_table(
        "rule_state",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("last_hit_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rule_state")),
    )
    op.create_table(
        "source_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.String(length=512), nullable=False),
        sa.Column("internet_message_id", sa.String(length=1024), nullable=True),
        sa.Column("claimed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_messages")),
        sa.UniqueConstraint(
            "mailbox", "internet_message_id", name=op.f("uq_source_messages_mailbox_internet_message_id")
        ),
        sa.UniqueConstraint("mailbox", "message_id", name=op.f("uq_source_messages_mailbox_message_id")),
    )
    op.create_index(op.f("ix_source_messages_claimed_at"), "source_messages", ["claimed_at"])

    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("message_uuid", sa.String(length=64), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_contact_point", sa.String(length=256), nullable=True),
        sa.Column("memo_ref", sa.String(length=1024), nullable=True),
        sa.Column("memo_xml", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("transmission_id", sa.String(length=64), nullable=True),
        sa.Column("receipt_status", sa.String(length=32), nullable=True),
        sa.Column("not_before", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'rejected', 'failed')", name=op.f("ck_outbox_state")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["outbound_jobs.id"], name=op.f("fk_outbox_job_id_outbound_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_uuid", name=op.f("uq_outbox_message_uuid")),
    )
    op.create_index(op.f("ix_outbox_job_id_state_id"), "outbox", ["job_id", "state", "id"])
    op.create_index(op.f("ix_outbox_state_updated_at"), "outbox", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_state_updated_at"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_job_id_state_id"), table_name="outbox")

    op.drop_table("outbox")
    op.drop_index(op.f("ix_source_messages_claimed_at"), table_name="source_messages")

    op.drop_table("source_messages")
    op.drop_table("rule_state")
    op.drop_table("replicas")
    op.drop_index(op.f("ix_receipts_processed_received_at"), table_name="receipts")
    op.drop_index(op.f("ix_receipts_message_uuid"), table_name="receipts")

    op.drop_table("receipts")
    op.drop_index(op.f("ix_outbound_jobs_state_updated_at"), table_name="outbound_jobs")

    op.drop_table("outbound_jobs")
    op.drop_table("leases")
    op.drop_index(op.f("ix_inbound_memos_state_received_at"), table_name="inbound_memos")

    op.drop_table("inbound_memos")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")

    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_effects_state_created_at"), table_name="effects")

    op.drop_table("effects")
    op.drop_table("delta_links")
    op.drop_index(op.f("ix_audit_events_ts"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action_ts"), table_name="audit_events")

    op.drop_table("audit_events")
