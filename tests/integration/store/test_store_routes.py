"""Inbound routes and planning warnings are kept with their rows (not as effects), on SQLite and PostgreSQL,
and rows written before the columns existed read as "not recorded"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store import schema as t
from graph_dpg.adapters.store.sql import MIGRATIONS_DIR
from graph_dpg.core.errors import StoreError
from graph_dpg.ports.store import InboundSource, JobState, OutboundJob, PlannedMemo


def _job(job_id: str, warnings: tuple[str, ...] = ()) -> OutboundJob:
    return OutboundJob(
        id=job_id,
        mailbox="sag@kommune.dk",
        message_id=f"AAMk-{job_id}",
        internet_message_id=None,
        subject="Hej",
        channel="digitalpost",
        warnings=warnings,
    )


def _memo() -> PlannedMemo:
    return PlannedMemo(str(uuid.uuid4()), "cpr", "0101701234", memo_xml=b"<Message/>")


def test_the_first_route_is_kept_and_only_a_replace_changes_it(store: SqlStore) -> None:
    assert store.store_inbound_memo("m-1", InboundSource.PULL, b"<x/>")
    stored = store.get_inbound("m-1")
    assert stored is not None and stored.route is None
    first = {"mailbox": "byg@kommune.dk", "folder": "inbox", "rules": ["kle"], "note": "Kontaktpunkt → byg"}
    assert store.record_inbound_route("m-1", first) is True
    assert store.record_inbound_route("m-1", {"mailbox": "other@kommune.dk"}) is False
    stored = store.get_inbound("m-1")
    assert stored is not None and stored.route == first
    fallback = {**first, "mailbox": "post@kommune.dk", "banner": "undeliverable"}
    assert store.record_inbound_route("m-1", fallback, replace=True) is True
    [listed] = store.inbound_in_state(stored.state)
    assert listed.route == fallback


def test_a_route_for_an_unknown_memo_is_an_error(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="unknown inbound memo"):
        store.record_inbound_route("nope", {"mailbox": "x"})


def test_planning_keeps_the_warnings_with_the_job(store: SqlStore) -> None:
    assert store.create_job(_job("j-1"))  # created without warnings: poll knows none yet
    assert store.plan_job(_job("j-1", ("attachment a.docx converted",)), [_memo()])
    planned = store.get_job("j-1")
    assert planned is not None and planned.state is JobState.PLANNED
    assert planned.warnings == ("attachment a.docx converted",)
    # Planned without a "new" row first (one transaction inserts both) keeps them too.
    assert store.plan_job(_job("j-2", ("w1", "w2")), [_memo()])
    again = store.get_job("j-2")
    assert again is not None and again.warnings == ("w1", "w2")


def test_rows_from_before_the_upgrade_read_as_not_recorded(db_url: str) -> None:
    """Migrate to 0001, write rows as that version did, upgrade: the new columns are empty, not junk."""
    store = SqlStore(db_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        now = datetime.now(UTC)
        with store.engine.begin() as conn:
            conn.execute(
                insert(t.outbound_jobs).values(
                    id="old",
                    mailbox="sag@kommune.dk",
                    message_id="AAMk-old",
                    subject="Hej",
                    channel="digitalpost",
                    state="done",
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                insert(t.inbound_memos).values(
                    memo_uuid="old-memo",
                    source="pull",
                    raw=b"<x/>",
                    size=4,
                    state="received",
                    attempts=0,
                    received_at=now,
                    updated_at=now,
                )
            )
        store.migrate()
        assert store.schema_revision() == "0012"
        job = store.get_job("old")
        memo = store.get_inbound("old-memo")
        assert job is not None and job.warnings == ()
        assert (job.attempts, job.not_before) == (0, None)
        assert memo is not None and memo.route is None
        assert store.record_inbound_route("old-memo", {"mailbox": "post@kommune.dk"}) is True
    finally:
        store.close()
