"""StoreOperations against the real store (SQLite and PostgreSQL): replicas, backlog, rules with hits and
disabled reasons, inbound routing decisions and the unmapped contact points (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph_dpg.adapters.store import create_store
from graph_dpg.ports.store import InboundSource
from graph_dpg.runtime.console import StoreOperations


@pytest.fixture
def store(db_url):
    s = create_store(db_url, replica="r1")
    yield s
    s.close()


def _memo(store, uuid: str, route: dict[str, object]) -> None:
    assert store.store_inbound_memo(uuid, InboundSource.PULL, b"<memo/>")
    assert store.record_inbound_route(uuid, route)


def test_the_overview_lists_replicas_backlog_and_rules_with_why_one_is_off(store):
    store.replica_heartbeat("replica-a")
    store.increment_rule_hits("fakturaer", 7)
    store.disable_rule("for-langsom", "the regular expression ran out of its time budget")
    _memo(store, "m-1", {"mailbox": "post@x.dk"})
    view = StoreOperations(store).overview()
    assert "replica-a" in view.replicas
    assert view.outbox == {"pending": 0, "accepted": 0, "rejected": 0, "failed": 0}
    assert view.inbound_waiting == 1
    by_name = {r.name: r for r in view.rules}
    assert by_name["fakturaer"].hits == 7
    assert by_name["fakturaer"].disabled_reason is None
    assert by_name["for-langsom"].disabled_reason == "the regular expression ran out of its time budget"


def test_inbound_shows_each_routing_decision_and_counts_unmapped_contact_points(store):
    _memo(
        store,
        "m-rule",
        {
            "mailbox": "oekonomi@x.dk",
            "deliver_rule": "fakturaer",
            "rules": ["fakturaer"],
            "reasons": ["title ~ faktura"],
        },
    )
    for uuid in ("m-u1", "m-u2"):
        _memo(
            store,
            uuid,
            {"mailbox": "post@x.dk", "banner": "unmapped", "contact_point": "cp-9", "note": "main"},
        )
    view = StoreOperations(store).inbound()
    rows = {m.memo_uuid: m for m in view.memos}
    assert rows["m-rule"].deliver_rule == "fakturaer"
    assert rows["m-rule"].reasons == ("title ~ faktura",)
    assert rows["m-rule"].mailbox == "oekonomi@x.dk"
    assert view.unmapped == (("cp-9", 2),)


def test_certificates_are_listed_by_expiry_with_the_days_left(store):
    now = datetime(2026, 12, 1, tzinfo=UTC)
    expiring = [
        ("NgDP OCES3 certificate", datetime(2027, 3, 1, tzinfo=UTC)),
        ("S/MIME signing certificate", datetime(2026, 11, 20, tzinfo=UTC)),
    ]
    view = StoreOperations(store, credentials=lambda: expiring, clock=lambda: now).overview()
    assert [(c.what, c.days_left, c.expired) for c in view.credentials] == [
        ("S/MIME signing certificate", -11, True),
        ("NgDP OCES3 certificate", 90, False),
    ]


def test_an_unreadable_certificate_does_not_hide_the_page(store):
    def broken() -> list[tuple[str, datetime]]:
        raise OSError("certificate file gone")

    assert StoreOperations(store, credentials=broken).overview().credentials == ()
