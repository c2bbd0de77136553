"""Outlook inbox rules, pure matching (domain/inbox_rules.py); JSON shapes from resources/messagerule.md,
messagerulepredicates.md and messageruleactions.md, translated by the Graph adapter."""

from __future__ import annotations

from typing import Any

from graph_dpg.adapters.graph.translate import inbox_rule_from_json
from graph_dpg.domain.inbox_rules import InboxRule, apply_rules, matches, why_not
from graph_dpg.domain.mail import EmailAddress, MailMessage

MAIL = MailMessage(
    subject="Afgørelse om Carport", sender=EmailAddress("0101701234@29189846.ngdp.dk", "Kommunen")
)
BODY = "Kære borger, vedrørende byggetilladelse"


def rule(seq: int, name: str, **data: Any) -> InboxRule:
    return inbox_rule_from_json({"id": name, "displayName": name, "sequence": seq, "isEnabled": True, **data})


def test_contains_ignores_case_as_outlook_does_an_inference() -> None:
    # Outlook's "contains specific words" are case-insensitive (inference: the Graph pages do not say).
    assert matches(rule(1, "a", conditions={"subjectContains": ["CARPORT"]}), MAIL, BODY)
    assert matches(rule(1, "a", conditions={"bodyContains": ["BYGGETILLADELSE"]}), MAIL, BODY)
    assert matches(rule(1, "a", conditions={"bodyOrSubjectContains": ["afgørelse"]}), MAIL, BODY)
    assert matches(rule(1, "a", conditions={"senderContains": ["kommunen"]}), MAIL, BODY)
    assert matches(
        rule(
            1,
            "a",
            conditions={"fromAddresses": [{"emailAddress": {"address": "0101701234@29189846.NGDP.dk"}}]},
        ),
        MAIL,
        BODY,
    )


def test_all_conditions_must_hold_and_no_exception() -> None:
    both = rule(1, "b", conditions={"subjectContains": ["carport"], "bodyContains": ["skat"]})
    assert not matches(both, MAIL, BODY)
    excepted = rule(
        1, "c", conditions={"subjectContains": ["carport"]}, exceptions={"bodyContains": ["borger"]}
    )
    assert not matches(excepted, MAIL, BODY)
    assert matches(rule(1, "d", conditions={"importance": "normal"}), MAIL, BODY)
    assert not matches(rule(1, "e", conditions={"importance": "high"}), MAIL, BODY)


def test_rules_run_in_sequence_order_and_stop_processing_ends_the_run() -> None:
    rules = [
        rule(3, "third", conditions={"subjectContains": ["carport"]}, actions={"assignCategories": ["C"]}),
        rule(
            1,
            "first",
            conditions={"subjectContains": ["carport"]},
            actions={"assignCategories": ["A"], "moveToFolder": "F1"},
        ),
        rule(
            2,
            "second",
            conditions={"subjectContains": ["carport"]},
            actions={
                "assignCategories": ["B"],
                "moveToFolder": "F2",
                "markImportance": "High",
                "stopProcessingRules": True,
            },
        ),
    ]
    outcome = apply_rules(rules, MAIL, BODY)
    assert outcome.rules == ("first", "second")
    assert outcome.categories == ("A", "B") and outcome.folder_id == "F2" and outcome.importance == "high"


def test_a_rule_with_anything_unsupported_is_never_applied_half() -> None:
    half = rule(
        1,
        "half",
        conditions={"subjectContains": ["carport"], "sentToMe": True},
        actions={"assignCategories": ["X"], "forwardTo": [{"emailAddress": {"address": "a@b.dk"}}]},
    )
    assert why_not(half) == ["condition sentToMe is not supported", "action forwardTo is not supported"]
    assert apply_rules([half], MAIL, BODY).rules == ()
    # Fields Graph sends as null or false are not "used" (messagerulepredicates.md lists all as optional).
    plain = rule(
        1, "plain", conditions={"subjectContains": ["carport"], "sentToMe": False, "headerContains": None}
    )
    assert why_not(plain) == []


def test_disabled_rules_do_not_act() -> None:
    off = inbox_rule_from_json(
        {"displayName": "off", "sequence": 1, "isEnabled": False, "actions": {"assignCategories": ["X"]}}
    )
    assert apply_rules([off], MAIL, BODY).rules == ()
