"""SQL implementation of the state store ports (SQLAlchemy 2 Core; SQLite and PostgreSQL).

One method = one short transaction; no lock survives a method call, so no lock is ever held across
network I/O. The state machines are in ``graph_dpg.ports.store``; transitions are done as
conditional ``UPDATE ... WHERE state IN (allowed predecessors)`` so two replicas racing the same row
cannot both win, and a repeated call (after a crash) is a harmless no-op.

Tables and their life cycles (``schema.py`` has the columns):

``source_messages``   one row per claimed source mail, UNIQUE (mailbox, message_id) and
                      (mailbox, internet_message_id); kept (``cleanup`` only removes them on request)
                      because a forgotten claim would make a delta resync send the mail again.
``delta_links``       (mailbox, folder) → deltaLink, replaced after a complete delta round that brought
                      anything (the poller keeps the newest in memory: ``services.delta_links``).
``outbound_jobs``     new → planned → sending → done | rejected | failed (one per source mail);
                      ``warnings``: planning's notes for the receipt mail.
``outbox``            one per MeMo: pending → accepted | rejected | failed; a transient failure keeps
                      it pending with ``attempts``+1 and ``not_before``; business receipts set
                      ``receipt_status``. ``message_uuid`` is UNIQUE and written before the first send.
``effects``           planned → done, keyed by e.g. ``receipt:{job_id}``.
``receipts``          business receipts, once per receipt id; unprocessed → processed.
``inbound_memos``     received → delivered → acknowledged → deleted (or delivered → deleted);
                      the raw XML stays until ``cleanup`` drops it from finished memos; ``route``:
                      where it is delivered and why, written once before delivery; ``claimed_by``/
                      ``claimed_until``: the replica working on its next step (claimed in batches by
                      any replica, renewed while it works, released after the step, or expired).
``audit_events``      append-only; every text CPR-masked on write.
``leases``            free | held(owner, expires_at); expiry compared with the database clock.
``replicas``          heartbeat per process, to notice several replicas on SQLite.
``rule_state``        per rule: disabled flag/reason/time and hit counter.

Dialects
    PostgreSQL (``postgresql+psycopg://``): READ COMMITTED, ``SELECT ... FOR UPDATE SKIP LOCKED`` for
    leases, ``now()`` as the clock. SQLite: WAL, ``busy_timeout``, foreign keys, every transaction
    ``BEGIN IMMEDIATE`` — taking the write lock up front avoids the deadlock-prone read→write lock
    upgrade, at the cost of serialising transactions, which a single replica can afford.
    A PostgreSQL schema other than ``public`` is chosen in the URL:
    ``postgresql+psycopg://user@host/db?options=-csearch_path%3Dgraph_dpg`` (the tests do this too).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from graph_dpg.adapters.store import schema as t
from graph_dpg.core import budget
from graph_dpg.core.errors import StoreError
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.ports.console import (
    AuditRecord,
    Cancellation,
    InboundFilter,
    LetterFilter,
    LetterLink,
    LetterMatch,
)
from graph_dpg.ports.graph_budget import BudgetGrant
from graph_dpg.ports.store import (
    ATTEMPT_NOTED,
    JOB_TERMINAL,
    AuditEntry,
    BusinessReceipt,
    DeliveredMemo,
    DisabledRule,
    Effect,
    EffectPlan,
    EffectState,
    InboundMemo,
    InboundSource,
    InboundState,
    JobFinish,
    JobState,
    JobStatuses,
    OutboundJob,
    OutboxEntry,
    OutboxState,
    PlannedMemo,
    ReceivedMemo,
    SendOutcome,
    SubscriptionRow,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Rows per SQLite executemany call in plan_job: bounds the memory one batch of MeMo XML holds.
PLAN_CHUNK = 2000

# Arbitrary constant key ("gdpg") for the PostgreSQL advisory lock that serialises migrations of
# replicas starting at the same time.
_MIGRATION_LOCK_KEY = 0x67647067

_JOB_PREDECESSORS: dict[JobState, tuple[JobState, ...]] = {
    JobState.NEW: (),
    JobState.PLANNED: (JobState.NEW,),
    JobState.SENDING: (JobState.PLANNED,),
    JobState.DONE: (JobState.SENDING, JobState.PLANNED),
    JobState.REJECTED: (JobState.NEW, JobState.PLANNED),
    JobState.FAILED: (JobState.NEW, JobState.PLANNED, JobState.SENDING),
}

_INBOUND_PREDECESSORS: dict[InboundState, tuple[InboundState, ...]] = {
    InboundState.RECEIVED: (),
    InboundState.DELIVERED: (InboundState.RECEIVED,),
    InboundState.ACKNOWLEDGED: (InboundState.DELIVERED,),
    InboundState.DELETED: (InboundState.DELIVERED, InboundState.ACKNOWLEDGED),
}

# A later-arriving RECEIVED must not overwrite a final status that was recorded first.
_OUTBOX_BULK_COLUMNS = (
    "job_id",
    "message_uuid",
    "recipient_kind",
    "recipient_id",
    "recipient_contact_point",
    "memo_ref",
    "memo_xml",
    "mass_line",
    "state",
    "attempts",
    "created_at",
    "updated_at",
)
_OUTBOX_COPY = f"COPY outbox ({', '.join(_OUTBOX_BULK_COLUMNS)}) FROM STDIN"
# Built from the constant column names above only; every value is a bound parameter.
_OUTBOX_INSERT = "INSERT INTO outbox ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(_OUTBOX_BULK_COLUMNS), ", ".join("?" for _ in _OUTBOX_BULK_COLUMNS)
)

_INBOUND_META = tuple(c for c in t.inbound_memos.c if c.name != "raw")

#: Keys per ``IN (...)`` of the batched reads (below SQLite's oldest limit of 999 bound parameters).
_IN_CHUNK = 500
_T = TypeVar("_T")


def _chunks(values: Sequence[_T], size: int = _IN_CHUNK) -> Iterator[list[_T]]:
    """``values`` in lists of at most ``size`` (``_IN_CHUNK`` unless told), one ``IN (...)`` each."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


_RECEIPT_RANK = {"RECEIVED": 1, "COMPLETED": 2, "INVALID": 2, "NOT_ALLOWED": 2}
#: Columns one receipt binds in ``record_receipts``' multi-row INSERT (receipt_id, message_uuid,
#: receipt_status, payload, received_at, processed).
_RECEIPT_INSERT_COLUMNS = 6
#: Receipts per multi-row INSERT: their bound parameters stay below SQLite's oldest limit of 999.
_RECEIPT_ROWS = 999 // _RECEIPT_INSERT_COLUMNS


def _receipt_status_after(current: str | None, new_statuses: Iterable[str]) -> tuple[str | None, bool]:
    """An outbox row's receipt status after the new receipts' statuses, applied in their order.

    A status replaces the current one when its rank (``_RECEIPT_RANK``; an unknown new status ranks as a
    final one, an unknown or absent current one as none) is at least the current one's, so a late
    RECEIVED never downgrades COMPLETED and COMPLETED then INVALID ends INVALID. The flag says whether
    any status replaced it (then the row is written, its ``updated_at`` too, even if the value is equal).
    """
    replaced = False
    for status in new_statuses:
        if _RECEIPT_RANK.get(status, 2) >= _RECEIPT_RANK.get(current or "", 0):
            current, replaced = status, True
    return current, replaced


def default_replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _mask_json(value: object) -> object:
    if isinstance(value, str):
        return mask_cprs(value)
    if isinstance(value, Mapping):
        return {mask_cprs(str(k)): _mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_json(v) for v in value]
    return value


def _json_safe(value: Mapping[str, object]) -> dict[str, object]:
    """A plain-JSON copy (datetimes etc. as text) so both dialects store exactly the same document."""
    loaded: dict[str, object] = json.loads(json.dumps(dict(value), default=str))
    return loaded


def pushed_receipt_id(receipt: Mapping[str, object]) -> str:
    """Receipt id of a pushed NgDP receipt.

    A pushed ``Receipt`` JSON has no id of its own (transmissionId, messageUUID, messageId, errorCode,
    errorMessage, timeStamp, receiptStatus; docs/facts/ngdp.md, "Receipts"), and NgDP may push the same
    one again; a hash of its identifying fields makes the redelivery collide with the first copy.
    """
    given = receipt.get("id")
    if isinstance(given, str) and given:
        return given
    parts = [str(receipt.get(k, "")) for k in ("transmissionId", "messageUUID", "receiptStatus", "timeStamp")]
    return "push:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _inserted(conn: Connection, stmt: pg.Insert | sqlite.Insert) -> bool:
    """Run an INSERT ... ON CONFLICT DO NOTHING; True if the row was new.

    RETURNING instead of ``rowcount``: with psycopg, SQLAlchemy reports rowcount -1 for INSERTs that
    already return rows (it adds RETURNING for autoincrement keys).
    """
    table = stmt.table
    assert isinstance(table, Table)
    returning = stmt.on_conflict_do_nothing().returning(*table.primary_key.columns)
    return conn.execute(returning).first() is not None


