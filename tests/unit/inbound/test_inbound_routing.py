"""Route planning without I/O: rules → contact point mapping → main mailbox, reply sender choice, invalid memos,
MeMo attached to a mail, unsafe XML."""

from __future__ import annotations

from inbound_memos import CITIZEN, CP_BYG, CP_UNKNOWN, CP_UNMAPPED, ORG_CVR, PDF, citizen_memo

from graph_dpg import memo as m
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.domain.routing import (
    ContactPointRoute,
    InboundRoute,
    InboundSettings,
    attached_memo,
    gateway_reply_address,
    invalid_route,
    mail_item,
    memo_item,
    memo_route,
    memo_rule_item,
    parse_inbound,
    route_banner,
)
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition, evaluate_rules

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


def route(**kw: object) -> InboundRoute:
    _, xml = citizen_memo(**kw)  # type: ignore[arg-type]
    message = m.parse(xml)
    decision = evaluate_rules(SETTINGS.rules, memo_rule_item(SETTINGS, message, xml))
    return memo_route(SETTINGS, message, decision)


def test_rule_beats_mapping_and_adds_categories() -> None:
    r = route(kle="27.10.00", contact_point=CP_BYG)
    assert (r.mailbox, r.folder, r.banner) == ("job@kommune.dk", "Inbox/KLE27", None)
    assert r.categories == ("DP: Modtaget", "Job")
    assert r.rules == ("kle",) and r.deliver_rule == "kle"


def test_mapping_with_folder_then_main_mailbox_with_banner() -> None:
    mapped = route(contact_point=CP_BYG)
    assert (mapped.mailbox, mapped.folder, mapped.banner) == (
        "byg@kommune.dk",
        "Inbox/Digital Post",
        None,
    )
    assert "Byg" in mapped.note
    for cp in (CP_UNKNOWN, CP_UNMAPPED, None):
        r = route(contact_point=cp)
        assert (r.mailbox, r.folder, r.banner) == ("post@kommune.dk", "inbox", "unmapped")
        assert r.categories == ("DP: Modtaget", "DP: Advarsel")
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
    assert (r.mailbox, r.valid, r.banner) == ("post@kommune.dk", False, "invalid")
    assert r.errors and all(isinstance(e, str) for e in r.errors)
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


def test_memo_item_exposes_memo_fields_and_texts() -> None:
    uid, xml = citizen_memo()
    item = memo_item(
        m.parse(xml), xml, from_address="x@29189846.ngdp.digital-post.dk", to=("byg@kommune.dk",)
    )
    assert item.memo["sender_id"] == CITIZEN
    assert item.memo["recipient_contact_point"] == CP_BYG
    assert item.memo["kle"] == "02.00.00"
    assert item.memo["case_id"] == "SAG-2024-17"
    assert item.memo["message_uuid"] == uid
    assert "mandatory" not in item.memo  # absent in MeMo 1.2 → not there
    assert "Hej kommune" in item.body
    assert f"{uid}.memo.xml" in [a.name for a in item.attachments]
    assert item.values("from")[0].startswith("x@")


def test_mail_item_reads_headers_text_attachments_and_original_sender() -> None:
    mail = MailMessage(
        subject="Kvittering",
        body="<p>Se vedhæftet</p>",
        sender=EmailAddress("noreply@virk.dk", "Virk"),
        to=[EmailAddress("post@kommune.dk")],
        cc=[EmailAddress("kopi@kommune.dk")],
        headers=[Header("X-Original-From", "borger@example.org")],
        attachments=[
            Attachment("kvittering.json", "application/json", b'{"receiptStatus":"COMPLETED"}'),
            Attachment("scan.pdf", "application/pdf", PDF),
        ],
    )
    item = mail_item(mail)
    assert item.body.strip() == "Se vedhæftet"
    assert item.original_from == ("borger@example.org",)
    assert item.recipients == ("post@kommune.dk", "kopi@kommune.dk")
    assert item.attachments[0].text == '{"receiptStatus":"COMPLETED"}'
    assert item.attachments[1].text is None


def test_route_json_round_trips_including_a_fallback() -> None:
    routed = route(kle="27.10.00", contact_point=CP_BYG)
    assert InboundRoute.from_json(routed.to_json()) == routed
    fallback = routed.fall_back(SETTINGS, "mailbox job@kommune.dk refused: 403 for 010203-1234")
    assert (fallback.mailbox, fallback.folder, fallback.banner) == (
        "post@kommune.dk",
        "inbox",
        "undeliverable",
    )
    assert fallback.undeliverable is not None and fallback.undeliverable.mailbox == "job@kommune.dk"
    assert "010203-1234" not in fallback.undeliverable.error
    assert fallback.categories == ("DP: Modtaget", "Job", "DP: Advarsel") and fallback.archive_to == ()
    assert fallback.rules == routed.rules  # what the rules decided stays on record
    assert InboundRoute.from_json(fallback.to_json()) == fallback
    banner = route_banner(SETTINGS, fallback)
    assert banner is not None and "job@kommune.dk" in banner.title


def test_routes_stored_by_the_previous_version_are_read_alike() -> None:
    """The earlier version stored plain dicts with fewer keys; a memo routed before an upgrade keeps its route."""
    invalid = {
        "mailbox": "post@kommune.dk",
        "folder": "inbox",
        "valid": False,
        "banner": "invalid",
        "rules": [],
        "categories": ["DP: Modtaget", "DP: Advarsel"],
        "errors": ["xml.unsafe: DTD"],
    }
    r = InboundRoute.from_json(invalid)
    assert (r.valid, r.banner, r.errors, r.contact_point, r.undeliverable) == (
        False,
        "invalid",
        ("xml.unsafe: DTD",),
        None,
        None,
    )
    fallback = {
        "mailbox": "post@kommune.dk",
        "folder": "inbox",
        "valid": True,
        "banner": "undeliverable",
        "contact_point": CP_BYG,
        "rules": ["kle"],
        "deliver_rule": "kle",
        "reasons": ["kle: memo:kle ~ 27"],
        "note": "",
        "categories": ["DP: Modtaget", "DP: Advarsel"],
        "mark_read": True,
        "archive_to": [],
        "failed_mailbox": "job@kommune.dk",
        "failed_folder": "Inbox/KLE27",
        "failed_error": "403",
    }
    f = InboundRoute.from_json(fallback)
    assert f.undeliverable is not None and (f.undeliverable.mailbox, f.undeliverable.folder) == (
        "job@kommune.dk",
        "Inbox/KLE27",
    )
    assert f.mark_read and f.rules == ("kle",) and f.reasons == ("kle: memo:kle ~ 27",)
    assert InboundRoute.from_json({}).valid  # nothing recorded: a valid memo, as before
