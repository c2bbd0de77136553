"""Findings in words (issue 17, "Receipts"): every rule code the gateway can report has a sentence in the
catalogue, in Danish and English, naming the file and the recipient as the sender wrote them; the codes go
only in the one support line at the end of a receipt."""

from __future__ import annotations

import ast
import csv
import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph_dpg.core.errors import Finding
from graph_dpg.domain.conversion import OutboundContext, plan_outbound
from graph_dpg.domain.finding_text import WORDED_PREFIXES, finding_key, finding_sentence, support_line
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.domain.mass import parse_mass_file
from graph_dpg.domain.policies import DEFAULT_POLICIES, check_attachments
from graph_dpg.domain.receipts import render_error_receipt
from graph_dpg.domain.texts import CATALOGUE, Text

PACKAGE = Path(__file__).resolve().parents[3] / "graph_dpg"
ORG = "29189846"
GW = "ngdp.digital-post.dk"


def _module_strings(tree: ast.Module) -> dict[str, set[str]]:
    """Every name assigned in the module → the string constants in what it is assigned."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            strings = {
                c.value
                for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            }
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, set()).update(strings)
    return out


_CODE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+")


def _rule_codes() -> tuple[set[str], set[str]]:
    """The rule codes given to ``Finding(...)`` in the package, and the f-string prefixes of computed ones."""
    trees = {p: ast.parse(p.read_text("utf-8")) for p in PACKAGE.rglob("*.py")}
    constants: dict[str, set[str]] = {}
    for tree in trees.values():
        for name, values in _module_strings(tree).items():
            constants.setdefault(name, set()).update(values)
    codes: set[str] = set()
    prefixes: set[str] = set()
    for tree in trees.values():
        local = _module_strings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding"):
                continue
            arg = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "rule"), None)
            )
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                codes.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id.isupper():
                codes |= constants.get(arg.id, set())
            elif isinstance(arg, ast.Name):
                # e.g. rule = "a.b" if ... else "a.c" (rule codes have a dot; other strings there do not)
                codes |= {c for c in local.get(arg.id, set()) if "." in c}
            elif isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
                # e.g. _ID_RULE[kind], a table of rule constants
                table = next(
                    n.value
                    for n in ast.walk(tree)
                    if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == arg.value.id for t in n.targets)
                )
                for name in (n.id for n in ast.walk(table) if isinstance(n, ast.Name) and n.id.isupper()):
                    codes |= {c for c in constants.get(name, set()) if _CODE.fullmatch(c)}
            elif isinstance(arg, ast.JoinedStr):
                head = arg.values[0]
                prefixes.add(head.value if isinstance(head, ast.Constant) else "")
    return codes, prefixes


CODES, PREFIXES = _rule_codes()


def test_the_scan_finds_the_rule_codes_of_the_issue() -> None:
    assert {"policy.type.executable", "cpr.date", "policy.count", "mass.identifier", "xsd"} <= CODES
    assert len(CODES) > 60


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_rule_code_has_a_sentence(code: str) -> None:
    assert code.startswith(WORDED_PREFIXES) or finding_key(code) is not None, code


def test_computed_rule_codes_are_worded_where_they_are_found() -> None:
    assert PREFIXES and all(p.startswith(WORDED_PREFIXES) for p in PREFIXES), PREFIXES


def test_every_finding_sentence_belongs_to_a_rule_the_code_uses() -> None:
    keys = {k.value.removeprefix("finding.") for k in Text if k.value.startswith("finding.")}
    assert keys - CODES == set()


def test_the_sentences_carry_no_rule_code_and_no_zero_based_index() -> None:
    dotted = sorted((c for c in CODES if "." in c), key=len, reverse=True)
    pattern = re.compile(r"\[\d+\]|" + "|".join(re.escape(c) for c in dotted))
    for key in Text:
        if key.value.startswith("finding."):
            for words in (CATALOGUE[key].da, CATALOGUE[key].en):
                assert not pattern.search(words.replace("MemoHeader.json", "")), (key, words)


def _exe() -> Attachment:
    return Attachment("faktura.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 200)


def test_an_executable_is_named_by_its_file_name_in_danish_and_english() -> None:
    [finding] = check_attachments(DEFAULT_POLICIES[next(iter(DEFAULT_POLICIES))], [_exe()])
    assert finding.rule == "policy.type.executable"
    da, en = finding_sentence(finding, "da"), finding_sentence(finding, "en")
    assert da.startswith("Filen 'faktura.pdf' er et program eller et script") and "Fjern filen" in da
    assert en.startswith("The file 'faktura.pdf' is a program or a script")
    for words in (da, en):
        assert "attachments[0]" not in words and "x-msdownload" not in words and "refused" not in words


def ctx() -> OutboundContext:
    return OutboundContext(
        organisation_cvr=ORG,
        organisation_name="Kommunen",
        gateway_domain="digital-post.dk",
        mailbox_address="post@k.dk",
        mailbox_configured=True,
        allowed_cvrs=frozenset({ORG}),
        allowed_sender_contact_points=frozenset(),
        policies=DEFAULT_POLICIES,
        internal_domains=frozenset({"k.dk"}),
        created=datetime(2026, 11, 22, 12, tzinfo=UTC),
    )


def test_a_cpr_with_no_date_names_the_recipient_as_written_masked() -> None:
    msg = MailMessage(subject="Brev", body="<p>Hej</p>", to=[EmailAddress(f"1234561234@{ORG}.{GW}")])
    plan = plan_outbound(msg, ctx())
    [finding] = [f for f in plan.findings if f.rule == "cpr.date"]
    da = finding_sentence(finding, "da")
    assert da.startswith("123456-xxxx@") and "ikke en dato (DDMMÅÅ)" in da and "Ret CPR-nummeret" in da
    assert "1234561234" not in da and "month" not in da


def test_mass_lines_are_named_by_their_line_number() -> None:
    mass = parse_mass_file(b"0101701234\n1234561234\n0101701234\n")
    sentences = [finding_sentence(f, "da") for f in mass.findings]
    assert sentences[0].startswith("Linje 2 i masseforsendelse.txt: 123456-xxxx")
    assert sentences[1].startswith("Linje 3 i masseforsendelse.txt: 010170-xxxx står også på linje 1")


def test_a_finding_stored_without_parameters_gets_the_general_sentence() -> None:
    old = Finding("policy.count", "11 attachments; ngdp accepts at most 10", "attachments")
    assert finding_sentence(old, "da") == finding_sentence(Finding("error", ""), "da")
    assert "ngdp" not in finding_sentence(old, "da")
    # A warning an earlier version recorded as text only: the text is all there is.
    assert finding_sentence(Finding("warning", "a|b.pdf: renamed"), "da") == "a|b.pdf: renamed"


def test_the_support_line_names_each_code_once_in_order() -> None:
    findings = [Finding("cpr.date", ""), Finding("policy.count", ""), Finding("cpr.date", "")]
    assert support_line(findings, "da") == "Support: cpr.date, policy.count"
    assert support_line([], "en") == ""


def test_the_error_receipt_of_the_issue_reads_as_sentences() -> None:
    findings = [
        *check_attachments(DEFAULT_POLICIES[next(iter(DEFAULT_POLICIES))], [_exe()]),
        *plan_outbound(
            MailMessage(subject="Brev", body="<p>Hej</p>", to=[EmailAddress(f"1234561234@{ORG}.{GW}")]), ctx()
        ).findings,
    ]
    for language in ("da", "en"):
        body = html.unescape(render_error_receipt("Brev", findings, language=language).html)
        main, _, support = body.rpartition("Support:")
        assert "policy.type.executable" not in main and "cpr.date" not in main
        assert "policy.type.executable" in support and "cpr.date" in support
        assert "'faktura.pdf'" in main and "123456-xxxx@" in main


# ----------------------------------------------------------------------------- every receipt kind, both languages
NGDP_TOKENS = re.compile(r"\b(NOT_ALLOWED|INVALID|RECEIVED|COMPLETED)\b")


def _all_findings() -> list[Finding]:
    """One finding per catalogue sentence, its placeholders filled, its English message a marker."""
    from graph_dpg.domain.texts import placeholders

    out = []
    for key in Text:
        if key.value.startswith("finding."):
            rule = key.value.removeprefix("finding.")
            params = dict.fromkeys(placeholders(CATALOGUE[key].da), "7")
            severity = "warning" if rule in {"filename.empty", "address.duplicate", "html.depth"} else "error"
            # "error" and "warning" with text only are how earlier versions recorded findings: shown as is.
            message = "" if rule in {"error", "warning"} else f"ENGLISH-{rule} is not accepted"
            out.append(Finding(rule, message, "attachments[0]", severity, params))
    return out


def _receipts(language: str) -> list[str]:
    from graph_dpg.domain.receipts import (
        FAILURE_DETAILS_NAME,
        RecipientLine,
        RecipientStatus,
        render_failure_receipt,
        render_receipt,
    )

    s = RecipientStatus
    rows = [
        RecipientLine("010170-xxxx", s.ACCEPTED, "u1"),
        RecipientLine("020170-xxxx", s.COMPLETED, "u2"),
        RecipientLine("030170-xxxx", s.RECEIVED, "u3"),
        RecipientLine("040170-xxxx", s.REJECTED, "u4", ngdp_status="NOT_ALLOWED"),
        RecipientLine("050170-xxxx", s.REJECTED, "u5", ngdp_status="INVALID"),
        RecipientLine("060170-xxxx", s.PENDING, "u6"),
    ]
    findings = _all_findings()
    warnings = [f for f in findings if f.severity == "warning"]
    mails = [
        render_receipt("Brev", rows, language=language),
        render_receipt("Brev", rows, language=language, warnings=warnings),
        render_receipt("Masse", rows * 50, language=language),  # over the table's limit: files attached
        render_error_receipt("Brev", findings, language=language),
        render_failure_receipt("Brev", "x", "ref-1", rows, language=language),
    ]
    out = []
    for mail in mails:
        out.append(html.unescape(mail.html))
        for name, data in mail.attachments:
            content = data.decode("utf-8-sig")
            # The recipient lists end in a support column (NgDP's status or error, for IT): the words are
            # the columns before it.
            if name.endswith(".csv"):
                content = "\r\n".join(",".join(row[:-1]) for row in csv.reader(io.StringIO(content)))
            elif name == FAILURE_DETAILS_NAME:
                content = "\r\n".join(line.rpartition("\t")[0] for line in content.split("\r\n"))
            out.append(content)
    return out


@pytest.mark.parametrize("language", ["da", "en"])
def test_no_rendered_receipt_shows_a_code_a_status_token_or_an_english_finding(language: str) -> None:
    dotted = sorted((c for c in CODES if "." in c), key=len, reverse=True)
    codes = re.compile("|".join(re.escape(c) for c in dotted))
    english = {CATALOGUE[k].en for k in Text if k.value.startswith("finding.")} - {
        CATALOGUE[k].da for k in Text if k.value.startswith("finding.")
    }
    for rendered in _receipts(language):
        main = rendered.rpartition("Support:")[0] or rendered
        assert not codes.search(main.replace("masseforsendelse.txt", "").replace("MemoHeader.json", ""))
        assert not NGDP_TOKENS.search(main) and "receipt:" not in main
        assert "ENGLISH-" not in rendered and "attachments[0]" not in rendered
        if language == "da":
            shown = [e.split(" {")[0] for e in english if e.split(" {")[0] and e.split(" {")[0] in main]
            assert shown == [] and "Recipients:" not in main and "Failed" not in main
