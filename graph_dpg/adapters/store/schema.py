"""The tables of the state store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

The Alembic revisions in ``migrations/versions`` create exactly this schema; a test compares the two
(``alembic.autogenerate.compare_metadata``) so they cannot drift apart. States are plain strings with
CHECK constraints; the transitions themselves are documented in ``graph_dpg.ports.store``.

Timestamps are always timezone-aware UTC in Python. PostgreSQL stores ``timestamptz``; SQLite has no
such type, so :class:`UtcDateTime` stores naive UTC text there, which still sorts and compares
correctly as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        # SQLite would keep the "+00:00" suffix on some paths and not on others; naive UTC text
        # compares consistently.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only aliases ROWID for "INTEGER PRIMARY KEY"; BIGINT would lose autoincrement there.
BigId: Any = BigInteger().with_variant(Integer(), "sqlite")
Json: Any = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

JOB_STATES = ("new", "planned", "sending", "done", "rejected", "failed")
OUTBOX_STATES = ("pending", "accepted", "rejected", "failed")
EFFECT_STATES = ("planned", "done")
INBOUND_STATES = ("received", "delivered", "acknowledged", "deleted")
INBOUND_SOURCES = ("pull", "push", "mail")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


source_messages = Table(
    "source_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("mailbox", String(320), nullable=False),
    Column("message_id", String(512), nullable=False),
    Column("internet_message_id", String(1024), nullable=True),
    Column("claimed_at", UtcDateTime, nullable=False),
    # NULLs are distinct in a UNIQUE constraint on both databases, so mails without an
    # internetMessageId are only deduplicated by their Graph id.
    UniqueConstraint("mailbox", "message_id"),
    UniqueConstraint("mailbox", "internet_message_id"),
    Index(None, "claimed_at"),
)

delta_links = Table(
    "delta_links",
    metadata,
    Column("mailbox", String(320), primary_key=True),
    Column("folder", String(512), primary_key=True),
    Column("delta_link", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

outbound_jobs = Table(
    "outbound_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("mailbox", String(320), nullable=False),
    Column("message_id", String(512), nullable=False),
    Column("internet_message_id", String(1024), nullable=True),
    Column("subject", Text, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("warnings", Json, nullable=True),  # planning's notes for the receipt mail (a JSON list)
    Column("attempts", Integer, nullable=False, server_default="0"),  # transient failures so far
    Column("not_before", UtcDateTime, nullable=True),  # waits until then after a transient failure
    # When the case worker sent the mail (Graph sentDateTime): receipts name it (migration 0009).
    Column("sent_at", UtcDateTime, nullable=True),
    UniqueConstraint("mailbox", "message_id"),
    CheckConstraint(_in("state", JOB_STATES), name="state"),
    Index(None, "state", "updated_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", String(64), ForeignKey("outbound_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("message_uuid", String(64), nullable=False),
    Column("recipient_kind", String(16), nullable=False),
    Column("recipient_id", String(64), nullable=False),
    Column("recipient_contact_point", String(256), nullable=True),
    Column("memo_ref", String(1024), nullable=True),
    Column("memo_xml", LargeBinary, nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("transmission_id", String(64), nullable=True),
    Column("receipt_status", String(32), nullable=True),
    Column("not_before", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Set before the batch's POSTs, never cleared: a send may have reached NgDP (migration 0005).
    Column("in_flight_at", UtcDateTime, nullable=True),
    # The recipient's line in masseforsendelse.txt, for the receipt (migration 0006); NULL otherwise.
    Column("mass_line", Integer, nullable=True),
    UniqueConstraint("message_uuid"),
    CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
    Index(None, "job_id", "state", "id"),
    Index(None, "state", "updated_at"),
    Index(None, "recipient_id"),  # the console's search by CPR/CVR (migration 0007)
)

effects = Table(
    "effects",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("payload", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("result", Json, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
    # The function mailbox whose outbound lease runs the effect (lower case); NULL: the housekeeping
    # lease holder runs it (effects of other kinds, and those planned before migration 0010).
    Column("mailbox", String(320), nullable=True),
    CheckConstraint(_in("state", EFFECT_STATES), name="state"),
    Index(None, "state", "created_at"),
    Index("ix_effects_mailbox_state_created_at", "mailbox", "state", "created_at"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("receipt_id", String(128), primary_key=True),
    Column("message_uuid", String(64), nullable=True),
    Column("receipt_status", String(32), nullable=True),
    Column("payload", Json, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed", Boolean, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    # A replica applying it now (issue 18: any replica claims a batch; an expired claim is free again).
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),
    Index(None, "message_uuid"),
    Index(None, "processed", "received_at"),
)

inbound_memos = Table(
    "inbound_memos",
    metadata,
    Column("memo_uuid", String(64), primary_key=True),
    Column("source", String(8), nullable=False),
    Column("raw", LargeBinary, nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("target_mailbox", String(320), nullable=True),
    Column("created_message_id", String(512), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("route", Json, nullable=True),  # where the memo is delivered and why (domain.routing)
    # The replica working on its next step now (issue 18: any replica claims a batch, renews the claim
    # while it works and releases it after the step; an expired claim is free again). Migration 0011.
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),
    CheckConstraint(_in("state", INBOUND_STATES), name="state"),
    CheckConstraint(_in("source", INBOUND_SOURCES), name="source"),
    Index(None, "state", "received_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", UtcDateTime, nullable=False),
    Column("replica", String(256), nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(128), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", Json, nullable=False),
    Index(None, "ts"),
    Index(None, "action", "ts"),
)

leases = Table(
    "leases",
    metadata,
    Column("resource", String(512), primary_key=True),
    Column("owner", String(256), nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("acquired_at", UtcDateTime, nullable=True),
)

replicas = Table(
    "replicas",
    metadata,
    Column("owner", String(256), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)

rule_state = Table(
    "rule_state",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("disabled", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("hits", BigInteger, nullable=False),
    Column("last_hit_at", UtcDateTime, nullable=True),
)

# The admin console's actions (migration 0007; graph_dpg.ports.console).
console_cancellations = Table(
    "console_cancellations",
    metadata,
    Column("job_id", String(64), ForeignKey("outbound_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("actor", String(320), nullable=False),
    Column("via", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("lifted_at", UtcDateTime, nullable=True),
)

letter_links = Table(
    "letter_links",
    metadata,
    Column("original_uuid", String(64), primary_key=True),
    Column("new_uuid", String(64), nullable=False),
    Column("job_id", String(64), ForeignKey("outbound_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("actor", String(320), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("new_uuid"),
    Index(None, "job_id"),
)

# Graph change-notification subscriptions, one per polled folder (keyed by the folder's lease resource),
# shared by the replicas: a notification reaching any replica is checked against its row (migration 0008).
SUBSCRIPTION_NEEDS = ("reauthorize", "recreate")

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("resource", String(512), primary_key=True),
    Column("subscription_id", String(128), nullable=True),
    Column("client_state", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("need", String(16), nullable=True),  # a lifecycle notification asked for this
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("need IS NULL OR " + _in("need", SUBSCRIPTION_NEEDS), name="need"),
    Index(None, "subscription_id"),
)

# A folder to poll now (a change notification arrived); the replica holding the folder's lease takes it.
wakes = Table(
    "wakes",
    metadata,
    Column("resource", String(512), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
)

# Graph requests counted per scope ("mailbox:<address>" or "app") and fixed window (its start, whole seconds
# since the epoch on the database's clock), shared by the replicas: each reserves blocks with one
# conditional UPDATE (graph_dpg.core.budget; migration 0012). Rows of windows long past are deleted.
graph_budget = Table(
    "graph_budget",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, autoincrement=False),
    Column("used", Integer, nullable=False),
)
