"""`graph-dpg sandbox` end to end: a subprocess plays the built-in scenario against both emulators on
127.0.0.1 and writes its report; the report is checked against what the scenario promises."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def sandbox_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="module")
def sandbox_run(sandbox_work: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    work = sandbox_work
    report = work / "r.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPH_DPG_")}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "graph_dpg", "sandbox", "--report", str(report)),
            *("--workdir", str(work / "w"), "--export", str(work / "export" / "mails")),  # created
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return proc, data


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_exits_0_settled_and_everything_as_expected(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    proc, report = sandbox_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report["settled"] is True
    assert all(e["as_expected"] for e in report["outbound"])
    assert "Outbound (Outlook → Digital Post)" in proc.stdout
    assert "200/200 accepted by NgDP" in proc.stdout  # the mass-delivery progress display


def test_no_danish_mail_shows_english_findings_or_raw_codes_and_statuses(
    sandbox_run: tuple[Any, dict[str, Any]], sandbox_work: Path
) -> None:
    # Issue 17's evidence: the sandbox's own report checks every mail the gateway wrote (graph_dpg/demo/words.py).
    proc, report = sandbox_run
    words = report["words"]
    assert words["language"] == "da"
    assert words["passed"] is True, words["problems"]
    exported = {p.name.rsplit(".", 1)[0] for p in (sandbox_work / "export" / "mails").iterdir()}
    assert words["checked"] == len(exported) > 20  # every mail the gateway wrote or delivered
    assert f"Words: {words['checked']} mail(s) the gateway wrote checked" in proc.stdout


def test_ngdp_pushes_with_its_certificate_and_is_accepted(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    # The demo's gateway authenticates NgDP's push by the forwarded client certificate, as in production;
    # a refused push would make the run exit 1 (and leave receipts at NgDP).
    proc, _ = sandbox_run
    assert "NgDP's client certificate via the ingress header" in proc.stdout
    assert "duplicate answer 400-code, MeMo validation on" in proc.stdout
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("NgDP pushed ")]
    assert line.endswith("with its client certificate: all accepted")


def test_accepted_memos_exactly_once(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    _, report = sandbox_run
    out = _by_name(report["outbound"])
    # single + signed letter + reply + contact point + exempt citizen + meeting + 200 mass recipients
    assert report["ngdp"]["accepted"] == 206
    assert report["ngdp"]["duplicates"] == 0
    assert len(out["mass-delivery"]["memos"]) == 200
    assert all(m["accepted_by_ngdp"] and m["xml"] for m in out["mass-delivery"]["memos"])
    reply_xml = out["reply"]["memos"][0]["xml"]
    assert "<memo:reply>true</memo:reply>" in reply_xml
    cp_memo = out["contact-point"]["memos"][0]
    assert cp_memo["recipient_contact_point"] == "5a0b5e4c-3f0e-4b5e-9d52-0c1f6f1d2a01"
    assert "5a0b5e4c-3f0e-4b5e-9d52-0c1f6f1d2a01" in cp_memo["xml"]


def test_invalid_mails_refused_with_error_receipt(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    _, report = sandbox_run
    out = _by_name(report["outbound"])
    for name in ("bad-address", "too-many-attachments", "renamed-exe", "count-mismatch", "memoheader-leak"):
        entry = out[name]
        assert entry["outcome"] == "rejected", name
        assert entry["memos"] == [], name  # nothing was sent
        assert len(entry["receipt_mails"]) == 1, name
        assert entry["categories"] == ["Digital Post: Fejlet"], name
    assert "exe" in out["renamed-exe"]["job_error"] or "program" in out["renamed-exe"]["job_error"]


def test_receipts_and_categories(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    _, report = sandbox_run
    out = _by_name(report["outbound"])
    assert out["single"]["categories"] == ["Digital Post: Kvitteret"]  # the receipt says "Kvitteret" too
    assert out["single"]["memos"][0]["receipt_status"] == "COMPLETED"
    receipt = out["single"]["receipt_mails"][0]
    assert "010180-xxxx" in receipt["text"] and "0101801234" not in receipt["text"]
    mass = out["mass-delivery"]
    assert sorted(m["receipt_status"] for m in mass["memos"]).count("INVALID") == 2
    assert mass["outcome"] == "failed"
    # Issue 17: the failed recipients first, each with its line in masseforsendelse.txt (the scenario's two
    # unregistered people are its first two lines), counts in the status words, every recipient in the CSV.
    for mail in mass["receipt_mails"]:
        assert mail["attachments"] == ["modtagere.csv", "NgDPKvitteringsDetaljerMedFejl.txt"]
        assert "Modtagere: 200. Fejlet: 2. " in mail["text"]
        assert re.findall(r"^(\d+)\s+\d{6}-xxxx\s+Fejlet\b", mail["text"], re.M) == ["1", "2"]
    assert out["exempt-citizen"]["memos"][0]["receipt_status"] == "NOT_ALLOWED"
    names = {c["displayName"] for c in report["master_categories"]["borgerservice@sandby.dk"]}
    assert {"Digital Post: Kvitteret", "Digital Post: Fejlet", "Digital Post: I kø"} <= names
    # Receipt mails carry a category of their own, with a colour in the master list (issue 17).
    colours = {c["displayName"]: c["color"] for c in report["master_categories"]["borgerservice@sandby.dk"]}
    assert colours["Digital Post: Kvittering"] == "preset8"
    for entry in report["outbound"]:
        for mail in entry["receipt_mails"]:
            assert mail["categories"] == ["Digital Post: Kvittering"], entry["name"]


@pytest.mark.parametrize(
    ("name", "total", "failed"),
    [("exempt-citizen", 1, 1), ("mass-delivery", 200, 2)],
)
def test_one_receipt_per_send_and_at_most_one_update(
    sandbox_run: tuple[Any, dict[str, Any]], name: str, total: int, failed: int
) -> None:
    """Issue 17: these two used to get two receipt mails each, the mass delivery's with the same subject,
    the exempt citizen's contradicting each other. Now: one receipt; when NgDP's refusal came after it was
    written, one updated receipt, in its conversation. Which of the two happens depends on whether the
    runtime wrote the receipt before the business receipt was pushed: both are right, neither contradicts."""
    _, report = sandbox_run
    mails = _by_name(report["outbound"])[name]["receipt_mails"]
    updates = [m for m in mails if m["subject"].startswith("DPG opdateret kvittering: ")]
    [first] = [m for m in mails if m not in updates]
    assert len(updates) <= 1
    final = updates[0] if updates else first
    # The last word agrees with its own rows: counts by status word that add up to the total (how many
    # are Kvitteret rather than Sendt depends on when NgDP's business receipts came).
    [summary] = re.findall(rf"Modtagere: {total}\.((?: [A-Za-zæøå ]+: \d+\.)*)", final["text"])
    counts = {word: int(n) for word, n in re.findall(r" ([A-Za-zæøå ]+): (\d+)\.", summary)}
    assert counts.pop("Fejlet") == failed and "I kø" not in counts
    assert set(counts) <= {"Kvitteret", "Sendt"} and sum(counts.values()) == total - failed
    if updates:
        assert "er nu afvist" in updates[0]["text"]
        assert updates[0]["conversation"] == first["conversation"]
    else:
        assert first["subject"].startswith("DPG kvittering med fejl: ")


def test_inbound_memos_landed_with_banner_for_unmapped(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    _, report = sandbox_run
    assert report["inbound_service"] is True
    inbound = _by_name(report["inbound"])
    assert inbound["mapped"]["mailbox"] == "jobcenter@sandby.dk"
    assert inbound["mapped"]["banner"] is None
    unmapped = inbound["unmapped"]
    assert unmapped["mailbox"] == "digitalpost@sandby.dk"
    # the case worker's title names the contact point by name; its id is in the support line only
    assert unmapped["banner"] == (
        "Brevet er sendt til kontaktpunktet Byggesag (nedlagt enhed), som ikke har en postkasse"
    )
    assert "Til it-support: contact point 39b61988-3873-4083-bbb2-7fbe4b4d2127" in unmapped["text"]
    assert inbound["rule-routed"]["mailbox"] == "oekonomi@sandby.dk"
    assert inbound["rule-routed"]["route"]["deliver_rule"] == "Fakturaer til Økonomi"
    assert [r["receiptStatus"] for r in inbound["invalid"]["receipts_sent_to_ngdp"]] == ["INVALID"]
    assert [r["receiptStatus"] for r in inbound["mapped"]["receipts_sent_to_ngdp"]] == ["COMPLETED"]
    assert all(i["deleted_at_ngdp"] for i in report["inbound"] if i["source"] == "pull")
    assert _by_name(report["inbox_mails"])["secure-mail"]["landed_in"] == ["jobcenter@sandby.dk"]


def test_scenario_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "outbound:\n  - name: x\n    mailbox: a@b.dk\n    to: []\n    subjekt: typo\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "graph_dpg", "sandbox", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "subjekt" in proc.stderr and "subject" in proc.stderr


def test_every_inbound_path_is_named_pull_push_and_nothing_is_left(
    sandbox_run: tuple[Any, dict[str, Any]],
) -> None:
    """Entries of `inbound` carry how the memo reached the gateway (docs/sandbox.md)."""
    _, report = sandbox_run
    inbound = _by_name(report["inbound"])
    assert {i["source"] for i in report["inbound"]} <= {"pull", "push", "smime-mail"}
    assert inbound["mapped"]["source"] == "pull"
    pushed = inbound["pushed"]
    assert pushed["source"] == "push" and pushed["pushed_by_ngdp"] is True
    assert pushed["mailbox"] == "jobcenter@sandby.dk" and pushed["as_expected"]
    # a pushed memo is acknowledged by the push's 200 and the receipt; there is nothing to delete at NgDP
    assert pushed["state"] == "acknowledged" and pushed["deleted_at_ngdp"] is False


def test_signed_letter_is_unwrapped_sent_and_the_receipt_names_the_signer_in_danish(
    sandbox_run: tuple[Any, dict[str, Any]],
) -> None:
    _, report = sandbox_run
    signed = _by_name(report["outbound"])["signed-letter"]
    assert signed["signed"] == "clear" and signed["secure_mail"] is None
    assert signed["outcome"] == "sent" and signed["as_expected"]
    [memo] = signed["memos"]
    assert memo["accepted_by_ngdp"] and "bekræftelse.pdf" in memo["xml"]  # the signed content's attachment
    assert "smime.p7m" not in memo["xml"] and "smime.p7s" not in memo["xml"]
    text = signed["receipt_mails"][0]["text"]
    assert "signeret (S/MIME) af Sandby Kommune (Sofie Sagsbehandler, medarbejdercertifikat" in text
    assert "signaturen er gyldig" in text and "employee" not in text
    assert [e["name"] for e in report["outbound"] if e["secure_mail"] is not None] == [
        "secure-mail-to-authority"
    ]


def test_secure_mail_to_the_authority_is_sent_encrypted_to_its_certificate(
    sandbox_run: tuple[Any, dict[str, Any]], sandbox_work: Path
) -> None:
    """Issue 16 (outbound secure mail): the sikkermail address is unwrapped, the mail leaves through Graph
    as S/MIME encrypted to the a-kasse's certificate from the demo's recipient-certificate directory, no
    memo goes to NgDP, and the case worker gets a receipt."""
    from cryptography import x509

    _, report = sandbox_run
    entry = _by_name(report["outbound"])["secure-mail-to-authority"]
    assert entry["outcome"] == "sent" and entry["as_expected"] and entry["job_state"] == "done"
    secure = entry["secure_mail"]
    assert secure["outcome"] == "sent"
    assert secure["recipients"] == ["sikkerpost@a-kasse.dk"] and secure["unencrypted"] == []
    [message] = secure["messages"]
    assert message["to"] == ["sikkerpost@a-kasse.dk"] and message["smime"] is True
    # the certificate used is the one the demo PKI put into the recipient-certificate directory
    cert = x509.load_pem_x509_certificate(
        (sandbox_work / "w" / "smime" / "recipients" / "a-kasse.pem").read_bytes()
    )
    assert secure["certificates"] == message["certificates"] == [f"serial {cert.serial_number:x}"]
    assert secure["sources"] == ["file"]  # found in the directory, named in the receipt
    assert entry["memos"] == [] and len(entry["receipt_mails"]) == 1


def test_memo_forwarded_by_ngdp_as_smime_mail_is_delivered_and_receipted(
    sandbox_run: tuple[Any, dict[str, Any]],
) -> None:
    """Issue 16 (NgDP's SMTP recipient system, docs/facts/ngdp.md "Receiving by SMTP"): the memo NgDP
    mailed encrypted to digitalpost-smtp@ (``digital_post_smtp: rest-receipt`` in the demo gateway file)
    is delivered like a pulled one and answered over REST; nothing was listed for pull."""
    _, report = sandbox_run
    forwarded = _by_name(report["inbound"])["smtp-forwarded"]
    assert forwarded["source"] == "smime-mail"
    assert forwarded["mailbox"] == "jobcenter@sandby.dk" and forwarded["as_expected"]
    assert forwarded["state"] == "acknowledged" and forwarded["subject"] == "Partshøring i sag om ydelse"
    assert f"{forwarded['memo_id']}.memo.xml" in forwarded["attachments"]
    assert [r["receiptStatus"] for r in forwarded["receipts_sent_to_ngdp"]] == ["COMPLETED"]
    assert forwarded["deleted_at_ngdp"] is False  # never listed for pull, so never deleted there


def test_secure_inbox_mails_carry_their_smime_verdict(sandbox_run: tuple[Any, dict[str, Any]]) -> None:
    _, report = sandbox_run
    mails = _by_name(report["inbox_mails"])
    assert mails["secure-mail"]["smime"] is None  # plain mail
    opened = mails["encrypted-secure-mail"]
    assert opened["landed_in"] == ["jobcenter@sandby.dk"] and opened["as_expected"]
    smime = opened["smime"]
    assert smime["encrypted"] is True and smime["readable"] is True and smime["problem"] is None
    assert smime["encrypted_to"].startswith("Sandby Kommune (") and "CVR 12345674" in smime["encrypted_to"]
    assert smime["signer"].startswith("Sandby A-kasse (") and "organisationscertifikat" in smime["signer"]
    assert smime["verdict"] == "valid"
    refused = mails["undecryptable-secure-mail"]
    assert refused["landed_in"] == ["digitalpost@sandby.dk"] and refused["as_expected"]
    assert "Digital Post: Advarsel" in refused["categories"]
    assert refused["smime"]["readable"] is False and refused["smime"]["problem"] == "no-key"
    assert refused["smime"]["encrypted"] is True and refused["smime"]["verdict"] is None
    assert refused["smime"]["banner"]


EXPORT_NAME = re.compile(
    r"^(?P<item>[a-z0-9-]+?)-(?P<n>\d+)-"
    r"(?P<kind>receipt|receipt-update|post|post-part|archive-copy|secure-mail|alert|mail)\.(?:eml|html)$"
)


def test_the_meeting_invitation_is_sent_as_a_letter_with_an_aftale_action(
    sandbox_run: tuple[Any, dict[str, Any]], sandbox_work: Path
) -> None:
    # MeMo_core.xsd Action/Reservation: the citizen can add the appointment to a calendar.
    _, report = sandbox_run
    meeting = _by_name(report["outbound"])["meeting"]
    assert meeting["outcome"] == "sent" and meeting["categories"] == ["Digital Post: Kvitteret"]
    [memo] = meeting["memos"]  # the citizen only: the booked room gets no letter
    assert memo["recipient"] == "CPR 0101801234" and memo["accepted_by_ngdp"]
    xml = memo["xml"]
    assert "<memo:actionCode>AFTALE</memo:actionCode>" in xml
    assert "<memo:startDateTime>2026-12-15T09:00:00Z</memo:startDateTime>" in xml  # 10.00 Danish time
    assert "Jobcentret, mødelokale 3" in xml and "moedelokale3" not in xml  # the room is left alone
    assert (sandbox_work / "export" / "mails" / "meeting-1-receipt.html").exists()


def test_export_writes_every_mail_as_eml_and_html(
    sandbox_run: tuple[Any, dict[str, Any]], sandbox_work: Path
) -> None:
    proc, report = sandbox_run
    export = sandbox_work / "export" / "mails"
    names = sorted(p.name for p in export.iterdir())
    stems = {name.rsplit(".", 1)[0] for name in names}
    assert names == sorted(f"{stem}.{ext}" for stem in stems for ext in ("eml", "html"))
    assert f"exported {len(stems)} mail(s) as .eml and .html: {export}" in proc.stdout
    items = {e["name"] for e in report["outbound"] + report["inbound"] + report["inbox_mails"]}
    kinds: dict[str, set[str]] = {}
    for name in names:
        match = EXPORT_NAME.match(name)
        assert match is not None, name
        assert match["item"] in items | {"monitoring"}, name  # every mail mapped to its scenario item
        kinds.setdefault(match["item"], set()).add(match["kind"])
    assert "receipt" in kinds["single"]
    assert "receipt" in kinds["too-many-attachments"]  # an error receipt
    assert kinds["unmapped"] == {"post"}  # delivered post with the unmapped-contact-point banner
    assert "alert" in kinds["monitoring"]
    assert "secure-mail" in kinds["encrypted-secure-mail"]  # opened: decrypted content, allowed here
    # Every outgoing item that got receipt mails in the report has them exported, one file per mail.
    for entry in report["outbound"]:
        exported = [n for n in names if n.startswith(f"{entry['name']}-") and "-receipt" in n]
        assert len(exported) == 2 * len(entry["receipt_mails"]), entry["name"]


@pytest.fixture(scope="module")
def exported(sandbox_run: tuple[Any, dict[str, Any]], sandbox_work: Path) -> Path:
    """The --export directory of the module's sandbox run (not empty)."""
    export = sandbox_work / "export" / "mails"
    assert sorted(export.glob("*.html")), sandbox_run[0].stdout[-2000:]
    return export


def test_every_exported_eml_parses_with_its_parts(exported: Path) -> None:
    export = exported
    for path in sorted(export.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert message["Subject"] and message["Date"] and message["Message-ID"], path.name
        assert message.defects == [], path.name
        body = message.get_body(preferencelist=("html", "plain"))
        assert body is not None, path.name
        files = [part.get_filename() for part in message.iter_attachments()]
        # A sent S/MIME mail is its smime.p7m (RFC 8551 3.3): no readable body in the stored item.
        assert body.get_content().strip() or "smime.p7m" in files, path.name
        assert body.get_content_charset() == "utf-8", path.name
    single = email.message_from_bytes(
        (export / "single-1-receipt.eml").read_bytes(), policy=email.policy.default
    )
    assert isinstance(single, EmailMessage)
    assert "Afgørelse om parkeringstilladelse" in str(single["Subject"])


def test_every_exported_html_is_a_complete_document_declaring_its_charset(exported: Path) -> None:
    export = exported
    for path in sorted(export.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!doctype html>\n"), path.name
        head = text[: text.index("</head>")]
        assert '<meta charset="utf-8">' in head, path.name
        assert "<title>" in head and text.rstrip().endswith("</html>"), path.name
        assert "cid:" not in text, path.name  # inline images are data: URIs: the page stands alone


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs the system's chromium and chromedriver (apt-get install chromium chromium-driver); "
    "no browser is downloaded at run time",
)
def test_exported_pages_render_in_headless_chromium(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_download(*_: object, **__: object) -> None:
        raise AssertionError("selenium-manager was invoked: it would look for or download a driver")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_download)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    export = exported
    seen = ""
    try:
        for page in sorted(export.glob("*.html")):
            eml = email.message_from_bytes(page.with_suffix(".eml").read_bytes(), policy=email.policy.default)
            driver.get(page.as_uri())
            assert driver.execute_script("return document.characterSet") == "UTF-8", page.name
            assert driver.title.split() == str(eml["Subject"]).split(), page.name
            text = driver.execute_script("return document.body.innerText")
            assert text.strip(), page.name
            assert not any(bad in text for bad in ("Ã¦", "Ã¸", "Ã¥", "Ã˜", "\ufffd")), page.name  # mojibake
            seen += text
    finally:
        driver.quit()
    assert all(letter in seen for letter in "æøå")  # the Danish letters render as themselves
