"""The one way to do a remote write once: typed keys, plan, run, find-or-create by marker, complete."""

from __future__ import annotations

import pytest

from graph_dpg.core.errors import GraphDpgError, TransientError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import EffectState
from graph_dpg.services.boundary import ItemFailures, Reason, Stage
from graph_dpg.services.effects import (
    EffectBook,
    EffectKey,
    EffectKind,
    Marker,
    PlannedEffect,
)
from tests.fakes import FakeEffects, FakeMailbox


def test_keys_keep_the_text_earlier_versions_stored() -> None:
    assert str(EffectKey.receipt("j1")) == "receipt:j1"
    assert str(EffectKey.receipt("j1", business=True)) == "receipt:j1:business"
    assert str(EffectKey.category("j1", "sent")) == "categories:j1:sent"
    assert str(EffectKey(EffectKind.MAIL_ROUTE, "<a:b@x.dk>")) == "mailroute:<a:b@x.dk>"
    assert str(EffectKey(EffectKind.RULE_ALERT, "Regel: 1:2026-01-01T00:00:00+00:00")) == (
        "rulealert:Regel: 1:2026-01-01T00:00:00+00:00"
    )
    for key in (
        EffectKey.category("j1", "sent"),
        EffectKey(EffectKind.MAIL_ROUTE, "<a:b@x.dk>"),
        EffectKey(EffectKind.ALERT, "x"),
    ):
        assert EffectKey.parse(str(key)) == key
    # Kinds this version does not carry out are not parsed into one it does.
    assert EffectKey.parse("warnings:j1") is None
    assert EffectKey.parse("inbound:m1") is None
    assert EffectKey.parse("receipt") is None


async def test_pending_lists_only_the_asked_kinds_oldest_first_and_is_not_starved() -> None:
    store = FakeEffects()
    book = EffectBook(store)
    for i in range(300):  # another service's backlog, planned first
        store.plan_effect(f"mailroute:<{i}@x>", {})
    await book.plan(EffectKey.category("j1", "queued"), {"n": 1})
    await book.plan(EffectKey.receipt("j1"), {"n": 2})
    await book.plan(EffectKey.category("j1", "sent"), {"n": 3})
    assert await book.plan(EffectKey.receipt("j1"), {"n": 99}) is False  # planning again is a no-op
    pending = await book.pending(EffectKind.RECEIPT, EffectKind.CATEGORY, limit=10)
    assert [str(e.key) for e in pending] == ["categories:j1:queued", "receipt:j1", "categories:j1:sent"]
    assert [e.payload["n"] for e in pending] == [1, 2, 3]
    assert len(await book.pending(EffectKind.MAIL_ROUTE, limit=10)) == 10


async def test_run_pending_completes_done_ones_and_leaves_failed_and_deferred_ones_planned() -> None:
    book = EffectBook(FakeEffects())
    for job in ("ok", "fails", "later"):
        await book.plan(EffectKey.receipt(job), {"job": job})
    errors: list[str] = []

    async def action(effect: PlannedEffect) -> dict[str, object] | None:
        if effect.payload["job"] == "fails":
            raise TransientError("graph 503")
        if effect.payload["job"] == "later":
            return None  # its precondition does not hold yet
        return {"written": effect.payload["job"]}

    def on_error(effect: PlannedEffect, exc: GraphDpgError) -> None:
        errors.append(f"{effect.key}: {exc}")

    done = await book.run_pending(EffectKind.RECEIPT, action=action, on_error=on_error)
    assert [(str(e.key), r) for e, r in done] == [("receipt:ok", {"written": "ok"})]
    assert len(errors) == 1 and errors[0].startswith("receipt:fails:") and "graph 503" in errors[0]
    assert await book.is_done(EffectKey.receipt("ok"))
    assert [str(e.key) for e in await book.pending(EffectKind.RECEIPT)] == ["receipt:fails", "receipt:later"]


async def test_settle_records_an_effect_as_done_without_doing_it() -> None:
    book = EffectBook(FakeEffects())
    key = EffectKey(EffectKind.ALERT, "expiry:cert:2027-01-01:14")
    await book.settle(key, {"days": 9}, {"superseded_by": 7})
    effect = await book.get(key)
    assert effect is not None and effect.state is EffectState.DONE and effect.result == {"superseded_by": 7}
    assert await book.pending(EffectKind.ALERT) == []


async def test_find_or_create_creates_once_and_finds_its_earlier_result() -> None:
    mail = FakeMailbox()
    built: list[int] = []

    async def build() -> MailMessage:
        built.append(1)
        return MailMessage(subject="Kvittering")

    marker = Marker("DpgReceiptFor", "receipt:j1")
    first = await marker.find_or_create(mail, "sag@kommune.dk", "inbox", build)
    again = await marker.find_or_create(mail, "sag@kommune.dk", "inbox", build)
    assert first.created and not again.created and again.message_id == first.message_id
    assert built == [1]  # not even rendered again
    assert first.result() == {"message_id": first.message_id}
    assert again.result() == {"message_id": first.message_id, "reused": True}
    [stored] = mail.in_folder("sag@kommune.dk", "inbox")
    assert stored.properties == {"DpgReceiptFor": "receipt:j1"}
    other = await Marker("DpgReceiptFor", "receipt:j2").find_or_create(mail, "sag@kommune.dk", "inbox", build)
    assert other.created and len(mail.in_folder("sag@kommune.dk", "inbox")) == 2


async def test_a_crash_between_the_write_and_its_completion_does_not_write_twice() -> None:
    store, mail = FakeEffects(), FakeMailbox()
    book = EffectBook(store)
    key = EffectKey.receipt("j1")
    await book.plan(key, {"job": "j1"})

    async def write(effect: PlannedEffect) -> dict[str, object]:
        async def build() -> MailMessage:
            return MailMessage(subject="Kvittering")

        marker = Marker("DpgReceiptFor", str(effect.key))
        return (await marker.find_or_create(mail, "sag@kommune.dk", "inbox", build)).result()

    def die() -> None:
        raise SystemExit("killed after the create, before the store recorded it")

    mail.fail_after_create = die
    with pytest.raises(SystemExit):
        await book.run_pending(EffectKind.RECEIPT, action=write)
    assert not await book.is_done(key) and len(mail.messages) == 1

    mail.fail_after_create = None  # the restart
    [(_, result)] = await book.run_pending(EffectKind.RECEIPT, action=write)
    assert result["reused"] is True and len(mail.messages) == 1
    assert await book.is_done(key)


async def test_an_action_that_raises_something_unexpected_closes_that_effect_and_the_others_go_on() -> None:
    store = FakeEffects()
    failures = ItemFailures()
    book = EffectBook(store, failures=failures, stage=Stage.INBOUND_MAIL)
    for job in ("poison", "ok"):
        await book.plan(EffectKey.receipt(job), {"job": job})

    async def action(effect: PlannedEffect) -> dict[str, object]:
        if effect.payload["job"] == "poison":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return {"done": True}

    done = await book.run_pending(EffectKind.RECEIPT, action=action)
    assert [(str(e.key), dict(r)) for e, r in done][1] == ("receipt:ok", {"done": True})
    poison = store.get_effect("receipt:poison")
    assert poison is not None and poison.state is EffectState.DONE and poison.result is not None
    assert str(poison.result["failed"]).startswith("UnicodeEncodeError: 'utf-8' codec can't encode")
    assert failures.counts()[(Stage.INBOUND_MAIL, Reason.INTERNAL_ERROR)] == 1
    assert await book.run_pending(EffectKind.RECEIPT, action=action) == []  # not tried again
