"""Route planning without I/O: rules → contact point mapping → main mailbox, reply sender choice, invalid memos,
MeMo attached to a mail, unsafe XML."""

from __future__ import annotations

from inbound_memos import CITIZEN, CP_BYG, CP_UNKNOWN, CP_UNMAPPED, ORG_CVR, citizen_memo

from graph_dpg import memo as m
from graph_dpg.domain.mail import Attachment, MailMessage
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition, evaluate_rules
from graph_dpg.services.inbound import (
    ContactPointRoute,
    InboundSettings,
    attached_memo,
    gateway_reply_address,
    invalid_route,
    memo_route,
    memo_rule_item,
    parse_inbound,
    route_banner,
)

KLE_RULE = RoutingRule(
    "kle",
    (RuleCondition.make("memo:kle", "regex", r"^27\."),),
    RuleAction(deliver_mailbox="job@kommune.dk", deliver_folder="Inbox/KLE27", categories=("Job",)),
)
SETTINGS = InboundSettings(
    organisation_cvr=ORG_CVR,
    organisation_name="Sandbox Kommune",
    main_mailbox="post@kommune.dk",
    monitoring_mailbox="it@kommune.dk",
    contact_points={
        CP_BYG: ContactPointRoute(CP_BYG, "Byg", "byg@kommune.dk", "Inbox/Digital Post"),
        CP_UNMAPPED: ContactPointRoute(CP_UNMAPPED, "Nedlagt", None),
    },
    sender_contact_points={"byg@kommune.dk": frozenset({CP_BYG})},
    rules=(KLE_RULE,),
    categories={"inbound": ("DP: Modtaget", "preset5"), "warning": ("DP: Advarsel", "preset1")},
)


def route(**kw: object) -> dict[str, object]:
    _, xml = citizen_memo(**kw)  # type: ignore[arg-type]
    message = m.parse(xml)
    decision = evaluate_rules(SETTINGS.rules, memo_rule_item(SETTINGS, message, xml))
    return memo_route(SETTINGS, message, decision)


def test_rule_beats_mapping_and_adds_categories() -> None:
    r = route(kle="27.10.00", contact_point=CP_BYG)
    assert (r["mailbox"], r["folder"], r["banner"]) == ("job@kommune.dk", "Inbox/KLE27", None)
    assert r["categories"] == ["DP: Modtaget", "Job"]
    assert r["rules"] == ["kle"] and r["deliver_rule"] == "kle"


def test_mapping_with_folder_then_main_mailbox_with_banner() -> None:
    mapped = route(contact_point=CP_BYG)
    assert (mapped["mailbox"], mapped["folder"], mapped["banner"]) == (
        "byg@kommune.dk",
        "Inbox/Digital Post",
        None,
    )
    assert "Byg" in str(mapped["note"])
    for cp in (CP_UNKNOWN, CP_UNMAPPED, None):
        r = route(contact_point=cp)
        assert (r["mailbox"], r["folder"], r["banner"]) == ("post@kommune.dk", "inbox", "unmapped")
        assert r["categories"] == ["DP: Modtaget", "DP: Advarsel"]
    banner = route_banner(SETTINGS, route(contact_point=CP_UNMAPPED))
    assert banner is not None and "Nedlagt" in banner.title


def test_reply_sender_is_the_contact_point_only_for_a_mailbox_that_may_send_as_it() -> None:
    _, xml = citizen_memo(contact_point=CP_BYG)
    message = m.parse(xml)
    assert (
        gateway_reply_address(SETTINGS, message, "byg@kommune.dk")
        == f"{CITIZEN}@{CP_BYG}.ngdp.digital-post.dk"
    )
    assert (
        gateway_reply_address(SETTINGS, message, "job@kommune.dk")
        == f"{CITIZEN}@{ORG_CVR}.ngdp.digital-post.dk"
    )


def test_invalid_and_unsafe_memos() -> None:
    unsafe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    parsed = parse_inbound(unsafe)
    assert not parsed.valid and parsed.errors
    r = invalid_route(SETTINGS, [*parsed.errors])
    assert (r["mailbox"], r["valid"], r["banner"]) == ("post@kommune.dk", False, "invalid")
    _, good = citizen_memo()
    assert parse_inbound(good).valid


def test_memo_attached_to_a_mail_feeds_memo_rules() -> None:
    _, xml = citizen_memo(kle="27.10.00")
    mail = MailMessage(
        subject="Fwd: besked",
        attachments=[
            Attachment("noise.xml", "application/xml", b"<a/>"),
            Attachment("besked.memo.xml", "application/xml", xml),
        ],
    )
    found = attached_memo(mail)
    assert found is not None and found.header.content_data is not None
    assert attached_memo(MailMessage(subject="x")) is None
