"""Rule engine: precedence, all/any, exceptions, operators, multi-valued fields, explanations, timeouts."""

from __future__ import annotations

import time

import pytest

from graph_dpg.domain.rules import (
    AttachmentText,
    InboundItem,
    RoutingRule,
    RuleAction,
    RuleCondition,
    RuleDefinitionError,
    evaluate_rule,
    evaluate_rules,
)

C = RuleCondition.make


def rule(name: str, *conds: RuleCondition, priority: int = 100, **kw: object) -> RoutingRule:
    action = kw.pop("action", RuleAction(deliver_mailbox=f"{name}@kommune.dk"))
    return RoutingRule(name, tuple(conds), action, priority=priority, **kw)  # type: ignore[arg-type]


ITEM = InboundItem(
    kind="mail",
    subject="Kvittering: Afgørelse 0101701234",
    body="Hej\nDin ansøgning er modtaget.",
    from_=("noreply@virk.dk", "Virk"),
    original_from=("borger@example.org",),
    to=("post@kommune.dk",),
    recipients=("post@kommune.dk", "kopi@kommune.dk"),
    headers=(("X-Priority", "1"), ("Received", "a"), ("Received", "b")),
    attachments=(
        AttachmentText("data.json", '{"receiptStatus": "COMPLETED"}'),
        AttachmentText("scan.pdf", None),
    ),
    memo={"kle": "02.00.00", "sender_id_type": "CPR", "legal_notification": "false"},
)


def test_priority_then_file_order_first_deliver_to_wins() -> None:
    rules = [
        rule("late", C("subject", "contains", "kvittering"), priority=50),
        rule("early", C("subject", "contains", "kvittering"), priority=10),
        rule("tie", C("subject", "contains", "kvittering"), priority=50),
    ]
    d = evaluate_rules(rules, ITEM)
    assert [t.rule.name for t in d.traces] == ["early", "late", "tie"]
    assert d.deliver_mailbox == "early@kommune.dk"
    assert d.deliver_rule == "early"
    assert d.matched_rules == ("early", "late", "tie")
    assert any("ignored" in n and "late" in n for n in d.notes)


def test_stop_ends_evaluation_and_actions_accumulate() -> None:
    rules = [
        rule(
            "tag", C("from", "equals", "NOREPLY@VIRK.DK"), action=RuleAction(categories=("Virk",)), priority=1
        ),
        rule(
            "read",
            C("from", "contains", "virk"),
            action=RuleAction(mark_read=True, archive_to="Arkiv@kommune.dk", stop=True),
            priority=2,
        ),
        rule("never", C("subject", "exists"), priority=3),
    ]
    d = evaluate_rules(rules, ITEM)
    assert d.categories == ("Virk",)
    assert d.mark_read is True
    assert d.archive_to == ("arkiv@kommune.dk",)
    assert d.deliver_mailbox is None
    assert d.traces[2].skipped is not None and "stopped" in d.traces[2].skipped


def test_all_versus_any() -> None:
    yes = C("subject", "contains", "afgørelse")
    no = C("body", "contains", "afslag")
    assert evaluate_rule(rule("all", yes, no), ITEM).matched is False
    assert evaluate_rule(rule("any", no, yes, match="any"), ITEM).matched is True
    assert evaluate_rule(rule("all2", yes, C("to", "equals", "post@kommune.dk")), ITEM).matched is True


def test_exception_cancels_a_match_and_is_explained() -> None:
    r = rule("virk", C("from", "contains", "virk"), exceptions=(C("header:X-Priority", "equals", "1"),))
    trace = evaluate_rule(r, ITEM)
    assert trace.matched is False
    assert trace.excepted_by is not None
    text = "\n".join(trace.explain())
    assert "cancelled by exception" in text and "header:X-Priority" in text


@pytest.mark.parametrize(
    ("cond", "held"),
    [
        (C("subject", "equals", "kvittering: afgørelse 0101701234"), True),
        (C("subject", "equals", "kvittering: afgørelse 0101701234", case_sensitive=True), False),
        (C("subject", "contains", "AFGØRELSE"), True),
        (C("subject", "contains", "AFGØRELSE", case_sensitive=True), False),
        (C("body", "regex", r"^din ansøgning"), False),  # no MULTILINE: ^ is the start of the text
        (C("body", "regex", r"(?m)^din ansøgning"), True),
        (C("header:received", "equals", "b"), True),  # any value of a repeated header
        (C("header:X-Missing", "exists"), False),
        (C("header:x-priority", "exists"), True),
        (C("recipients", "equals", "kopi@kommune.dk"), True),
        (C("to", "equals", "kopi@kommune.dk"), False),
        (C("original_from", "contains", "borger@"), True),
        (C("attachment_name", "regex", r"\.pdf$"), True),
        (C("attachment_content", "contains", '"receiptStatus": "COMPLETED"'), True),
        (C("attachment_content", "contains", "pdf-text"), False),  # binary attachments have no text
        (C("memo:kle", "equals", "02.00.00"), True),
        (C("memo:case_id", "exists"), False),
        (C("memo:legal_notification", "equals", "false"), True),
    ],
)
def test_operators_and_fields(cond: RuleCondition, held: bool) -> None:
    trace = evaluate_rule(rule("r", cond), ITEM)
    assert trace.matched is held, cond.describe()


def test_matched_values_in_explanations_are_cpr_masked() -> None:
    d = evaluate_rules([rule("cpr", C("subject", "regex", r"\d{10}"))], ITEM)
    text = "\n".join(d.explain())
    assert "0101701234" not in text
    assert "010170-xxxx" in text
    assert d.reasons() == [r"cpr: subject regex '\d{10}'"]


def test_disabled_rules_are_skipped_and_named() -> None:
    rules = [rule("off", C("subject", "exists"), enabled=False), rule("auto", C("subject", "exists"))]
    d = evaluate_rules(rules, ITEM, disabled={"auto"})
    assert d.matched == ()
    assert [t.skipped for t in d.traces] == [
        "disabled in the gateway file",
        "disabled automatically (took too long earlier)",
    ]


def test_bad_regex_is_a_clear_error() -> None:
    with pytest.raises(RuleDefinitionError, match="does not compile"):
        C("subject", "regex", "(unclosed")


def test_catastrophic_regex_is_abandoned_within_the_budget() -> None:
    body = "a" * 50_000 + "!"
    item = InboundItem(kind="mail", body=body)
    started = time.monotonic()
    d = evaluate_rules(
        [rule("evil", C("body", "regex", r"(a+)+$")), rule("ok", C("body", "contains", "!"))],
        item,
        timeout=0.2,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 5  # without the timeout this runs for ages
    assert [t.rule.name for t in d.timed_out] == ["evil"]
    assert d.deliver_rule == "ok"  # the other rules still route the item
    assert "disabled" in "\n".join(d.explain())


def test_slow_rule_without_regex_times_out_by_clock() -> None:
    ticks = iter([0.0, 10.0, 10.0, 10.0])
    trace = evaluate_rule(rule("slow", C("subject", "exists")), ITEM, timeout=5, clock=lambda: next(ticks))
    assert trace.timed_out is True
    assert trace.matched is False
