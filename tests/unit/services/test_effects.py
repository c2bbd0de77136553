"""The one way to do a remote write once: typed keys, plan, run, find-or-create by marker, complete."""

from __future__ import annotations

from typing import Any

import pytest

from graph_dpg.core.errors import GraphDpgError, TransientError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import AuditEntry, EffectState
from graph_dpg.services.boundary import ItemFailures, Reason, Stage
from graph_dpg.services.effects import (
    Completed,
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


class CountingEffects(FakeEffects):
    """The fake, counting the batched commits (``complete_effects``) and the single ones, and keeping the
    subjects of the audit records written with them."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[list[str]] = []
        self.singles = 0
        self.audited: list[str] = []

    def _append_audit(self, entry: AuditEntry | None) -> None:
        if entry is not None:
            self.audited.append(entry.subject)

    def complete_effects(self, completions: Any) -> set[str]:
        self.commits.append([key for key, _, _ in completions])
        return super().complete_effects(completions)

    def complete_effect(self, key: str, result: Any = None, *, audit: AuditEntry | None = None) -> bool:
        self.singles += 1
        return super().complete_effect(key, result, audit=audit)


async def test_a_batched_run_commits_its_completions_together_with_their_audit_records() -> None:
    store = CountingEffects()
    book = EffectBook(store)
    for job in ("a", "b", "c", "d", "e"):
        await book.plan(EffectKey.receipt(job), {"job": job})

    async def action(effect: PlannedEffect) -> Completed:
        job = str(effect.payload["job"])
        return Completed({"written": job}, AuditEntry("test.written", job))

    done = await book.run_pending(EffectKind.RECEIPT, action=action, batch=2)
    assert [str(e.key) for e, _ in done] == [f"receipt:{j}" for j in "abcde"]
    assert store.commits == [["receipt:a", "receipt:b"], ["receipt:c", "receipt:d"], ["receipt:e"]]
    assert store.singles == 0
    assert store.audited == list("abcde")
    assert await book.pending(EffectKind.RECEIPT) == []


async def test_a_batched_run_leaves_a_failing_effect_planned_and_completes_the_others() -> None:
    store = CountingEffects()
    book = EffectBook(store)
    for job in ("ok", "fails", "later", "ok2"):
        await book.plan(EffectKey.receipt(job), {"job": job})

    async def action(effect: PlannedEffect) -> dict[str, object] | None:
        if effect.payload["job"] == "fails":
            raise TransientError("graph 503")
        return None if effect.payload["job"] == "later" else {"written": True}

    done = await book.run_pending(EffectKind.RECEIPT, action=action, batch=50, on_error=lambda e, x: None)
    assert [str(e.key) for e, _ in done] == ["receipt:ok", "receipt:ok2"]
    assert store.commits == [["receipt:ok", "receipt:ok2"]]
    assert [str(e.key) for e in await book.pending(EffectKind.RECEIPT)] == ["receipt:fails", "receipt:later"]


async def test_a_crash_before_a_batch_is_committed_repeats_its_actions_once_in_outcome() -> None:
    store, mail = CountingEffects(), FakeMailbox()
    book = EffectBook(store)
    for job in ("j1", "j2", "j3"):
        await book.plan(EffectKey.receipt(job), {"job": job})

    async def write(effect: PlannedEffect) -> dict[str, object]:
        async def build() -> MailMessage:
            return MailMessage(subject=f"Kvittering {effect.key}")

        marker = Marker("DpgReceiptFor", str(effect.key))
        return (await marker.find_or_create(mail, "sag@kommune.dk", "inbox", build)).result()

    store.fail_next("complete_effects", SystemExit("killed after the actions, before their commit"))
    with pytest.raises(SystemExit):
        await book.run_pending(EffectKind.RECEIPT, action=write, batch=50)
    assert len(mail.messages) == 3 and len(await book.pending(EffectKind.RECEIPT)) == 3

    done = await book.run_pending(EffectKind.RECEIPT, action=write, batch=50)  # the restart
    assert [r.get("reused") for _, r in done] == [True, True, True]
    assert len(mail.messages) == 3 and await book.pending(EffectKind.RECEIPT) == []


async def test_a_read_through_the_book_sees_the_held_completions_of_a_batched_run() -> None:
    """An action that waits for another effect of its page to be DONE (an updated receipt for the receipt
    before it) finds it done: the read commits what the run holds back first."""
    store = CountingEffects()
    book = EffectBook(store)
    await book.plan(EffectKey.receipt("j1"), {"job": "j1"})
    await book.plan(EffectKey.receipt_update("j1", 1), {"job": "j1"})
    seen: list[bool] = []

    async def action(effect: PlannedEffect) -> dict[str, object] | None:
        if effect.key.update_generation is None:
            return {"written": True}
        seen.append(await book.is_done(EffectKey.receipt("j1")))
        return {"update": True} if seen[-1] else None

    done = await book.run_pending(EffectKind.RECEIPT, action=action, batch=50)
    assert seen == [True] and len(done) == 2
    assert store.commits == [["receipt:j1"], ["receipt:j1:update:1"]]


async def test_first_attempts_are_noted_for_a_page_and_answer_true_once() -> None:
    book = EffectBook(FakeEffects())
    keys = [EffectKey.receipt("j1"), EffectKey.receipt("j2")]
    for key in keys:
        await book.plan(key, {})
    assert await book.first_attempt(keys[1]) is True
    assert await book.first_attempts(keys) == {keys[0]}  # j2's attempt was noted before
    assert await book.first_attempts(keys) == set()
    assert await book.first_attempt(keys[0]) is False
    assert await book.first_attempts([]) == set()
