"""The sandbox report's `secure_mail` object for outbound secure mail (docs/sandbox.md): built from what the
Graph emulator saw leave the tenant (its outbound log), so the secure-mail-to-authority scene only needs
adding to the scenario. The S/MIME here is sealed as the gateway seals it; the report reads the
RecipientInfos with pyasn1-modules' RFC 5652 types."""

from __future__ import annotations

import base64
from pathlib import Path

from graph_dpg.demo.player import is_secure_mail, secure_mail_sent, unwrap_secure_address
from graph_dpg.demo.scenario import OutboundMail
from graph_dpg.demo.smime import encrypted, make_demo_pki, plain_mail
from graph_dpg.sandbox.graph import GraphTenant

FUNC = "borgerservice@sandby.dk"


def _scene(to: list[str]) -> OutboundMail:
    return OutboundMail(name="til-styrelsen", mailbox=FUNC, to=to, subject="Sagsakter", expect="sent")


def test_the_address_grammar_unwraps_local_equals_domain_at_sikkermail() -> None:
    assert unwrap_secure_address("post=styrelsen.dk@sikkermail.digital-post.dk") == "post@styrelsen.dk"
    assert unwrap_secure_address("0101801234@12345674.ngdp.digital-post.dk") is None
    assert unwrap_secure_address("kollega@sandby.dk") is None
    assert is_secure_mail(["a@b.dk", "post=styrelsen.dk@sikkermail.digital-post.dk"])


def test_secure_mail_report_lists_recipients_certificates_and_outcome(tmp_path: Path) -> None:
    pki = make_demo_pki(tmp_path, "Sandby Kommune", "12345674")
    tenant = GraphTenant()
    tenant.add_mailbox(FUNC)
    scene = _scene(["post=a-kasse.dk@sikkermail.digital-post.dk"])

    before = secure_mail_sent(tenant, scene, "sending")
    assert before["outcome"] == "pending" and before["messages"] == []

    plain = plain_mail(("Borgerservice", FUNC), ["post@a-kasse.dk"], "Sagsakter", "Hej.", [], "<x@sandby.dk>")
    sealed = encrypted(plain, pki.authority, pki.organisation)
    tenant.send_mime(tenant.mailbox(FUNC), base64.b64encode(sealed))

    report = secure_mail_sent(tenant, scene, "done")
    assert report["recipients"] == ["post@a-kasse.dk"]
    assert report["outcome"] == "sent" and report["unencrypted"] == []
    [message] = report["messages"]
    assert message["to"] == ["post@a-kasse.dk"] and message["smime"] is True
    assert report["certificates"] == [f"serial {pki.authority.cert.serial_number:x}"]


def test_secure_mail_that_left_unencrypted_is_reported_and_not_sent(tmp_path: Path) -> None:
    tenant = GraphTenant()
    tenant.add_mailbox(FUNC)
    plain = plain_mail(("Borgerservice", FUNC), ["post@a-kasse.dk"], "Sagsakter", "Hej.", [], "<y@sandby.dk>")
    tenant.send_mime(tenant.mailbox(FUNC), base64.b64encode(plain))
    report = secure_mail_sent(tenant, _scene(["post=a-kasse.dk@sikkermail.digital-post.dk"]), "done")
    assert report["unencrypted"] == ["post@a-kasse.dk"] and report["outcome"] == "failed"


def test_sources_are_read_back_from_the_receipt_lines_in_either_language() -> None:
    from graph_dpg.demo.player import certificate_sources
    from graph_dpg.domain.texts import Text, text

    def line(language: str, source: Text) -> str:
        return "post@styrelsen.dk: " + text(
            Text.SECURE_SEND_SENT,
            language,
            subject="CN=Styrelsen,O=Styrelsen",
            until="2027-01-01",
            source=text(source, language),
        )

    receipts = [
        "Kvittering\n"
        + line("da", Text.SECURE_SEND_FROM_CONTACTS)
        + "\n"
        + line("da", Text.SECURE_SEND_FROM_FILE),
        line("en", Text.SECURE_SEND_FROM_LDAP),
    ]
    assert certificate_sources(receipts) == ["contacts", "file", "ldap"]
    assert certificate_sources(["nothing sent"]) == []
