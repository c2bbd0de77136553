"""The Alembic revisions shipped in the package build exactly ``schema.metadata``, idempotently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from graph_dpg.adapters.store import (
    SqlStore,
    create_store,
    known_revisions,
    redacted_url,
    schema_heads,
    sqlite_file,
)
from graph_dpg.adapters.store.schema import metadata
from graph_dpg.adapters.store.sql import MIGRATIONS_DIR

# The newest revision: a new migration moves it (and known_revisions below).
HEAD = "0012"


def test_migrations_ship_inside_the_package() -> None:
    names = {p.relative_to(MIGRATIONS_DIR).as_posix() for p in MIGRATIONS_DIR.rglob("*") if p.is_file()}
    assert {
        "env.py",
        "script.py.mako",
        "versions/0001_initial.py",
        "versions/0002_drop_idempotency_keys.py",
        "versions/0003_routes_and_warnings.py",
        "versions/0004_job_attempts.py",
        "versions/0005_outbox_in_flight.py",
        "versions/0006_mass_lines.py",
        "versions/0007_console.py",
        "versions/0008_wakes.py",
        "versions/0009_receipt_updates.py",
        "versions/0010_work_claims.py",
        "versions/0011_inbound_claims.py",
        "versions/0012_graph_budget.py",
    } <= names


def test_the_newest_and_the_known_revisions() -> None:
    assert schema_heads() == (HEAD,)
    assert known_revisions() == {
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
        "0010",
        "0011",
        "0012",
    }


def test_database_urls_for_reports(tmp_path: Path) -> None:
    assert (
        redacted_url("postgresql+psycopg://graph:secret-pw@db/gw") == "postgresql+psycopg://graph:***@db/gw"
    )
    assert sqlite_file(f"sqlite:///{tmp_path / 'gw.db'}") == tmp_path / "gw.db"
    assert sqlite_file("sqlite:///~/gw.db") == Path.home() / "gw.db"
    for elsewhere in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:gw?mode=memory&uri=true",
        "postgresql+psycopg://h/d",
    ):
        assert sqlite_file(elsewhere) is None


def test_migrate_twice_keeps_data_and_matches_the_models(fresh_db_url: str) -> None:
    store = create_store(fresh_db_url)
    try:
        assert store.claim_source_message("mb", "m", None) is True
        store.migrate()
        store.migrate()
        assert store.schema_revision() == HEAD
        assert store.claim_source_message("mb", "m", None) is False
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diffs == []
    finally:
        store.close()


def test_downgrade_and_upgrade_again(fresh_db_url: str) -> None:
    store = create_store(fresh_db_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        assert store.schema_revision() == "0001"
        assert "idempotency_keys" in inspect(store.engine).get_table_names()  # as 0001 made it
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert store.schema_revision() is None
        store.migrate()
        assert store.schema_revision() == HEAD
        assert store.claim_source_message("mb", "m", None) is True  # the tables are back
        assert "idempotency_keys" not in inspect(store.engine).get_table_names()
    finally:
        store.close()


def test_replicas_starting_together_migrate_once(fresh_db_url: str) -> None:
    stores = [SqlStore(fresh_db_url, replica=f"r{i}") for i in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda s: s.migrate(), stores))
        assert {s.schema_revision() for s in stores} == {HEAD}
    finally:
        for s in stores:
            s.close()


def _migrate_to(store: SqlStore, revision: str, *, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_0006_keeps_the_outbox_and_adds_the_mass_line(fresh_db_url: str) -> None:
    """Rows planned before 0006 survive it with no line (their receipts leave Linje empty); rows planned
    after keep the recipient's line in masseforsendelse.txt through a downgrade and upgrade round trip."""
    import uuid

    from graph_dpg.ports.store import OutboundJob, PlannedMemo

    def planned(job_id: str, line: int | None) -> tuple[OutboundJob, list[PlannedMemo]]:
        job = OutboundJob(job_id, "sag@kommune.dk", f"m-{job_id}", None, "Brev", "digitalpost")
        return job, [PlannedMemo(str(uuid.uuid4()), "cpr", "0101701234", memo_xml=b"<M/>", line=line)]

    store = create_store(fresh_db_url)
    try:
        store.plan_job(*planned("new", 7))
        assert [e.line for e in store.list_outbox("new")] == [7]
        _migrate_to(store, "0005", down=True)
        assert store.schema_revision() == "0005"
        columns = {c["name"] for c in inspect(store.engine).get_columns("outbox")}
        assert "mass_line" not in columns and "in_flight_at" in columns
        _migrate_to(store, HEAD, down=False)  # 0006 and the later revisions the code reads
        [kept] = store.list_outbox("new")
        assert (kept.recipient_id, kept.line) == ("0101701234", None)  # the 0005 row: no line known
        store.plan_job(*planned("after", 12_345))
        assert [e.line for e in store.list_outbox("after")] == [12_345]
    finally:
        store.close()


def test_downgrading_past_0003_and_0004_keeps_the_outbox(fresh_db_url: str) -> None:
    """0003 and 0004 drop columns of ``outbound_jobs``; on SQLite Alembic's batch mode would rebuild that
    table, and dropping the old one with foreign keys on deletes every outbox and letter-link row (ON DELETE
    CASCADE). Their downgrades drop the columns in place, as 0009's does; the rows stay."""
    import uuid

    from sqlalchemy import text

    from graph_dpg.ports.store import OutboundJob, PlannedMemo

    store = create_store(fresh_db_url)
    try:
        job = OutboundJob("kept", "sag@kommune.dk", "m-kept", None, "Brev", "digitalpost")
        store.plan_job(job, [PlannedMemo(str(uuid.uuid4()), "cpr", "0101701234", memo_xml=b"<M/>")])
        _migrate_to(store, "0002", down=True)
        assert store.schema_revision() == "0002"
        jobs = {c["name"] for c in inspect(store.engine).get_columns("outbound_jobs")}
        assert not {"warnings", "attempts", "not_before", "sent_at"} & jobs
        assert "route" not in {c["name"] for c in inspect(store.engine).get_columns("inbound_memos")}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM outbound_jobs")).scalar_one() == 1
            assert conn.execute(text("SELECT job_id, recipient_id FROM outbox")).all() == [
                ("kept", "0101701234")
            ]
        _migrate_to(store, HEAD, down=False)
        [entry] = store.list_outbox("kept")
        assert entry.recipient_id == "0101701234"
    finally:
        store.close()
