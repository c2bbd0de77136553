"""``graph-dpg memo validate`` / ``memo show`` through the real CLI entry point."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
from memo_factories import EXAMPLES_DIR, make_message

from graph_dpg import memo
from graph_dpg.commands import memo as memo_command
from graph_dpg.domain.conversion import OutboundContext, plan_outbound
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.domain.policies import DEFAULT_POLICIES

FULL_12 = EXAMPLES_DIR / "memo-1.2" / "MeMo_Full_Example.xml"
MINIMUM_11 = EXAMPLES_DIR / "official-1.1" / "MeMo_Minimum_Example.xml"


def main(argv: list[str]) -> int:
    """The memo command alone (the full CLI would import every other command module)."""
    parser = argparse.ArgumentParser(prog="graph-dpg")
    memo_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_memo_command_is_registered_in_the_cli() -> None:
    from graph_dpg.cli import COMMANDS

    assert COMMANDS["memo"] == "graph_dpg.commands.memo"


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_validate_all_valid_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, "good.xml", memo.build(make_message()))
    assert main(["memo", "validate", good, str(MINIMUM_11)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{good}: valid (MeMo 1.2)", f"{MINIMUM_11}: valid (MeMo 1.1)"]


def test_validate_reports_each_file_on_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.xml", memo.build(make_message()))
    bad = _write(tmp_path, "bad.xml", memo.build(make_message(mandatory=True, notification="x" * 161)))
    unsafe = _write(tmp_path, "unsafe.xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    broken = _write(tmp_path, "broken.xml", b"<memo:Message")
    missing = str(tmp_path / "missing.xml")
    assert main(["memo", "validate", good, bad, unsafe, broken, missing]) == 2  # one file cannot be read
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0] == f"{good}: valid (MeMo 1.2)"
    # Beyond the XSD's 160 characters: the schema's error, and the gateway's own cap as a warning.
    assert lines[1].startswith(f"{bad}: INVALID (MeMo 1.2), 2 errors: ")
    assert "[xsd]" in lines[1] and "[mandatory.not-allowed]" in lines[1]
    assert "notification has 161 characters; the gateway itself keeps" in lines[1]
    assert lines[2].startswith(f"{unsafe}: UNSAFE: ")
    assert lines[3].startswith(f"{broken}: INVALID, 1 error: ") and "[xml.well-formed]" in lines[3]
    assert lines[4].startswith(f"{missing}: UNREADABLE: ")


def test_notification_the_xsd_allows_is_valid_in_validate_but_refused_when_the_gateway_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "x" * 155  # the XSD allows 160; the gateway keeps its own to 150
    assert memo.NOTIFICATION_MAX_LENGTH == 150
    path = _write(tmp_path, "m.xml", memo.build(make_message(notification=text)))
    assert main(["memo", "validate", path]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: valid (MeMo 1.2), 1 warning: /Message/MessageHeader/notification: notification has 155 "
        "characters; the gateway itself keeps the notifications it builds to 150 [notification.length]"
    ]

    # The gateway building a letter with that notification (MemoHeader.json) refuses it.
    org = "29189846"
    context = OutboundContext(
        organisation_cvr=org,
        organisation_name="Kommunen",
        gateway_domain="digital-post.dk",
        mailbox_address="post@k.dk",
        mailbox_configured=True,
        allowed_cvrs=frozenset({org}),
        allowed_sender_contact_points=frozenset(),
        policies=DEFAULT_POLICIES,
        internal_domains=frozenset({"k.dk"}),
    )
    header = Attachment("MemoHeader.json", "application/json", json.dumps({"notification": text}).encode())
    letter = MailMessage(
        subject="Brev",
        body="<p>Hej</p>",
        to=[EmailAddress(f"0101701234@{org}.ngdp.digital-post.dk")],
        attachments=[header],
    )
    plan = plan_outbound(letter, context)
    assert [(f.rule, f.severity) for f in plan.errors] == [("notification.length", "error")]
    assert plan.memos == []
    short_header = dataclasses.replace(header, content=b'{"notification": "Nyt brev"}')
    shorter = plan_outbound(dataclasses.replace(letter, attachments=[short_header]), context)
    assert shorter.errors == [] and len(shorter.memos) == 1


def test_validate_organisation_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "m.xml", memo.build(make_message(mandatory=True, legal_notification=True)))
    assert main(["memo", "validate", path]) == 1
    assert main(["memo", "validate", "--mandatory-allowed", "--legal-notification-allowed", path]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{path}: valid (MeMo 1.2)"


def test_validate_masks_cpr_in_findings_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = make_message(recipient=memo.Recipient(recipient_id="221177-1212", id_type="CPR"))
    path = _write(tmp_path, "m.xml", memo.build(message))
    assert main(["memo", "validate", path]) == 1
    out = capsys.readouterr().out
    assert "221177-xxxx" in out and "1212" not in out.replace(str(tmp_path), "")
    assert main(["memo", "validate", "--show-cpr", path]) == 1
    assert "221177-1212" in capsys.readouterr().out


def test_warnings_do_not_fail_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "m.xml", memo.build(make_message(label="Vedr. 2211771212")))
    assert main(["memo", "validate", path]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}: valid (MeMo 1.2), 1 warning: ")
    assert "[notification.personal-data]" in line and "2211771212" not in line


def test_show_summarises_and_masks_cpr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memo", "show", str(FULL_12)]) == 0
    out = capsys.readouterr().out
    assert "MeMo 1.2 DIGITALPOST" in out
    assert "messageUUID: 8C2EA15D-61FB-4BA9-9366-42F8B194C114" in out
    assert "label: Besked fra Børneforvaltningen" in out
    assert "sender: CVR 12345678 'Kommunen'" in out
    assert "representative: CVR 87654321 Repræsentant Kommune" in out
    assert "recipient: CPR 221177-xxxx 'Mette Hansen'" in out
    assert "about person: 251216-xxxx Emilie Hansen" in out
    assert "main document 'Tilbud om børnehaveplads':" in out
    assert "  Pladsanvisning.pdf (application/pdf, da, 14 B)" in out
    assert "action AFTALE: Opret aftale i kalender -> reservation 'Opstart'" in out
    for clear in ("2211771212", "2512169996"):
        assert clear not in out


def test_show_cpr_in_clear_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memo", "show", "--show-cpr", str(FULL_12)]) == 0
    out = capsys.readouterr().out
    assert "recipient: CPR 2211771212 'Mette Hansen'" in out


def test_show_nemsms_and_unmodelled_elements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sms = dataclasses.replace(make_message(message_type="NEMSMS", notification="Hej"), body=None)
    data = memo.build(sms).replace(b"</memo:Recipient>", b'<x:y xmlns:x="urn:x"/></memo:Recipient>')
    path = _write(tmp_path, "sms.xml", data)
    assert main(["memo", "show", path]) == 0
    out = capsys.readouterr().out
    assert "MeMo 1.2 NEMSMS" in out and "notification: Hej" in out
    assert "no message body" in out
    assert "unmodelled elements kept verbatim: 1" in out


def test_show_unreadable_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "x.xml", b"<not-memo/>")
    assert main(["memo", "show", path]) == 2
    assert "not a readable MeMo message" in capsys.readouterr().err