def _claim(
    conn: Connection,
    table: Table,
    key: str,
    where: Sequence[ColumnElement[bool]],
    now: datetime,
    *,
    owner: str,
    ttl_s: float,
    limit: int,
) -> list[Any]:
    """Claim up to ``limit`` rows of ``table`` matching ``where`` whose claim is free or expired, oldest
    first (``received_at``, then ``key``): ``claimed_by``/``claimed_until`` set; the claimed keys, in that
    order. PostgreSQL skips rows another replica is claiming right now (``FOR UPDATE SKIP LOCKED``;
    docs/facts/postgresql.md); SQLite has one writer."""
    k, c = table.c[key], table.c
    chosen = list(
        conn.execute(
            select(k)
            .where(*where, or_(c.claimed_until.is_(None), c.claimed_until <= now))
            .order_by(c.received_at, k)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if chosen:
        conn.execute(
            update(table)
            .where(k.in_(chosen))
            .values(claimed_by=owner, claimed_until=now + timedelta(seconds=ttl_s))
        )
    return chosen


# Hot statements, built once (issue 18): SQLAlchemy coerces every argument and generates the cache key of
# a statement built per call; one built at import with bind parameters skips both (about 45 µs less per
# execution, measured on SQLite; docs/facts/sqlalchemy.md). Only for the statements every letter or memo
# runs; the rest stay inline.
_GET_JOB = select(t.outbound_jobs).where(t.outbound_jobs.c.id == bindparam("b_id"))
_SET_JOB_STATE = (
    update(t.outbound_jobs)
    .where(
        t.outbound_jobs.c.id == bindparam("b_id"),
        t.outbound_jobs.c.state.in_(bindparam("b_allowed", expanding=True)),
    )
    .values(state=bindparam("b_state"), error=bindparam("b_error"), updated_at=bindparam("b_now"))
)
_LIST_OUTBOX = (
    select(*[c for c in t.outbox.c if c.name != "memo_xml"])
    .where(t.outbox.c.job_id == bindparam("b_job"), t.outbox.c.id > bindparam("b_after"))
    .order_by(t.outbox.c.id)
    .limit(bindparam("b_limit"))
)
_JOB_COUNTS = (
    select(t.outbox.c.state, func.count())
    .where(t.outbox.c.job_id == bindparam("b_job"))
    .group_by(t.outbox.c.state)
)
_JOB_STATUSES = (
    select(t.outbox.c.state, t.outbox.c.receipt_status, func.count())
    .where(t.outbox.c.job_id == bindparam("b_job"))
    .group_by(t.outbox.c.state, t.outbox.c.receipt_status)
)
_GET_EFFECT = select(t.effects).where(t.effects.c.key == bindparam("b_key"))
_COMPLETE_EFFECT = (
    update(t.effects)
    .where(t.effects.c.key == bindparam("b_key"), t.effects.c.state == EffectState.PLANNED.value)
    .values(state=EffectState.DONE.value, result=bindparam("b_result"), completed_at=bindparam("b_now"))
)
_CANCELLATION_REQUESTED = select(t.console_cancellations.c.job_id).where(
    t.console_cancellations.c.job_id == bindparam("b_job"), t.console_cancellations.c.lifted_at.is_(None)
)
_AUDIT_INSERT = t.audit_events.insert()


def _without_nul(value: Any) -> Any:
    """PostgreSQL text and JSONB cannot hold NUL (U+0000), which hostile mail can carry (a subject, a
    Message-ID): every statement with one failed, so one such mail stopped the poll of its mailbox for good.
    On PostgreSQL NUL is stored as U+FFFD, consistently for writes and lookups."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def _translate(what: str, exc: SQLAlchemyError) -> StoreError:
    # hide_parameters=True on the engine keeps bound values (recipient CPRs) out of str(exc).
    orig = getattr(exc, "orig", None)
    detail = str(orig) if orig is not None else str(exc)
    return StoreError(f"{what}: {type(orig or exc).__name__}: {mask_cprs(detail).strip()}")


class SqlStore:
    """The state store on one SQLAlchemy engine. Thread-safe; share one instance per process."""

    def __init__(self, url: str, *, replica: str | None = None, pool_size: int = 5) -> None:
        self.url = make_url(url)
        self.replica = replica or default_replica_name()
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://"
            )
        # SQLite: the one connection every transaction of this store runs on, and the lock that keeps
        # threads from interleaving on it (see _sqlite_tx). None on PostgreSQL (pooled connections).
        self._lock: threading.RLock | None = None
        self._conn: Connection | None = None
        self.engine: Engine = self._make_engine(pool_size)
        # Built once like the module's hot statements (the INSERT's dialect is this store's).
        self._plan_effect_stmt = self._insert(t.effects).on_conflict_do_nothing().returning(t.effects.c.key)

    # ------------------------------------------------------------------ engine & transactions

    def _make_engine(self, pool_size: int) -> Engine:
        if self.dialect == "postgresql":
            pg = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=30,
                # Most recently used connection first: a steady load reuses the same few connections,
                # which stay within _PING_AFTER_IDLE_S and need no ping (docs/facts/sqlalchemy.md,
                # "PostgreSQL: ping only connections that sat idle").
                pool_use_lifo=True,
                pool_recycle=1800,  # below typical idle-connection cut-offs of managed PostgreSQL
                hide_parameters=True,
                connect_args={"connect_timeout": 10, "application_name": "graph-dpg"},
                json_serializer=lambda obj: json.dumps(_without_nul(obj)),
            )
            _ping_when_idle(pg)

            @event.listens_for(pg, "before_cursor_execute", retval=True)
            def _no_nul(
                conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
            ) -> tuple[str, Any]:
                # Only plain strings here (JSON was serialised above); other values pass untouched.
                def scrub(row: dict[str, Any]) -> dict[str, Any]:
                    return {k: _without_nul(v) if isinstance(v, str) else v for k, v in row.items()}

                if isinstance(parameters, dict):
                    return statement, scrub(parameters)
                if executemany and isinstance(parameters, list):
                    return statement, [scrub(p) if isinstance(p, dict) else p for p in parameters]
                return statement, parameters

            return pg
        database = self.url.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(self.url)
        if not memory and not database.startswith("file:"):
            # The default URL points into a state directory that may not exist on first start.
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Every transaction of this store runs on one connection, one at a time (_sqlite_tx): SQLite has
        # one writer, and every transaction here takes the write lock (BEGIN IMMEDIATE), so a second
        # connection in this process would only wait for the first. The pool serves engine.connect()
        # elsewhere (tests, tools); an in-memory database exists once per connection, so there
        # StaticPool shares the store's one connection with them.
        self._lock = threading.RLock()
        pooling: dict[str, Any] = (
            {"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": 2 * pool_size}
        )
        engine = create_engine(
            self.url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            **pooling,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite begins no transaction of its own; _begin_immediate (below) starts each one.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                _enter_wal_mode(cursor)
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit survives power loss too; "delivered"/"accepted" records must not vanish.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        # Every transaction starts with BEGIN IMMEDIATE: the write lock up front, no read→write upgrade.
        # SQLAlchemy's SQLite docs ("Serializable isolation / Savepoints / Transactional DDL") emit BEGIN
        # from the "begin" event with conn.exec_driver_sql, a full statement execution (context, cursor,
        # result, events: ~85 of the ~330 Python calls of a get_job). The dialect's do_begin hook is
        # called at the same point (Connection._begin_impl) with the DBAPI connection, inside
        # SQLAlchemy's error handling (a "database is locked" still arrives as
        # sqlalchemy.exc.OperationalError); for pysqlite it does nothing (DefaultDialect.do_begin), so
        # BEGIN IMMEDIATE is sent there, straight to the driver.
        engine.dialect.do_begin = _begin_immediate  # type: ignore[method-assign]
        return engine

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        try:
            if self._lock is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with self._sqlite_tx(what) as conn:
                    yield conn
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise _translate(what, exc) from exc

    @contextmanager
    def _sqlite_tx(self, what: str) -> Iterator[Connection]:
        """A transaction on the store's one SQLite connection, kept open between transactions.

        A pool checkout and return per transaction (``engine.begin()``) cost ~60 of the ~330 Python calls
        of a get_job (docs/facts/sqlalchemy.md, "What one transaction costs, and where it went (SQLite)").
        Waiting for the lock is bounded like waiting for
        SQLite's (busy_timeout, 30 s): a thread of this process that would otherwise have waited in
        BEGIN IMMEDIATE waits here instead.
        """
        assert self._lock is not None
        if not self._lock.acquire(timeout=30):
            raise StoreError(f"{what}: database is locked (another transaction of this process ran for 30 s)")
        try:
            conn = self._conn
            if conn is None or conn.closed or conn.invalidated:
                if conn is not None:
                    conn.close()
                conn = self._conn = self.engine.connect()
            with conn.begin():
                yield conn
        finally:
            self._lock.release()

    def _now(self, conn: Connection) -> datetime:
        """The database's clock on PostgreSQL (all replicas agree on it); the local clock on SQLite."""
        if self.dialect == "postgresql":
            value = conn.execute(select(func.now())).scalar_one()
            assert isinstance(value, datetime)
            return value.astimezone(UTC)
        return datetime.now(UTC)

    def _insert(self, table: Table) -> pg.Insert | sqlite.Insert:
        return pg.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def close(self) -> None:
        if self._lock is not None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        self.engine.dispose()

    def ping(self) -> None:
        with self._tx("ping") as conn:
            conn.execute(select(1)).scalar_one()

    def migrate(self) -> None:
        """Upgrade to the newest Alembic revision; idempotent, and safe with replicas starting together."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self._tx("migrate") as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self._tx("schema revision") as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def push_sink(self) -> AsyncStorePushSink:
        return AsyncStorePushSink(self)

    # ------------------------------------------------------------------ source messages

    def claim_source_message(self, mailbox: str, message_id: str, internet_message_id: str | None) -> bool:
        with self._tx("claim source message") as conn:
            stmt = self._insert(t.source_messages).values(
                mailbox=mailbox,
                message_id=message_id,
                internet_message_id=internet_message_id or None,
                claimed_at=self._now(conn),
            )
            return _inserted(conn, stmt)

    # ------------------------------------------------------------------ delta links

    def get_delta_link(self, mailbox: str, folder: str) -> str | None:
        with self._tx("get delta link") as conn:
            link = conn.execute(
                select(t.delta_links.c.delta_link).where(
                    t.delta_links.c.mailbox == mailbox, t.delta_links.c.folder == folder
                )
            ).scalar_one_or_none()
            return None if link is None else str(link)

    def set_delta_link(self, mailbox: str, folder: str, delta_link: str) -> None:
        with self._tx("set delta link") as conn:
            now = self._now(conn)
            stmt = self._insert(t.delta_links).values(
                mailbox=mailbox, folder=folder, delta_link=delta_link, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["mailbox", "folder"],
                    set_={"delta_link": stmt.excluded.delta_link, "updated_at": stmt.excluded.updated_at},
                )
            )

    # ------------------------------------------------------------------ outbound jobs & outbox

    @staticmethod
    def _job_values(job: OutboundJob, state: JobState, now: datetime) -> dict[str, object]:
        return {
            "id": job.id,
            "mailbox": job.mailbox,
            "message_id": job.message_id,
            "internet_message_id": job.internet_message_id or None,
            # Only ever shown (receipts, audit): a CPR typed into a subject must not be kept in clear.
            "subject": mask_cprs(job.subject),
            "channel": job.channel,
            "state": state.value,
            "error": job.error,
            "created_at": now,
            "updated_at": now,
            "warnings": list(job.warnings),
            "attempts": job.attempts,
            "not_before": job.not_before,
            "sent_at": job.sent_at,
        }

    def create_job(self, job: OutboundJob, *, audit: AuditEntry | None = None) -> bool:
        with self._tx("create job") as conn:
            now = self._now(conn)
            stmt = self._insert(t.outbound_jobs).values(self._job_values(job, job.state, now))
            if not _inserted(conn, stmt):
                return False
            self._write_audit(conn, audit, now)
            return True

    def plan_job(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
    ) -> bool:
        with self._tx("plan job") as conn:
            return self._plan_job(conn, job, memos, audit, effects, self._now(conn))

    def _plan_job(
        self,
        conn: Connection,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        audit: AuditEntry | None,
        effects: Sequence[EffectPlan],
        now: datetime,
    ) -> bool:
        """plan_job's body, in the caller's transaction (plan_job, plan_and_claim)."""
        jobs = t.outbound_jobs
        if not _inserted(conn, self._insert(jobs).values(self._job_values(job, JobState.PLANNED, now))):
            advanced = conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.state == JobState.NEW.value)
                .values(state=JobState.PLANNED.value, updated_at=now, warnings=list(job.warnings))
            ).rowcount
            if advanced != 1:
                return False
        self._bulk_insert_outbox(conn, job.id, memos, now)
        self._plan_effects(conn, effects, now)
        self._write_audit(conn, audit, now)
        return True

    def _bulk_insert_outbox(
        self, conn: Connection, job_id: str, memos: Iterable[PlannedMemo], now: datetime
    ) -> None:
        """Insert the outbox rows of one job, fast: 100,000 recipients is a normal mass delivery.

        SQLAlchemy's per-row parameter processing costs more than the database itself here, so the
        constant columns are converted once and the rows go to the driver directly: PostgreSQL
        ``COPY FROM STDIN`` (psycopg adapts each value), SQLite ``executemany``. Chunks bound the memory
        a batch of MeMo XML holds in the driver. Same transaction as the caller's.
        """
        pending = OutboxState.PENDING.value
        rows = (
            (
                job_id,
                m.message_uuid,
                m.recipient_kind,
                m.recipient_id,
                m.recipient_contact_point,
                m.memo_ref,
                m.memo_xml,
                m.line,
                pending,
                0,
            )
            for m in memos
        )
        if self.dialect == "postgresql":
            dbapi = conn.connection.driver_connection
            assert dbapi is not None
            try:
                with dbapi.cursor() as cursor, cursor.copy(_OUTBOX_COPY) as copy:
                    for row in rows:
                        copy.write_row((*row, now, now))
            except psycopg.Error as exc:
                raise StoreError(f"plan job: {type(exc).__name__}: {mask_cprs(str(exc)).strip()}") from exc
            return
        # dialect_impl: the generic type's processor would leave a datetime, which sqlite3 then
        # formats differently ("T" separator) from SQLAlchemy, breaking text comparisons.
        processor = t.outbox.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        stamp = processor(now) if processor else now
        batch: list[tuple[object, ...]] = []
        for row in rows:
            batch.append((*row, stamp, stamp))
            if len(batch) >= PLAN_CHUNK:
                conn.exec_driver_sql(_OUTBOX_INSERT, batch)
                batch = []
        if batch:
            conn.exec_driver_sql(_OUTBOX_INSERT, batch)

    def set_job_state(
        self,
        job_id: str,
        state: JobState,
        error: str | None = None,
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
        settle: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        jobs = t.outbound_jobs
        with self._tx("set job state") as conn:
            now = self._now(conn)
            allowed = [s.value for s in (*_JOB_PREDECESSORS[state], state)]
            changed = conn.execute(
                _SET_JOB_STATE,
                {
                    "b_id": job_id,
                    "b_allowed": allowed,
                    "b_state": state.value,
                    "b_error": error,
                    "b_now": now,
                },
            ).rowcount
            if changed != 1:
                current = conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar_one_or_none()
                if current is None:
                    raise StoreError(f"unknown outbound job {job_id!r}")
                raise StoreError(f"outbound job {job_id!r}: illegal transition {current} -> {state.value}")
            self._plan_effects(conn, effects, now)
            for key, result in (settle or {}).items():
                conn.execute(_COMPLETE_EFFECT, {"b_key": key, "b_result": _json_safe(result), "b_now": now})
            self._write_audit(conn, audit, now)

    def record_job_retry(self, job_id: str, error: str, not_before: datetime) -> int:
        jobs = t.outbound_jobs
        unfinished = [s.value for s in JobState if s not in JOB_TERMINAL]
        with self._tx("record job retry") as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_(unfinished))
                .values(
                    attempts=jobs.c.attempts + 1,
                    error=mask_cprs(error),
                    not_before=not_before,
                    updated_at=self._now(conn),
                )
            )
            attempts = conn.execute(select(jobs.c.attempts).where(jobs.c.id == job_id)).scalar_one_or_none()
            if attempts is None:
                raise StoreError(f"unknown outbound job {job_id!r}")
            return int(attempts)

    @staticmethod
    def _job_from(row: Row[Any]) -> OutboundJob:
        m = row._mapping
        return OutboundJob(
            id=m["id"],
            mailbox=m["mailbox"],
            message_id=m["message_id"],
            internet_message_id=m["internet_message_id"],
            subject=m["subject"],
            channel=m["channel"],
            state=JobState(m["state"]),
            error=m["error"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            warnings=tuple(str(w) for w in m["warnings"] or ()),
            attempts=int(m["attempts"] or 0),
            not_before=m["not_before"],
            sent_at=m["sent_at"],
            warnings_kept=m["warnings"] is not None,
        )

    def get_job(self, job_id: str) -> OutboundJob | None:
        with self._tx("get job") as conn:
            row = conn.execute(_GET_JOB, {"b_id": job_id}).first()
            return None if row is None else self._job_from(row)

    def get_jobs(self, job_ids: Collection[str]) -> dict[str, OutboundJob]:
        jobs = t.outbound_jobs
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        found: dict[str, OutboundJob] = {}
        with self._tx("get jobs") as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(select(jobs).where(jobs.c.id.in_(chunk))):
                    job = self._job_from(row)
                    found[job.id] = job
        return found

    def find_job(self, mailbox: str, message_id: str) -> OutboundJob | None:
        jobs = t.outbound_jobs
        with self._tx("find job") as conn:
            row = conn.execute(
                select(jobs).where(jobs.c.mailbox == mailbox, jobs.c.message_id == message_id)
            ).first()
            return None if row is None else self._job_from(row)

    def jobs_in_state(
        self, states: Sequence[JobState], limit: int = 100, *, mailboxes: Collection[str] | None = None
    ) -> list[OutboundJob]:
        jobs = t.outbound_jobs
        with self._tx("jobs in state") as conn:
            query = select(jobs).where(jobs.c.state.in_([s.value for s in states]))
            if mailboxes is not None:
                query = query.where(func.lower(jobs.c.mailbox).in_(sorted({m.lower() for m in mailboxes})))
            rows = conn.execute(query.order_by(jobs.c.updated_at, jobs.c.id).limit(limit)).all()
            return [self._job_from(r) for r in rows]

    def has_jobs_in_state(self, states: Sequence[JobState], *, mailboxes: Collection[str]) -> bool:
        jobs = t.outbound_jobs
        with self._tx("any job in state") as conn:
            query = select(jobs.c.id).where(
                jobs.c.state.in_([s.value for s in states]),
                func.lower(jobs.c.mailbox).in_(sorted({m.lower() for m in mailboxes})),
            )
            return conn.execute(query.limit(1)).first() is not None

    @staticmethod
    def _outbox_columns(with_xml: bool) -> list[Any]:
        return [c for c in t.outbox.c if with_xml or c.name != "memo_xml"]

    @staticmethod
    def _entry_from(row: Row[Any]) -> OutboxEntry:
        return SqlStore._entry_from_mapping(row._mapping)

    @staticmethod
    def _entry_from_mapping(m: Mapping[Any, Any]) -> OutboxEntry:
        xml = m.get("memo_xml")
        return OutboxEntry(
            id=int(m["id"]),
            job_id=m["job_id"],
            message_uuid=m["message_uuid"],
            recipient_kind=m["recipient_kind"],
            recipient_id=m["recipient_id"],
            recipient_contact_point=m["recipient_contact_point"],
            state=OutboxState(m["state"]),
            attempts=int(m["attempts"]),
            last_error=m["last_error"],
            transmission_id=m["transmission_id"],
            receipt_status=m["receipt_status"],
            memo_ref=m["memo_ref"],
            memo_xml=None if xml is None else bytes(xml),
            not_before=m["not_before"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            in_flight_at=m["in_flight_at"],
            line=m["mass_line"],
        )

    def next_pending(self, job_id: str | None, limit: int = 100, *, after_id: int = 0) -> list[OutboxEntry]:
        ob = t.outbox
        with self._tx("next pending") as conn:
            now = self._now(conn)
            query = select(*self._outbox_columns(True)).where(
                ob.c.state == OutboxState.PENDING.value,
                or_(ob.c.not_before.is_(None), ob.c.not_before <= now),
            )
            if after_id:
                query = query.where(ob.c.id > after_id)
            if job_id is not None:
                query = query.where(ob.c.job_id == job_id)
            rows = conn.execute(query.order_by(ob.c.id).limit(limit)).all()
            return [self._entry_from(r) for r in rows]

    def mark_in_flight(self, message_uuids: Sequence[str], *, sending: str | None = None) -> int:
        # One commit per batch, like record_send_results; chunks keep the IN list within every
        # driver's parameter limit.
        ob = t.outbox
        marked = 0
        with self._tx("mark in flight") as conn:
            now = self._now(conn)
            if sending is not None:
                jobs = t.outbound_jobs
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == sending, jobs.c.state == JobState.PLANNED.value)
                    .values(state=JobState.SENDING.value, updated_at=now)
                )
            for chunk in _chunks(message_uuids):
                marked += conn.execute(
                    update(ob)
                    .where(
                        ob.c.message_uuid.in_(chunk),
                        ob.c.state == OutboxState.PENDING.value,
                        ob.c.in_flight_at.is_(None),
                    )
                    .values(in_flight_at=now)
                ).rowcount
        return marked

    def create_jobs(self, jobs: Sequence[tuple[OutboundJob, AuditEntry | None]]) -> list[bool]:
        # One transaction for a poll's delta round instead of one per mail (issue 18).
        if not jobs:
            return []
        created: list[bool] = []
        with self._tx("create jobs") as conn:
            now = self._now(conn)
            for job, audit in jobs:
                stmt = self._insert(t.outbound_jobs).values(self._job_values(job, job.state, now))
                new = _inserted(conn, stmt)
                if new:
                    self._write_audit(conn, audit, now)
                created.append(new)
        return created

    def claim_pending(
        self, job_id: str, limit: int = 100, *, after_id: int = 0, sending: bool = False
    ) -> tuple[bool, list[OutboxEntry]]:
        # cancellation_requested + next_pending + mark_in_flight of one batch: one commit, not three
        # (issue 18). The rows are marked by id (the primary key), the ones not marked before only.
        with self._tx("claim pending") as conn:
            return self._claim_pending(conn, job_id, limit, after_id, sending, None)

    def plan_and_claim(
        self,
        job: OutboundJob,
        memos: Iterable[PlannedMemo],
        *,
        audit: AuditEntry | None = None,
        effects: Sequence[EffectPlan] = (),
        claim: int,
    ) -> tuple[bool, bool, list[OutboxEntry]]:
        # plan_job + claim_pending(sending=True) of the first page: one commit, not two (issue 18).
        with self._tx("plan and claim") as conn:
            now = self._now(conn)
            if not self._plan_job(conn, job, memos, audit, effects, now):
                return False, False, []
            cancelled, rows = self._claim_pending(conn, job.id, claim, 0, True, now)
            return True, cancelled, rows

    def _claim_pending(
        self,
        conn: Connection,
        job_id: str,
        limit: int,
        after_id: int,
        sending: bool,
        now: datetime | None,
    ) -> tuple[bool, list[OutboxEntry]]:
        """claim_pending's body, in the caller's transaction (claim_pending, plan_and_claim); ``now``:
        the transaction's time when the caller has read it already (None: read here, after the
        cancellation check)."""
        ob = t.outbox
        if conn.execute(_CANCELLATION_REQUESTED, {"b_job": job_id}).first() is not None:
            return True, []
        if now is None:
            now = self._now(conn)
        query = select(*self._outbox_columns(True)).where(
            ob.c.job_id == job_id,
            ob.c.state == OutboxState.PENDING.value,
            or_(ob.c.not_before.is_(None), ob.c.not_before <= now),
        )
        if after_id:
            query = query.where(ob.c.id > after_id)
        rows = [self._entry_from(r) for r in conn.execute(query.order_by(ob.c.id).limit(limit))]
        if not rows:
            return False, rows
        if sending:
            jobs = t.outbound_jobs
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == JobState.PLANNED.value)
                .values(state=JobState.SENDING.value, updated_at=now)
            )
        first = [r.id for r in rows if r.in_flight_at is None]
        for chunk in _chunks(first):
            conn.execute(
                update(ob).where(ob.c.id.in_(chunk), ob.c.in_flight_at.is_(None)).values(in_flight_at=now)
            )
        return False, rows

    def finish_sending(
        self,
        job_id: str,
        outcomes: Sequence[SendOutcome],
        finish: Callable[[JobStatuses], JobFinish],
    ) -> tuple[dict[tuple[OutboxState, str | None], int], bool]:
        # record_send_results + job_statuses + set_job_state(DONE, ...): one commit, not three (issue 18).
        with self._tx("finish sending") as conn:
            now = self._now(conn)
            self._record_send_results(conn, outcomes, now)
            statuses = {
                (OutboxState(state), status): int(n)
                for state, status, n in conn.execute(_JOB_STATUSES, {"b_job": job_id})
            }
            if any(state is OutboxState.PENDING for state, _ in statuses):
                return statuses, False
            done = finish(statuses)
            allowed = [s.value for s in (*_JOB_PREDECESSORS[JobState.DONE], JobState.DONE)]
            changed = conn.execute(
                _SET_JOB_STATE,
                {
                    "b_id": job_id,
                    "b_allowed": allowed,
                    "b_state": JobState.DONE.value,
                    "b_error": None,
                    "b_now": now,
                },
            ).rowcount
            if changed != 1:
                return statuses, False
            self._plan_effects(conn, done.effects, now)
            for key, result in (done.settle or {}).items():
                conn.execute(_COMPLETE_EFFECT, {"b_key": key, "b_result": _json_safe(result), "b_now": now})
            self._write_audit(conn, done.audit, now)
            return statuses, True

    def record_send_results(self, outcomes: Sequence[SendOutcome]) -> int:
        # One commit per batch instead of one per row: with synchronous=FULL each SQLite commit is an
        # fsync (~6 ms here), which capped mass delivery at ~80 MeMo/s.
        with self._tx("record send results") as conn:
            return self._record_send_results(conn, outcomes, self._now(conn))

    def _record_send_results(self, conn: Connection, outcomes: Sequence[SendOutcome], now: datetime) -> int:
        ob = t.outbox
        changed = 0
        # Accepted rows (nearly all of a mass delivery's batch) in one executemany: one statement
        # compiled once and the rows sent together (psycopg pipelines them), not 200 round trips.
        accepted = [o for o in outcomes if o.state is OutboxState.ACCEPTED]
        if accepted:
            result = conn.execute(
                update(ob)
                .where(
                    ob.c.message_uuid == bindparam("b_uuid"),
                    ob.c.state == OutboxState.PENDING.value,
                )
                .values(
                    updated_at=now,
                    state=OutboxState.ACCEPTED.value,
                    transmission_id=bindparam("b_tid"),
                    receipt_status=func.coalesce(ob.c.receipt_status, bindparam("b_status")),
                ),
                [
                    {"b_uuid": o.message_uuid, "b_tid": o.transmission_id, "b_status": o.receipt_status}
                    for o in accepted
                ],
            )
            changed += result.rowcount
        for o in outcomes:
            values: dict[str, object]
            if o.state is OutboxState.ACCEPTED:
                continue
            if o.state is None:
                values = {
                    "attempts": ob.c.attempts + 1,
                    "last_error": mask_cprs(o.error or ""),
                    "not_before": o.retry_at,
                }
            elif o.state is OutboxState.REJECTED:
                values = {
                    "state": o.state.value,
                    "last_error": mask_cprs(o.error or ""),
                    "attempts": ob.c.attempts + 1,
                }
            else:
                values = {"state": o.state.value, "last_error": mask_cprs(o.error or "")}
            changed += conn.execute(
                update(ob)
                .where(ob.c.message_uuid == o.message_uuid, ob.c.state == OutboxState.PENDING.value)
                .values(updated_at=now, **values)
            ).rowcount
        return changed

    def find_by_message_uuid(self, message_uuid: str, *, with_xml: bool = False) -> OutboxEntry | None:
        with self._tx("find outbox row") as conn:
            row = conn.execute(
                select(*self._outbox_columns(with_xml)).where(t.outbox.c.message_uuid == message_uuid)
            ).first()
            return None if row is None else self._entry_from(row)

    def jobs_of_messages(self, message_uuids: Collection[str]) -> dict[str, str]:
        ob = t.outbox
        wanted = sorted(set(message_uuids))
        if not wanted:
            return {}
        found: dict[str, str] = {}
        with self._tx("find outbox rows") as conn:
            for chunk in _chunks(wanted):
                for uuid, job_id in conn.execute(
                    select(ob.c.message_uuid, ob.c.job_id).where(ob.c.message_uuid.in_(chunk))
                ):
                    found[str(uuid)] = str(job_id)
        return found

    def job_statuses(self, job_id: str) -> dict[tuple[OutboxState, str | None], int]:
        with self._tx("job statuses") as conn:
            return {
                (OutboxState(state), status): int(n)
                for state, status, n in conn.execute(_JOB_STATUSES, {"b_job": job_id})
            }

    def list_outbox(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        with self._tx("list outbox") as conn:
            rows = conn.execute(_LIST_OUTBOX, {"b_job": job_id, "b_after": after_id, "b_limit": limit}).all()
            return [self._entry_from(r) for r in rows]

    def _counts(self, job_id: str | None) -> dict[OutboxState, int]:
        ob = t.outbox
        with self._tx("outbox counts") as conn:
            if job_id is None:
                result = conn.execute(select(ob.c.state, func.count()).group_by(ob.c.state))
            else:
                result = conn.execute(_JOB_COUNTS, {"b_job": job_id})
            counts = dict.fromkeys(OutboxState, 0)
            for state, n in result.all():
                counts[OutboxState(state)] = int(n)
            return counts

    def job_progress(self, job_id: str) -> dict[OutboxState, int]:
        return self._counts(job_id)

    def outbox_counts(self) -> dict[OutboxState, int]:
        return self._counts(None)

    # ------------------------------------------------------------------ effects

    @staticmethod
    def _effect_from(row: Row[Any]) -> Effect:
        m = row._mapping
        return Effect(
            key=m["key"],
            payload=m["payload"],
            state=EffectState(m["state"]),
            result=m["result"],
            created_at=m["created_at"],
            completed_at=m["completed_at"],
        )

    def plan_effect(self, key: str, payload: Mapping[str, object], mailbox: str | None = None) -> bool:
        with self._tx("plan effect") as conn:
            return self._plan_one_effect(conn, EffectPlan(key, payload, mailbox), self._now(conn))

    def _plan_one_effect(self, conn: Connection, effect: EffectPlan, now: datetime) -> bool:
        values = {
            "key": effect.key,
            "payload": _json_safe(effect.payload),
            "state": EffectState.PLANNED.value,
            "created_at": now,
            "mailbox": effect.mailbox.lower() if effect.mailbox else None,
        }
        # RETURNING, not rowcount: see _inserted.
        return conn.execute(self._plan_effect_stmt, values).first() is not None

    def _plan_effects(self, conn: Connection, effects: Sequence[EffectPlan], now: datetime) -> None:
        """Plan ``effects`` in the caller's transaction (those that exist are left as they are)."""
        for effect in effects:
            self._plan_one_effect(conn, effect, now)

    def get_effect(self, key: str) -> Effect | None:
        with self._tx("get effect") as conn:
            row = conn.execute(_GET_EFFECT, {"b_key": key}).first()
            return None if row is None else self._effect_from(row)

    def get_effects(self, keys: Collection[str]) -> dict[str, Effect]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        ef = t.effects
        found: dict[str, Effect] = {}
        with self._tx("get effects") as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(select(ef).where(ef.c.key.in_(chunk))).all()
                found.update((e.key, e) for e in map(self._effect_from, rows))
        return found

    def pending_effects(
        self,
        limit: int = 100,
        prefix: str | None = None,
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> list[Effect]:
        ef = t.effects
        with self._tx("pending effects") as conn:
            query = select(ef).where(ef.c.state == EffectState.PLANNED.value)
            if prefix:
                query = query.where(ef.c.key.startswith(prefix, autoescape=True))
            orphan: ColumnElement[bool] = ef.c.mailbox.is_(None)
            if known:
                orphan = or_(orphan, ef.c.mailbox.not_in(sorted({m.lower() for m in known})))
            if mailboxes is not None:
                owned = ef.c.mailbox.in_(sorted({m.lower() for m in mailboxes}))
                query = query.where(or_(owned, orphan) if unowned else owned)
            elif unowned:
                query = query.where(orphan)
            rows = conn.execute(query.order_by(ef.c.created_at, ef.c.key).limit(limit)).all()
            return [self._effect_from(r) for r in rows]

    def has_pending_effects(
        self,
        prefixes: Sequence[str],
        *,
        mailboxes: Collection[str] | None = None,
        unowned: bool = False,
        known: Collection[str] = (),
    ) -> bool:
        ef = t.effects
        with self._tx("any pending effect") as conn:
            query = select(ef.c.key).where(
                ef.c.state == EffectState.PLANNED.value,
                or_(*(ef.c.key.startswith(p, autoescape=True) for p in prefixes)),
            )
            orphan: ColumnElement[bool] = ef.c.mailbox.is_(None)
            if known:
                orphan = or_(orphan, ef.c.mailbox.not_in(sorted({m.lower() for m in known})))
            if mailboxes is not None:
                owned = ef.c.mailbox.in_(sorted({m.lower() for m in mailboxes}))
                query = query.where(or_(owned, orphan) if unowned else owned)
            elif unowned:
                query = query.where(orphan)
            return conn.execute(query.limit(1)).first() is not None

    def complete_effect(
        self, key: str, result: Mapping[str, object] | None = None, *, audit: AuditEntry | None = None
    ) -> bool:
        ef = t.effects
        with self._tx("complete effect") as conn:
            now = self._now(conn)
            changed = conn.execute(
                _COMPLETE_EFFECT,
                {"b_key": key, "b_result": None if result is None else _json_safe(result), "b_now": now},
            ).rowcount
            if changed != 1:
                if conn.execute(select(ef.c.key).where(ef.c.key == key)).first() is None:
                    raise StoreError(f"unknown effect {key!r}")
                return False
            self._write_audit(conn, audit, now)
            return True

    def note_effect_attempt(self, key: str) -> bool:
        ef = t.effects
        with self._tx("note effect attempt") as conn:
            # A planned effect's result is NULL until this note or its completion writes it.
            changed = conn.execute(
                update(ef)
                .where(ef.c.key == key, ef.c.state == EffectState.PLANNED.value, ef.c.result.is_(None))
                .values(result=_json_safe(ATTEMPT_NOTED))
            ).rowcount
            return bool(changed == 1)

    def note_effect_attempts(self, keys: Collection[str]) -> set[str]:
        ef = t.effects
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        first: set[str] = set()
        with self._tx("note effect attempts") as conn:
            for chunk in _chunks(wanted):
                # RETURNING, not rowcount: which keys changed, in the statement that changes them (a
                # concurrent attempt of another replica cannot slip between a read and the update).
                first.update(
                    str(key)
                    for (key,) in conn.execute(
                        update(ef)
                        .where(
                            ef.c.key.in_(chunk),
                            ef.c.state == EffectState.PLANNED.value,
                            ef.c.result.is_(None),
                        )
                        .values(result=_json_safe(ATTEMPT_NOTED))
                        .returning(ef.c.key)
                    )
                )
        return first

    def complete_effects(
        self, completions: Sequence[tuple[str, Mapping[str, object] | None, AuditEntry | None]]
    ) -> set[str]:
        if not completions:
            return set()
        done: set[str] = set()
        with self._tx("complete effects") as conn:
            now = self._now(conn)
            for key, result, audit in completions:
                changed = conn.execute(
                    _COMPLETE_EFFECT,
                    {"b_key": key, "b_result": None if result is None else _json_safe(result), "b_now": now},
                ).rowcount
                if changed == 1:
                    done.add(key)
                    self._write_audit(conn, audit, now)
        return done

    def jobs_statuses(self, job_ids: Collection[str]) -> dict[str, dict[tuple[OutboxState, str | None], int]]:
        ob = t.outbox
        wanted = sorted(set(job_ids))
        found: dict[str, dict[tuple[OutboxState, str | None], int]] = {}
        if not wanted:
            return found
        with self._tx("jobs statuses") as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(
                    select(ob.c.job_id, ob.c.state, ob.c.receipt_status, func.count())
                    .where(ob.c.job_id.in_(chunk))
                    .group_by(ob.c.job_id, ob.c.state, ob.c.receipt_status)
                )
                for job_id, state, status, n in rows:
                    found.setdefault(str(job_id), {})[(OutboxState(state), status)] = int(n)
        return found

    def outbox_of_jobs(self, job_ids: Collection[str]) -> dict[str, list[OutboxEntry]]:
        ob = t.outbox
        wanted = sorted(set(job_ids))
        found: dict[str, list[OutboxEntry]] = {}
        if not wanted:
            return found
        with self._tx("outbox of jobs") as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(
                    select(*self._outbox_columns(False)).where(ob.c.job_id.in_(chunk)).order_by(ob.c.id)
                ).all()
                for row in rows:
                    entry = self._entry_from(row)
                    found.setdefault(entry.job_id, []).append(entry)
        return found

    # ------------------------------------------------------------------ business receipts

    def record_receipt(self, receipt_id: str, receipt: Mapping[str, object]) -> bool:
        return self._record_batch("record receipt", [(receipt_id, receipt)]) == 1

    def record_receipts(self, receipts: Sequence[tuple[str, Mapping[str, object]]]) -> int:
        return self._record_batch("record receipts", receipts)

    def _record_batch(self, what: str, receipts: Sequence[tuple[str, Mapping[str, object]]]) -> int:
        """Keep each new receipt once and move its outbox row's ``receipt_status`` (the rank rule of
        ``_receipt_status_after``), all in one transaction; the number of new receipts.

        A bounded number of statements per batch: one multi-row INSERT ... ON CONFLICT DO NOTHING
        RETURNING per ``_RECEIPT_ROWS`` receipts, one SELECT ... FOR UPDATE of the touched outbox rows per
        ``_IN_CHUNK`` message UUIDs, and one UPDATE per final status per ``_IN_CHUNK`` rows. The same
        receipt id twice in one batch keeps the first (as one at a time would): the batch is deduplicated
        before the INSERT, so no statement holds one key twice.
        """
        first: dict[str, Mapping[str, object]] = {}
        for rid, receipt in receipts:
            first.setdefault(rid, receipt)
        if not first:
            return 0
        with self._tx(what) as conn:
            return self._record_receipts(conn, list(first.items()), self._now(conn))

    def _record_receipts(
        self, conn: Connection, receipts: list[tuple[str, Mapping[str, object]]], now: datetime
    ) -> int:
        rc, ob = t.receipts, t.outbox
        keys: list[tuple[str, str | None, str | None]] = []
        rows: list[dict[str, object]] = []
        for rid, receipt in receipts:
            uuid, status = receipt.get("messageUUID"), receipt.get("receiptStatus")
            keys.append((rid, str(uuid) if uuid else None, str(status) if status else None))
            rows.append(
                {
                    "receipt_id": rid,
                    "message_uuid": keys[-1][1],
                    "receipt_status": keys[-1][2],
                    "payload": _mask_json(_json_safe(receipt)),
                    "received_at": now,
                    "processed": False,
                }
            )
        new: set[str] = set()
        for part in _chunks(rows, _RECEIPT_ROWS):
            stmt = self._insert(rc).values(part).on_conflict_do_nothing().returning(rc.c.receipt_id)
            new.update(conn.execute(stmt).scalars())
        # The new receipts' statuses per message UUID, in the batch's order.
        statuses: dict[str, list[str]] = {}
        for rid, message_uuid, receipt_status in keys:
            if rid in new and message_uuid and receipt_status:
                statuses.setdefault(message_uuid, []).append(receipt_status)
        final: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(statuses)):
            current = conn.execute(
                select(ob.c.message_uuid, ob.c.receipt_status)
                .where(ob.c.message_uuid.in_(chunk))
                .order_by(ob.c.message_uuid)
                .with_for_update()
            ).all()
            for message_uuid, status in current:
                after, replaced = _receipt_status_after(status, statuses[message_uuid])
                if replaced and after is not None:
                    final.setdefault(after, []).append(message_uuid)
        for status, uuids in sorted(final.items()):
            for chunk in _chunks(uuids):
                conn.execute(
                    update(ob)
                    .where(ob.c.message_uuid.in_(chunk))
                    .values(receipt_status=status, updated_at=now)
                )
        return len(new)

    def unprocessed_receipts(self, limit: int = 100) -> list[BusinessReceipt]:
        rc = t.receipts
        with self._tx("unprocessed receipts") as conn:
            rows = conn.execute(
                select(rc)
                .where(rc.c.processed.is_(False))
                .order_by(rc.c.received_at, rc.c.receipt_id)
                .limit(limit)
            ).all()
            return [self._receipt_from(r) for r in rows]

    @staticmethod
    def _receipt_from(row: Row[Any]) -> BusinessReceipt:
        m = row._mapping
        return BusinessReceipt(
            receipt_id=m["receipt_id"],
            message_uuid=m["message_uuid"],
            receipt_status=m["receipt_status"],
            payload=m["payload"],
            received_at=m["received_at"],
            processed=bool(m["processed"]),
        )

    def claim_receipts(self, owner: str, ttl_s: float, limit: int = 100) -> list[BusinessReceipt]:
        if limit <= 0:
            return []
        rc = t.receipts
        with self._tx("claim receipts") as conn:
            now = self._now(conn)
            chosen = _claim(
                conn,
                rc,
                "receipt_id",
                [rc.c.processed.is_(False)],
                now,
                owner=owner,
                ttl_s=ttl_s,
                limit=limit,
            )
            if not chosen:
                return []
            rows = conn.execute(
                select(rc).where(rc.c.receipt_id.in_(chosen)).order_by(rc.c.received_at, rc.c.receipt_id)
            ).all()
            return [self._receipt_from(r) for r in rows]

    def mark_receipt_processed(self, receipt_id: str) -> None:
        with self._tx("mark receipt processed") as conn:
            self._mark_processed(conn, [receipt_id], self._now(conn))

    def mark_receipts_processed(
        self, receipt_ids: Sequence[str], *, effects: Sequence[EffectPlan] = ()
    ) -> None:
        if not receipt_ids and not effects:
            return
        with self._tx("mark receipts processed") as conn:
            now = self._now(conn)
            self._plan_effects(conn, effects, now)
            self._mark_processed(conn, receipt_ids, now)

    @staticmethod
    def _mark_processed(conn: Connection, receipt_ids: Sequence[str], now: datetime) -> None:
        rc = t.receipts
        wanted = sorted(set(receipt_ids))
        for chunk in _chunks(wanted):
            known = set(conn.execute(select(rc.c.receipt_id).where(rc.c.receipt_id.in_(chunk))).scalars())
            missing = [r for r in chunk if r not in known]
            if missing:
                raise StoreError(f"unknown receipt {missing[0]!r}")
            conn.execute(
                update(rc)
                .where(rc.c.receipt_id.in_(chunk), rc.c.processed.is_(False))
                .values(processed=True, processed_at=now)
            )

    # ------------------------------------------------------------------ inbound memos

    @staticmethod
    def _inbound_from(row: Row[Any]) -> InboundMemo:
        m = row._mapping
        return InboundMemo(
            memo_uuid=m["memo_uuid"],
            source=InboundSource(m["source"]),
            state=InboundState(m["state"]),
            size=int(m["size"]),
            target_mailbox=m["target_mailbox"],
            created_message_id=m["created_message_id"],
            attempts=int(m["attempts"]),
            error=m["error"],
            received_at=m["received_at"],
            updated_at=m["updated_at"],
            route=m["route"],
        )

    def store_inbound_memo(
        self, memo_uuid: str, source: InboundSource, xml: bytes, *, audit: AuditEntry | None = None
    ) -> bool:
        with self._tx("store inbound memo") as conn:
            now = self._now(conn)
            stmt = self._insert(t.inbound_memos).values(
                memo_uuid=memo_uuid,
                source=InboundSource(source).value,
                raw=xml,
                size=len(xml),
                state=InboundState.RECEIVED.value,
                attempts=0,
                received_at=now,
                updated_at=now,
            )
            if not _inserted(conn, stmt):
                return False
            self._write_audit(conn, audit, now)
            return True

    def get_inbound(self, memo_uuid: str) -> InboundMemo | None:
        with self._tx("get inbound memo") as conn:
            row = conn.execute(select(*_INBOUND_META).where(t.inbound_memos.c.memo_uuid == memo_uuid)).first()
            return None if row is None else self._inbound_from(row)

    def get_inbound_many(self, memo_uuids: Collection[str]) -> dict[str, InboundMemo]:
        wanted = sorted(set(memo_uuids))
        if not wanted:
            return {}
        im = t.inbound_memos
        found: dict[str, InboundMemo] = {}
        with self._tx("get inbound memos") as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(select(*_INBOUND_META).where(im.c.memo_uuid.in_(chunk))).all()
                found.update((m.memo_uuid, m) for m in map(self._inbound_from, rows))
        return found

    def load_inbound_xml(self, memo_uuid: str) -> bytes | None:
        with self._tx("load inbound xml") as conn:
            raw = conn.execute(
                select(t.inbound_memos.c.raw).where(t.inbound_memos.c.memo_uuid == memo_uuid)
            ).scalar_one_or_none()
            return None if raw is None else bytes(raw)

    def record_inbound_route(
        self, memo_uuid: str, route: Mapping[str, object], *, replace: bool = False
    ) -> bool:
        im = t.inbound_memos
        with self._tx("record inbound route") as conn:
            query = update(im).where(im.c.memo_uuid == memo_uuid)
            if not replace:
                query = query.where(im.c.route.is_(None))
            changed = conn.execute(query.values(route=_json_safe(route))).rowcount
            if (
                changed != 1
                and conn.execute(select(im.c.memo_uuid).where(im.c.memo_uuid == memo_uuid)).first() is None
            ):
                raise StoreError(f"unknown inbound memo {memo_uuid!r}")
            return changed == 1

    def inbound_in_state(self, state: InboundState, limit: int = 100) -> list[InboundMemo]:
        im = t.inbound_memos
        with self._tx("inbound in state") as conn:
            rows = conn.execute(
                select(*_INBOUND_META)
                .where(im.c.state == state.value)
                .order_by(im.c.received_at, im.c.memo_uuid)
                .limit(limit)
            ).all()
            return [self._inbound_from(r) for r in rows]

    def claim_inbound(
        self,
        owner: str,
        state: InboundState,
        ttl_s: float,
        limit: int = 100,
        *,
        source: InboundSource | None = None,
    ) -> list[InboundMemo]:
        if limit <= 0:
            return []
        im = t.inbound_memos
        with self._tx("claim inbound memos") as conn:
            now = self._now(conn)
            where = [im.c.state == InboundState(state).value]
            if source is not None:
                where.append(im.c.source == InboundSource(source).value)
            chosen = _claim(conn, im, "memo_uuid", where, now, owner=owner, ttl_s=ttl_s, limit=limit)
            if not chosen:
                return []
            rows = conn.execute(
                select(*_INBOUND_META)
                .where(im.c.memo_uuid.in_(chosen))
                .order_by(im.c.received_at, im.c.memo_uuid)
            ).all()
            return [self._inbound_from(r) for r in rows]

    def mark_delivered_many(
        self, delivered: Sequence[DeliveredMemo], *, release: str | None = None
    ) -> set[str]:
        steps: list[tuple[str, dict[str, object], AuditEntry | None]] = [
            (
                d.memo_uuid,
                {"target_mailbox": d.target_mailbox, "created_message_id": d.created_message_id},
                d.audit,
            )
            for d in delivered
        ]
        return self._advance_inbound_many(InboundState.DELIVERED, steps, release)

    def mark_deleted_many(
        self, deleted: Mapping[str, AuditEntry | None], *, release: str | None = None
    ) -> set[str]:
        steps: list[tuple[str, dict[str, object], AuditEntry | None]] = [
            (memo_uuid, {}, audit) for memo_uuid, audit in deleted.items()
        ]
        return self._advance_inbound_many(InboundState.DELETED, steps, release)

    def _advance_inbound_many(
        self,
        state: InboundState,
        steps: Sequence[tuple[str, dict[str, object], AuditEntry | None]],
        release: str | None,
    ) -> set[str]:
        """The batched :meth:`_advance_inbound`: one UPDATE per memo (each its own values) and one commit;
        a memo not in a predecessor state (already in ``state`` too) is skipped, not raised (see
        ``InboundMemos.mark_delivered_many``)."""
        if not steps:
            return set()
        im = t.inbound_memos
        allowed = [s.value for s in _INBOUND_PREDECESSORS[state]]
        claim: dict[str, object] = {}
        if release is not None:
            mine = im.c.claimed_by == release  # a claim another replica took is kept
            claim = {
                "claimed_by": case((mine, None), else_=im.c.claimed_by),
                "claimed_until": case((mine, None), else_=im.c.claimed_until),
            }
        advanced: set[str] = set()
        with self._tx(f"inbound {state.value} batch") as conn:
            now = self._now(conn)
            for memo_uuid, values, audit in steps:
                changed = conn.execute(
                    update(im)
                    .where(im.c.memo_uuid == memo_uuid, im.c.state.in_(allowed))
                    .values(state=state.value, updated_at=now, error=None, **values, **claim)
                ).rowcount
                if changed == 1:
                    advanced.add(memo_uuid)
                    self._write_audit(conn, audit, now)
        return advanced

    def store_inbound_memos(self, received: Sequence[ReceivedMemo]) -> set[str]:
        if not received:
            return set()
        stored: set[str] = set()
        with self._tx("store inbound memos") as conn:
            now = self._now(conn)
            for memo in received:
                stmt = self._insert(t.inbound_memos).values(
                    memo_uuid=memo.memo_uuid,
                    source=InboundSource(memo.source).value,
                    raw=memo.xml,
                    size=len(memo.xml),
                    state=InboundState.RECEIVED.value,
                    attempts=0,
                    received_at=now,
                    updated_at=now,
                )
                if _inserted(conn, stmt):
                    stored.add(memo.memo_uuid)
                    self._write_audit(conn, memo.audit, now)
        return stored

    def has_claimable_inbound(self, wanted: Sequence[tuple[InboundState, InboundSource | None]]) -> bool:
        im = t.inbound_memos
        if not wanted:
            return False
        with self._tx("any claimable inbound memo") as conn:
            now = self._now(conn)
            steps = [
                im.c.state == InboundState(state).value
                if source is None
                else (im.c.state == InboundState(state).value) & (im.c.source == InboundSource(source).value)
                for state, source in wanted
            ]
            query = select(im.c.memo_uuid).where(
                or_(*steps), or_(im.c.claimed_until.is_(None), im.c.claimed_until <= now)
            )
            return conn.execute(query.limit(1)).first() is not None

    def renew_inbound_claims(self, owner: str, memo_uuids: Collection[str], ttl_s: float) -> set[str]:
        ids = sorted(set(memo_uuids))
        if not ids:
            return set()
        im = t.inbound_memos
        with self._tx("renew inbound claims") as conn:
            now = self._now(conn)
            # On PostgreSQL a concurrent claim of one of these rows holds its row lock until it commits;
            # this UPDATE waits for it and then re-checks claimed_by, so a row taken over is not renewed.
            conn.execute(
                update(im)
                .where(im.c.memo_uuid.in_(ids), im.c.claimed_by == owner)
                .values(claimed_until=now + timedelta(seconds=ttl_s))
            )
            held = conn.execute(
                select(im.c.memo_uuid).where(im.c.memo_uuid.in_(ids), im.c.claimed_by == owner)
            ).scalars()
            return set(held)

    def release_inbound(self, owner: str, memo_uuids: Collection[str]) -> None:
        ids = sorted(set(memo_uuids))
        if not ids:
            return
        im = t.inbound_memos
        with self._tx("release inbound claims") as conn:
            conn.execute(
                update(im)
                .where(im.c.memo_uuid.in_(ids), im.c.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None)
            )

    def _advance_inbound(
        self,
        memo_uuid: str,
        state: InboundState,
        values: dict[str, object],
        audit: AuditEntry | None = None,
        release: str | None = None,
    ) -> None:
        im = t.inbound_memos
        with self._tx(f"inbound {state.value}") as conn:
            allowed = [s.value for s in (*_INBOUND_PREDECESSORS[state], state)]
            now = self._now(conn)
            if release is not None:
                # The holder's claim ends with its step (issue 18); a claim another replica took is kept.
                mine = im.c.claimed_by == release
                values = {
                    **values,
                    "claimed_by": case((mine, None), else_=im.c.claimed_by),
                    "claimed_until": case((mine, None), else_=im.c.claimed_until),
                }
            changed = conn.execute(
                update(im)
                .where(im.c.memo_uuid == memo_uuid, im.c.state.in_(allowed))
                .values(state=state.value, updated_at=now, **values)
            ).rowcount
            if changed != 1:
                current = conn.execute(
                    select(im.c.state).where(im.c.memo_uuid == memo_uuid)
                ).scalar_one_or_none()
                if current is None:
                    raise StoreError(f"unknown inbound memo {memo_uuid!r}")
                raise StoreError(f"inbound memo {memo_uuid!r}: illegal transition {current} -> {state.value}")
            self._write_audit(conn, audit, now)

    def mark_delivered(
        self,
        memo_uuid: str,
        target_mailbox: str,
        created_message_id: str,
        *,
        audit: AuditEntry | None = None,
        release: str | None = None,
    ) -> None:
        self._advance_inbound(
            memo_uuid,
            InboundState.DELIVERED,
            {"target_mailbox": target_mailbox, "created_message_id": created_message_id, "error": None},
            audit,
            release,
        )

    def mark_acknowledged(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None:
        self._advance_inbound(memo_uuid, InboundState.ACKNOWLEDGED, {"error": None}, audit, release)

    def mark_deleted(
        self, memo_uuid: str, *, audit: AuditEntry | None = None, release: str | None = None
    ) -> None:
        self._advance_inbound(memo_uuid, InboundState.DELETED, {"error": None}, audit, release)

    def record_inbound_error(self, memo_uuid: str, error: str) -> None:
        im = t.inbound_memos
        with self._tx("record inbound error") as conn:
            changed = conn.execute(
                update(im)
                .where(im.c.memo_uuid == memo_uuid)
                .values(attempts=im.c.attempts + 1, error=mask_cprs(error), updated_at=self._now(conn))
            ).rowcount
            if changed != 1:
                raise StoreError(f"unknown inbound memo {memo_uuid!r}")

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        action: str,
        subject: str,
        *,
        actor: str = "gateway",
        details: Mapping[str, object] | None = None,
    ) -> None:
        with self._tx("audit") as conn:
            self._write_audit(conn, AuditEntry(action, subject, details, actor), self._now(conn))

    def _write_audit(self, conn: Connection, entry: AuditEntry | None, now: datetime) -> None:
        """Append ``entry`` (if any) in the caller's transaction, every text CPR-masked."""
        if entry is None:
            return
        conn.execute(
            _AUDIT_INSERT,
            {
                "ts": now,
                "replica": mask_cprs(self.replica),
                "actor": mask_cprs(entry.actor),
                "action": mask_cprs(entry.action),
                "subject": mask_cprs(entry.subject),
                "details": _mask_json(_json_safe(entry.details or {})),
            },
        )

    # ------------------------------------------------------------------ leases & replicas

    def _ensure_rows(self, conn: Connection, resources: Sequence[str]) -> None:
        if resources:
            # Sorted: concurrent inserters of overlapping sets then wait on each other in one order
            # and cannot deadlock.
            conn.execute(
                self._insert(t.leases).on_conflict_do_nothing(),
                [{"resource": r} for r in sorted(set(resources))],
            )

    @staticmethod
    def _takeable(owner: str, now: datetime) -> Any:
        le = t.leases
        return or_(
            le.c.owner.is_(None), le.c.owner == owner, le.c.expires_at.is_(None), le.c.expires_at <= now
        )

    def acquire_some(self, resources: Sequence[str], owner: str, ttl_s: float, limit: int) -> list[str]:
        """Hold up to ``limit`` of ``resources`` for ``ttl_s``: own leases first (renewed), then free or
        expired ones. Rows another replica is claiming at this moment are skipped, not waited for.
        """
        if limit <= 0 or not resources:
            return []
        with self._tx("acquire leases") as conn:
            return self._acquire(conn, self._now(conn), resources, owner, ttl_s, limit)

    def refresh_leases(
        self,
        owner: str,
        resources: Sequence[str],
        ttl_s: float,
        live_within_s: float,
        share: Callable[[int], int],
    ) -> tuple[list[str], list[str]]:
        """See :class:`graph_dpg.ports.leases.ReplicaLeases`: heartbeat, live replicas and acquire_some in
        one transaction (issue 18: one round trip per heartbeat instead of three)."""
        with self._tx("refresh leases") as conn:
            now = self._now(conn)
            self._heartbeat(conn, owner, now)
            live = self._live(conn, now, live_within_s)
            limit = share(len(set(live) | {owner}))
            held = self._acquire(conn, now, resources, owner, ttl_s, limit) if limit > 0 and resources else []
            return live, held

    def _acquire(
        self, conn: Connection, now: datetime, resources: Sequence[str], owner: str, ttl_s: float, limit: int
    ) -> list[str]:
        le = t.leases
        self._ensure_rows(conn, resources)
        chosen = list(
            conn.execute(
                select(le.c.resource)
                .where(le.c.resource.in_(list(set(resources))), self._takeable(owner, now))
                .order_by(case((le.c.owner == owner, 0), else_=1), le.c.resource)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if chosen:
            conn.execute(
                update(le)
                .where(le.c.resource.in_(chosen))
                .values(
                    acquired_at=case((le.c.owner == owner, le.c.acquired_at), else_=now),
                    owner=owner,
                    expires_at=now + timedelta(seconds=ttl_s),
                )
            )
        return [str(r) for r in chosen]

    def renew(self, resource: str, owner: str, ttl_s: float) -> bool:
        le = t.leases
        with self._tx("renew lease") as conn:
            now = self._now(conn)
            # Strict: once expired the lease is lost even if nobody took it yet, so a replica that
            # stalled past its TTL always re-checks instead of assuming continuity.
            return (
                conn.execute(
                    update(le)
                    .where(le.c.resource == resource, le.c.owner == owner, le.c.expires_at > now)
                    .values(expires_at=now + timedelta(seconds=ttl_s))
                ).rowcount
                == 1
            )

    def release(self, resource: str, owner: str) -> None:
        le = t.leases
        with self._tx("release lease") as conn:
            conn.execute(
                update(le)
                .where(le.c.resource == resource, le.c.owner == owner)
                .values(owner=None, expires_at=None, acquired_at=None)
            )

    def release_all(self, owner: str) -> int:
        le = t.leases
        with self._tx("release leases") as conn:
            return int(
                conn.execute(
                    update(le)
                    .where(le.c.owner == owner)
                    .values(owner=None, expires_at=None, acquired_at=None)
                ).rowcount
            )

    def replica_heartbeat(self, owner: str) -> None:
        with self._tx("replica heartbeat") as conn:
            self._heartbeat(conn, owner, self._now(conn))

    def _heartbeat(self, conn: Connection, owner: str, now: datetime) -> None:
        stmt = self._insert(t.replicas).values(owner=owner, started_at=now, last_seen=now)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["owner"], set_={"last_seen": stmt.excluded.last_seen})
        )

    def live_replicas(self, within_s: float) -> list[str]:
        with self._tx("live replicas") as conn:
            return self._live(conn, self._now(conn), within_s)

    @staticmethod
    def _live(conn: Connection, now: datetime, within_s: float) -> list[str]:
        rp = t.replicas
        cutoff = now - timedelta(seconds=within_s)
        return [
            str(o)
            for o in conn.execute(
                select(rp.c.owner).where(rp.c.last_seen >= cutoff).order_by(rp.c.owner)
            ).scalars()
        ]

    def forget_replica(self, owner: str) -> None:
        with self._tx("forget replica") as conn:
            conn.execute(delete(t.replicas).where(t.replicas.c.owner == owner))

    # ------------------------------------------------------------------ Graph request budget (issue 18)

    def reserve_requests(self, scope: str, want: int, cap: int, window_s: int) -> BudgetGrant:
        """See :class:`graph_dpg.ports.graph_budget.BudgetLedger`. The window follows the database clock.
        The common case is one conditional UPDATE (the whole block fits); a new window is one INSERT (and
        deletes the scope's rows of windows over 10 minutes old); the window's last requests are taken with
        a compare-and-set on the count read. PostgreSQL re-checks each WHERE on the row's newest version
        after waiting for its lock (READ COMMITTED), SQLite runs one writer: no two callers pass ``cap``."""
        gb = t.graph_budget
        with self._tx("reserve graph requests") as conn:
            now = self._now(conn).timestamp()
            start = budget.window_start(now, window_s)
            left = start + window_s - now
            if want <= 0 or cap <= 0:
                return BudgetGrant(0, start, left)
            want = min(want, cap)
            here = (gb.c.scope == scope, gb.c.window_start == start)
            for _ in range(16):
                if (
                    conn.execute(
                        update(gb).where(*here, gb.c.used + want <= cap).values(used=gb.c.used + want)
                    ).rowcount
                    == 1
                ):
                    return BudgetGrant(want, start, left)
                used = conn.execute(select(gb.c.used).where(*here)).scalar_one_or_none()
                if used is None:
                    first = self._insert(gb).values(scope=scope, window_start=start, used=want)
                    if _inserted(conn, first):
                        conn.execute(
                            delete(gb).where(gb.c.scope == scope, gb.c.window_start < start - 10 * window_s)
                        )
                        return BudgetGrant(want, start, left)
                    continue  # another replica opened the window meanwhile
                if used >= cap:
                    return BudgetGrant(0, start, left)
                if conn.execute(update(gb).where(*here, gb.c.used == used).values(used=cap)).rowcount == 1:
                    return BudgetGrant(cap - used, start, left)
            return BudgetGrant(0, start, left)  # lost every race: the caller waits and asks again

    # ------------------------------------------------------------------ subscriptions and wakes

    @staticmethod
    def _subscription_from(row: Row[Any]) -> SubscriptionRow:
        return SubscriptionRow(
            resource=str(row.resource),
            subscription_id=None if row.subscription_id is None else str(row.subscription_id),
            client_state=str(row.client_state),
            expires_at=row.expires_at,
            need=None if row.need is None else str(row.need),
        )

    def get_subscription(self, resource: str) -> SubscriptionRow | None:
        sub = t.subscriptions
        with self._tx("get subscription") as conn:
            row = conn.execute(select(sub).where(sub.c.resource == resource)).first()
            return None if row is None else self._subscription_from(row)

    def find_subscription(self, subscription_id: str) -> SubscriptionRow | None:
        sub = t.subscriptions
        with self._tx("find subscription") as conn:
            row = conn.execute(select(sub).where(sub.c.subscription_id == subscription_id).limit(1)).first()
            return None if row is None else self._subscription_from(row)

    def save_subscription(
        self, resource: str, subscription_id: str, client_state: str, expires_at: datetime
    ) -> None:
        with self._tx("save subscription") as conn:
            stmt = self._insert(t.subscriptions).values(
                resource=resource,
                subscription_id=subscription_id,
                client_state=client_state,
                expires_at=expires_at,
                need=None,
                updated_at=self._now(conn),
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["resource"],
                    set_={
                        "subscription_id": stmt.excluded.subscription_id,
                        "client_state": stmt.excluded.client_state,
                        "expires_at": stmt.excluded.expires_at,
                        "need": None,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    def mark_subscription(self, subscription_id: str, need: str) -> str | None:
        sub = t.subscriptions
        with self._tx("mark subscription") as conn:
            resource = conn.execute(
                select(sub.c.resource).where(sub.c.subscription_id == subscription_id).limit(1)
            ).scalar_one_or_none()
            if resource is None:
                return None
            current = conn.execute(select(sub.c.need).where(sub.c.resource == resource)).scalar_one()
            if current != "recreate":  # a removed subscription stays to be recreated
                conn.execute(
                    update(sub)
                    .where(sub.c.resource == resource)
                    .values(need=need, updated_at=self._now(conn))
                )
            return str(resource)

    def forget_subscription(self, resource: str) -> None:
        with self._tx("forget subscription") as conn:
            conn.execute(delete(t.subscriptions).where(t.subscriptions.c.resource == resource))

    def request_wake(self, resource: str, reason: str) -> None:
        with self._tx("request wake") as conn:
            stmt = self._insert(t.wakes).values(
                resource=resource, reason=reason, requested_at=self._now(conn)
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["resource"],
                    set_={"reason": stmt.excluded.reason, "requested_at": stmt.excluded.requested_at},
                )
            )

    def take_wakes(self, resources: Sequence[str]) -> list[str]:
        if not resources:
            return []
        wk = t.wakes
        with self._tx("take wakes") as conn:
            # DELETE ... RETURNING (SQLite >= 3.35, PostgreSQL): a wake written after this statement stays
            # for the next check, so none is lost between reading and deleting.
            taken = conn.execute(
                delete(wk).where(wk.c.resource.in_(list(resources))).returning(wk.c.resource)
            ).scalars()
            return sorted(str(r) for r in taken)

    # ------------------------------------------------------------------ rule state

    def disable_rule(self, name: str, reason: str) -> bool:
        rs = t.rule_state
        with self._tx("disable rule") as conn:
            now = self._now(conn)
            stmt = self._insert(rs).values(
                name=name, disabled=True, reason=mask_cprs(reason), disabled_at=now, hits=0
            )
            if _inserted(conn, stmt):
                return True
            return (
                conn.execute(
                    update(rs)
                    .where(rs.c.name == name, rs.c.disabled.is_(False))
                    .values(disabled=True, reason=mask_cprs(reason), disabled_at=now)
                ).rowcount
                == 1
            )

    def enable_rule(self, name: str) -> None:
        rs = t.rule_state
        with self._tx("enable rule") as conn:
            conn.execute(
                update(rs).where(rs.c.name == name).values(disabled=False, reason=None, disabled_at=None)
            )

    def disabled_rules(self) -> dict[str, DisabledRule]:
        rs = t.rule_state
        with self._tx("disabled rules") as conn:
            rows = conn.execute(select(rs).where(rs.c.disabled.is_(True)).order_by(rs.c.name)).all()
            return {
                r.name: DisabledRule(name=r.name, reason=r.reason or "", disabled_at=r.disabled_at)
                for r in rows
            }

    def increment_rule_hits(self, name: str, n: int = 1) -> None:
        rs = t.rule_state
        with self._tx("rule hit") as conn:
            now = self._now(conn)
            stmt = self._insert(rs).values(name=name, disabled=False, hits=n, last_hit_at=now)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"hits": rs.c.hits + stmt.excluded.hits, "last_hit_at": stmt.excluded.last_hit_at},
                )
            )

    def rule_hits(self) -> dict[str, int]:
        rs = t.rule_state
        with self._tx("rule hits") as conn:
            return {str(name): int(hits) for name, hits in conn.execute(select(rs.c.name, rs.c.hits)).all()}

    # ------------------------------------------------------------------ housekeeping

    def cleanup(
        self,
        older_than: datetime,
        *,
        audit_older_than: datetime | None = None,
        source_messages_older_than: datetime | None = None,
    ) -> dict[str, int]:
        """Drop what retention allows; returns the number of rows touched per category.

        Finished outbound jobs (with their outbox rows), completed effects and processed receipts
        older than ``older_than`` are deleted; raw XML of finished outbox rows and of
        deleted/acknowledged inbound memos is dropped (the rows stay so a re-push is still
        recognised). Audit events and source-message claims are only removed when asked for
        explicitly: forgetting a claim would let a delta resync send an old mail again.
        """
        jobs, ob, im = t.outbound_jobs, t.outbox, t.inbound_memos
        done_jobs = [s.value for s in (JobState.DONE, JobState.REJECTED, JobState.FAILED)]
        finished_outbox = [s.value for s in (OutboxState.ACCEPTED, OutboxState.REJECTED, OutboxState.FAILED)]
        report: dict[str, int] = {}
        with self._tx("cleanup") as conn:
            old_jobs = select(jobs.c.id).where(jobs.c.state.in_(done_jobs), jobs.c.updated_at < older_than)
            report["outbox_rows"] = conn.execute(delete(ob).where(ob.c.job_id.in_(old_jobs))).rowcount
            report["jobs"] = conn.execute(
                delete(jobs).where(jobs.c.state.in_(done_jobs), jobs.c.updated_at < older_than)
            ).rowcount
            report["outbox_xml"] = conn.execute(
                update(ob)
                .where(
                    ob.c.state.in_(finished_outbox), ob.c.updated_at < older_than, ob.c.memo_xml.is_not(None)
                )
                .values(memo_xml=None)
            ).rowcount
            report["inbound_xml"] = conn.execute(
                update(im)
                .where(
                    im.c.state.in_([InboundState.ACKNOWLEDGED.value, InboundState.DELETED.value]),
                    im.c.updated_at < older_than,
                    im.c.raw.is_not(None),
                )
                .values(raw=None)
            ).rowcount
            report["effects"] = conn.execute(
                delete(t.effects).where(
                    t.effects.c.state == EffectState.DONE.value, t.effects.c.completed_at < older_than
                )
            ).rowcount
            report["receipts"] = conn.execute(
                delete(t.receipts).where(
                    t.receipts.c.processed.is_(True), t.receipts.c.processed_at < older_than
                )
            ).rowcount
            report["audit_events"] = (
                conn.execute(delete(t.audit_events).where(t.audit_events.c.ts < audit_older_than)).rowcount
                if audit_older_than is not None
                else 0
            )
            report["source_messages"] = (
                conn.execute(
                    delete(t.source_messages).where(
                        t.source_messages.c.claimed_at < source_messages_older_than
                    )
                ).rowcount
                if source_messages_older_than is not None
                else 0
            )
            report["replicas"] = conn.execute(
                delete(t.replicas).where(t.replicas.c.last_seen < older_than)
            ).rowcount
        return report

    # ------------------------------------------------------------------ the admin console (ports.console)

    def search_letters(self, query: LetterFilter) -> list[LetterMatch]:
        jobs, ob = t.outbound_jobs, t.outbox
        limit = max(1, min(query.limit, 500))
        with self._tx("search letters") as conn:
            wanted_row = query.message_uuid is not None or query.cpr is not None
            stmt = select(jobs, *(c.label(f"ob_{c.name}") for c in self._outbox_columns(False)))
            stmt = stmt.select_from(jobs.join(ob, ob.c.job_id == jobs.c.id)) if wanted_row else select(jobs)
            if query.message_uuid is not None:
                stmt = stmt.where(ob.c.message_uuid == query.message_uuid)
            if query.cpr is not None:
                stmt = stmt.where(ob.c.recipient_id == query.cpr)
            if query.job_id is not None:
                stmt = stmt.where(jobs.c.id == query.job_id)
            if query.mailbox:
                stmt = stmt.where(func.lower(jobs.c.mailbox) == query.mailbox.lower())
            if query.subject:
                part = query.subject.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                stmt = stmt.where(jobs.c.subject.ilike(f"%{part}%", escape="\\"))
            if query.state:
                stmt = stmt.where(jobs.c.state == query.state)
            if query.since is not None:
                stmt = stmt.where(jobs.c.created_at >= query.since)
            if query.until is not None:
                stmt = stmt.where(jobs.c.created_at < query.until)
            rows = conn.execute(stmt.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)).all()
            out: list[LetterMatch] = []
            for r in rows:
                job = self._job_from(r)
                entry = None
                if wanted_row:
                    m = r._mapping
                    entry = self._entry_from_mapping(
                        {c.name: m[f"ob_{c.name}"] for c in self._outbox_columns(False)}
                    )
                out.append(LetterMatch(job, entry))
            return out

    def problem_rows(self, job_id: str, *, after_id: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        ob = t.outbox
        with self._tx("problem rows") as conn:
            rows = conn.execute(
                select(*self._outbox_columns(False))
                .where(
                    ob.c.job_id == job_id,
                    ob.c.id > after_id,
                    or_(
                        ob.c.state.in_([OutboxState.REJECTED.value, OutboxState.FAILED.value]),
                        (ob.c.state == OutboxState.ACCEPTED.value)
                        & ob.c.receipt_status.in_(["INVALID", "NOT_ALLOWED"]),
                    ),
                )
                .order_by(ob.c.id)
                .limit(limit)
            ).all()
            return [self._entry_from(r) for r in rows]

    def search_inbound(self, query: InboundFilter) -> list[InboundMemo]:
        im = t.inbound_memos
        with self._tx("search inbound") as conn:
            stmt = select(*_INBOUND_META)
            if query.memo_uuid is not None:
                stmt = stmt.where(im.c.memo_uuid == query.memo_uuid)
            if query.mailbox:
                stmt = stmt.where(func.lower(im.c.target_mailbox) == query.mailbox.lower())
            if query.state:
                stmt = stmt.where(im.c.state == query.state)
            if query.since is not None:
                stmt = stmt.where(im.c.received_at >= query.since)
            if query.until is not None:
                stmt = stmt.where(im.c.received_at < query.until)
            limit = max(1, min(query.limit, 500))
            rows = conn.execute(stmt.order_by(im.c.received_at.desc(), im.c.memo_uuid).limit(limit)).all()
            return [self._inbound_from(r) for r in rows]

    def job_audit(self, job_id: str, since: datetime, limit: int = 500) -> list[AuditRecord]:
        ae = t.audit_events
        with self._tx("job audit") as conn:
            rows = conn.execute(
                select(ae)
                .where(ae.c.ts >= since, ae.c.details["job"].as_string() == job_id)
                .order_by(ae.c.ts, ae.c.id)
                .limit(limit)
            ).all()
            return [AuditRecord(r.ts, r.replica, r.actor, r.action, r.subject, r.details or {}) for r in rows]

    def job_effects(self, job_id: str) -> list[Effect]:
        ef = t.effects
        with self._tx("job effects") as conn:
            rows = conn.execute(
                select(ef)
                .where(
                    or_(
                        ef.c.key == f"receipt:{job_id}",
                        ef.c.key.startswith(f"receipt:{job_id}:", autoescape=True),
                        ef.c.key.startswith(f"categories:{job_id}:", autoescape=True),
                    )
                )
                .order_by(ef.c.created_at, ef.c.key)
            ).all()
            return [self._effect_from(r) for r in rows]

    def receipts_of(self, message_uuid: str) -> list[BusinessReceipt]:
        rc = t.receipts
        with self._tx("receipts of") as conn:
            rows = conn.execute(
                select(rc)
                .where(rc.c.message_uuid == message_uuid)
                .order_by(rc.c.received_at, rc.c.receipt_id)
            ).all()
            return [
                BusinessReceipt(
                    receipt_id=m["receipt_id"],
                    message_uuid=m["message_uuid"],
                    receipt_status=m["receipt_status"],
                    payload=m["payload"],
                    received_at=m["received_at"],
                    processed=bool(m["processed"]),
                )
                for m in (r._mapping for r in rows)
            ]

    def _reopen_job(self, conn: Connection, job_id: str, now: datetime) -> None:
        jobs = t.outbound_jobs
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state.in_([JobState.DONE.value, JobState.FAILED.value]))
            .values(state=JobState.SENDING.value, error=None, attempts=0, not_before=None, updated_at=now)
        )

    def reopen_failed(self, job_id: str, message_uuids: Sequence[str] | None = None) -> int:
        ob = t.outbox
        with self._tx("reopen failed") as conn:
            now = self._now(conn)
            changed = 0
            chunks = [None] if message_uuids is None else list(_chunks(message_uuids))
            for chunk in chunks:
                stmt = update(ob).where(ob.c.job_id == job_id, ob.c.state == OutboxState.FAILED.value)
                if chunk is not None:
                    stmt = stmt.where(ob.c.message_uuid.in_(chunk))
                changed += conn.execute(
                    stmt.values(state=OutboxState.PENDING.value, attempts=0, not_before=None, updated_at=now)
                ).rowcount
            if changed:
                self._reopen_job(conn, job_id, now)
            return changed

    def add_replacements(
        self, job_id: str, replacements: Sequence[tuple[str, PlannedMemo]], actor: str
    ) -> int:
        with self._tx("add replacements") as conn:
            now = self._now(conn)
            added: list[PlannedMemo] = []
            for original, memo in replacements:
                stmt = self._insert(t.letter_links).values(
                    original_uuid=original,
                    new_uuid=memo.message_uuid,
                    job_id=job_id,
                    actor=mask_cprs(actor),
                    created_at=now,
                )
                if _inserted(conn, stmt):
                    added.append(memo)
            if added:
                conn.execute(
                    t.outbox.insert(),
                    [
                        {
                            "job_id": job_id,
                            "message_uuid": m.message_uuid,
                            "recipient_kind": m.recipient_kind,
                            "recipient_id": m.recipient_id,
                            "recipient_contact_point": m.recipient_contact_point,
                            "memo_ref": m.memo_ref,
                            "memo_xml": m.memo_xml,
                            "state": OutboxState.PENDING.value,
                            "attempts": 0,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for m in added
                    ],
                )
                self._reopen_job(conn, job_id, now)
            return len(added)

    def letter_links(self, job_id: str) -> list[LetterLink]:
        ll = t.letter_links
        with self._tx("letter links") as conn:
            rows = conn.execute(select(ll).where(ll.c.job_id == job_id).order_by(ll.c.created_at)).all()
            return [LetterLink(r.original_uuid, r.new_uuid, r.job_id, r.actor, r.created_at) for r in rows]

    def request_cancellation(self, job_id: str, actor: str, via: str) -> bool:
        cc = t.console_cancellations
        with self._tx("request cancellation") as conn:
            now = self._now(conn)
            stmt = self._insert(cc).values(
                job_id=job_id, actor=mask_cprs(actor), via=via, requested_at=now, lifted_at=None
            )
            if _inserted(conn, stmt):
                return True
            return (
                conn.execute(
                    update(cc)
                    .where(cc.c.job_id == job_id, cc.c.lifted_at.is_not(None))
                    .values(actor=mask_cprs(actor), via=via, requested_at=now, lifted_at=None)
                ).rowcount
                == 1
            )

    def lift_cancellation(self, job_id: str) -> bool:
        cc = t.console_cancellations
        with self._tx("lift cancellation") as conn:
            return (
                conn.execute(
                    update(cc)
                    .where(cc.c.job_id == job_id, cc.c.lifted_at.is_(None))
                    .values(lifted_at=self._now(conn))
                ).rowcount
                == 1
            )

    def cancellation(self, job_id: str) -> Cancellation | None:
        cc = t.console_cancellations
        with self._tx("cancellation") as conn:
            r = conn.execute(select(cc).where(cc.c.job_id == job_id)).first()
            return None if r is None else Cancellation(r.job_id, r.actor, r.via, r.requested_at, r.lifted_at)

    def cancellation_requested(self, job_id: str) -> bool:
        with self._tx("cancellation requested") as conn:
            return conn.execute(_CANCELLATION_REQUESTED, {"b_job": job_id}).first() is not None

    def mass_deliveries(self, *, active_only: bool = False, limit: int = 50) -> list[OutboundJob]:
        jobs, ob = t.outbound_jobs, t.outbox
        with self._tx("mass deliveries") as conn:
            many = select(ob.c.job_id).group_by(ob.c.job_id).having(func.count() > 1)
            stmt = select(jobs).where(jobs.c.id.in_(many))
            if active_only:
                stmt = stmt.where(
                    jobs.c.state.in_([s.value for s in (JobState.NEW, JobState.PLANNED, JobState.SENDING)])
                )
            rows = conn.execute(stmt.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(max(1, limit))).all()
            return [self._job_from(r) for r in rows]


class AsyncStorePushSink:
    """The NgDP push receiver's sink (``PushSink`` in ``services.ports.digital_post``).

    Stores in a worker thread so the event loop keeps serving; returns only after the commit, because
    the receiver answers 200 right after and NgDP does not redeliver after a 200.
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        await asyncio.to_thread(self._store.store_inbound_memo, memo_uuid, InboundSource.PUSH, xml)

    async def store_pushed_receipt(self, receipt: object) -> None:
        """``receipt``: the pushed JSON as a mapping, or a ``BusinessReceipt`` value (``raw`` + fields)."""
        data = receipt_mapping(receipt)
        await asyncio.to_thread(self._store.record_receipt, pushed_receipt_id(data), data)


_RECEIPT_FIELDS = (
    ("transmission_id", "transmissionId"),
    ("message_uuid", "messageUUID"),
    ("receipt_status", "receiptStatus"),
    ("error_code", "errorCode"),
    ("error_message", "errorMessage"),
    ("message_id", "messageId"),
    ("timestamp", "timeStamp"),
)


def receipt_mapping(receipt: object) -> dict[str, object]:
    """The NgDP ``Receipt`` JSON of a mapping or of a receipt value object (duck-typed by attribute)."""
    if isinstance(receipt, Mapping):
        return {str(k): v for k, v in receipt.items()}
    raw = getattr(receipt, "raw", None)
    data: dict[str, object] = {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    for attribute, key in _RECEIPT_FIELDS:
        value = getattr(receipt, attribute, None)
        if value is not None and key not in data:
            data[key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _begin_immediate(dbapi_connection: Any) -> None:
    """SQLite dialect ``do_begin`` of the store's engine (see ``SqlStore._make_engine``)."""
    dbapi_connection.execute("BEGIN IMMEDIATE")


# A pooled PostgreSQL connection idle for longer than this is pinged at checkout (_ping_when_idle).
_PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for a connection idle for more than ``_PING_AFTER_IDLE_S``.

    pool_pre_ping costs a round trip (``SELECT 1``) and ~100 µs CPU at every checkout, i.e. per
    transaction. A connection that finished a transaction a moment ago is alive as far as a ping could
    tell; the ones that sat in the pool (between polls, when a failover or server restart happens) are
    pinged as before. A ping that fails with a disconnect raises DisconnectionError, on which the pool
    drops the connection and checks out another (PoolEvents.checkout; docs/facts/sqlalchemy.md,
    "PostgreSQL: ping only connections that sat idle"). A
    server lost within the window fails one transaction (StoreError, retried by the next pass) and
    SQLAlchemy then invalidates the pool's older connections ("Disconnect Handling - Optimistic").
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) <= _PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc
            raise


def _enter_wal_mode(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to 30 s (the busy timeout) while the file is locked.

    Where waiting could deadlock, SQLite answers "database is locked" at once instead of calling the
    busy handler; several connections opening one new database file together (replicas starting at the
    same time) hit this about once in seventy tries, and the store failed to open.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def create_store(url: str, *, replica: str | None = None, migrate: bool = True) -> SqlStore:
    """The store for ``url``, migrated to the newest schema (the composition root calls this)."""
    store = SqlStore(url, replica=replica)
    if migrate:
        store.migrate()
    return store


def redacted_url(url: str) -> str:
    """``url`` with its password hidden, for messages and reports."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL and in-memory databases); it need not exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in url:
        return None
    return Path(database).expanduser()


def _script_directory() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def schema_heads() -> tuple[str, ...]:
    """The newest schema revision(s) this version of graph_dpg migrates to."""
    return tuple(_script_directory().get_heads())


def known_revisions() -> frozenset[str]:
    """Every schema revision this version of graph_dpg knows (a database at another was migrated by a
    newer version)."""
    return frozenset(script.revision for script in _script_directory().walk_revisions())
