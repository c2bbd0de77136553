"""The pure part of secure mail to external recipients (domain/secure_send.py)."""

from __future__ import annotations

from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.domain.secure_send import (
    is_secure_send,
    plan_secure_send,
    readdress,
    recipient_set_digest,
    secure_message_id,
)

GW = "digital-post.dk"


def _mail(
    to: list[str], cc: tuple[str, ...] | list[str] = (), bcc: tuple[str, ...] | list[str] = ()
) -> MailMessage:
    return MailMessage(
        subject="s",
        to=[EmailAddress(a) for a in to],
        cc=[EmailAddress(a) for a in cc],
        bcc=[EmailAddress(a) for a in bcc],
    )


def test_targets_are_the_unwrapped_addresses_in_to_and_cc() -> None:
    msg = _mail(
        ["post=kommune.dk@sikkermail.digital-post.dk"], cc=["A=B=firma.dk@SIKKERMAIL.digital-post.dk"]
    )
    plan = plan_secure_send(msg, GW)
    assert plan.errors == []
    assert plan.to == ("post@kommune.dk",) and plan.cc == ("A=B@firma.dk",)
    assert plan.targets == ("post@kommune.dk", "a=b@firma.dk")
    assert is_secure_send(msg, GW)


def test_mixed_bcc_and_malformed_are_errors_naming_the_address() -> None:
    plan = plan_secure_send(
        _mail(
            ["post=kommune.dk@sikkermail.digital-post.dk", "1234567890@29189846.ngdp.digital-post.dk"],
            cc=["x@sikkermail.digital-post.dk"],
            bcc=["y=z.dk@sikkermail.digital-post.dk"],
        ),
        GW,
    )
    rules = sorted(f.rule for f in plan.errors)
    assert rules == ["securemail.address", "securemail.bcc", "securemail.mixed.gateway"]
    assert any("1234567890@29189846.ngdp.digital-post.dk" in f.message for f in plan.errors)
    assert not is_secure_send(_mail(["1234567890@29189846.ngdp.digital-post.dk"]), GW)


def test_the_message_id_depends_on_the_mail_and_the_recipient_set_only() -> None:
    a = secure_message_id("job1", ["x@a.dk", "Y@b.dk"], GW)
    assert a == secure_message_id("job1", ["y@b.dk", "x@a.dk"], GW)
    assert a != secure_message_id("job1", ["x@a.dk"], GW)
    assert a != secure_message_id("job2", ["x@a.dk", "y@b.dk"], GW)
    assert a.startswith("<") and a.endswith("@sikkermail.digital-post.dk>")
    assert recipient_set_digest(["A@b.dk"]) == recipient_set_digest(["a@b.dk"])


def test_readdress_replaces_recipients_and_message_id_and_keeps_the_rest() -> None:
    mime = (
        b"From: Borgerservice <bs@kommune.dk>\r\nTo: post=kommune.dk@sikkermail.digital-post.dk,\r\n"
        b" other=x.dk@sikkermail.digital-post.dk\r\nBcc: hidden@x.dk\r\nSubject: =?utf-8?q?S=C3=B8?=\r\n"
        b"Message-ID: <old@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej\r\nTo: not a header\r\n"
    )
    out = readdress(mime, ["post@kommune.dk", "other@x.dk"], [], "<new@sikkermail.digital-post.dk>")
    head, body = out.split(b"\r\n\r\n", 1)
    assert body == b"Hej\r\nTo: not a header\r\n"
    assert b"To: post@kommune.dk, other@x.dk" in head
    assert b"sikkermail" not in head.replace(b"<new@sikkermail.digital-post.dk>", b"")
    assert b"Bcc" not in head and b"<old@x>" not in head
    assert b"Subject: =?utf-8?q?S=C3=B8?=" in head and b"From: Borgerservice <bs@kommune.dk>" in head
