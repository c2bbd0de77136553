"""The hostile-input corpus, MeMo XML and routing rules (issue 10).

MeMo files (``memo/<kind>/``): ``graph_dpg.memo.parse``/``validate``, the NgDP emulator's reader, the
``graph-dpg memo validate`` command, and the inbound service end to end: every file reaches NgDP's queue
(pull) or the push receiver, and ``InboundService.run_once`` delivers each exactly once to the main mailbox,
the invalid ones with the explanation banner and an INVALID receipt.

Rules (``rules/catastrophic/``): gateway-file rule snippets with catastrophic regular expressions, evaluated
against long generated texts; a timed-out rule is abandoned, disabled and alerted on, and the item is still
delivered. Whether a case times out must not depend on the machine: a ``timed_out`` case's work is thousands
of times its budget, and the other cases get the gateway's default budget (see the manifest).
"""

from __future__ import annotations

import base64
import contextlib
import html
import sys
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from corpus_lib import ROOT, Case, cases

from graph_dpg import memo as memolib
from graph_dpg.adapters.digital_post.push import create_push_app
from graph_dpg.cli import main as cli_main
from graph_dpg.core.errors import ConfigError, MemoError, UnsafeXmlError
from graph_dpg.domain.rules import (
    DEFAULT_RULE_TIMEOUT_SECONDS,
    AttachmentText,
    InboundItem,
    RoutingDecision,
    evaluate_rules,
)
from graph_dpg.ports.store import InboundState
from graph_dpg.sandbox.ngdp.memo_check import MemoSummaryError, summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from inbound.harness import BYG, MAIN, MONITOR, Harness, make_harness, settings

from inbound_memos import citizen_memo  # isort: skip  (on sys.path via the harness)

MEMO_CASES = cases(ROOT / "memo")
RULE_CASES = cases(ROOT / "rules")
PUSH_TOKEN = "corpus-push-secret"
BUDGET = 0.2  # seconds per rule and item in the inbound service
CATASTROPHIC_BUDGET = 0.05  # a timed_out case's budget: its work is thousands of times longer
HANG = 30.0  # a rule evaluation still running after this is a hang, whatever the machine's speed


def test_the_memo_corpus_covers_every_kind() -> None:
    kinds = {c.kind: 0 for c in MEMO_CASES}
    for c in MEMO_CASES:
        kinds[c.kind] += 1
    assert set(kinds) == {"unsafe", "schema", "rules", "valid"}
    assert len(MEMO_CASES) >= 60
    assert len(RULE_CASES) >= 10


# ------------------------------------------------------------------------------------------ parse/validate


def _messages(findings: list[memolib.Finding]) -> str:
    return "\n".join(str(f) for f in findings)


@pytest.mark.parametrize("case", MEMO_CASES, ids=lambda c: c.id)
def test_memo_parse_and_validate(case: Case) -> None:
    data = case.file.read_bytes()
    e = case.expect
    outcome = e["expect"]
    said = ""
    if outcome == "unsafe":
        with pytest.raises(UnsafeXmlError) as parse_exc:
            memolib.parse(data)
        with pytest.raises(UnsafeXmlError):
            memolib.validate(data)
        with pytest.raises(MemoSummaryError):  # the NgDP emulator refuses it too
            summarize(data)
        said = str(parse_exc.value)
    elif outcome == "malformed":
        with pytest.raises(MemoError) as exc:
            memolib.parse(data)
        assert not isinstance(exc.value, UnsafeXmlError)
        findings = memolib.validate(data)
        assert [f.rule for f in findings] == ["xml.well-formed"]
        said = str(exc.value) + _messages(findings)
    elif outcome == "invalid":
        findings = memolib.validate(data)
        errors = [f for f in findings if f.severity == "error"]
        assert errors, "expected findings"
        assert set(e["rules"]) <= {f.rule for f in errors}, _messages(findings)
        with contextlib.suppress(MemoError):  # may or may not be readable into the model; never another error
            memolib.parse(data)
        said = _messages(findings)
    else:
        assert outcome == "valid", outcome
        assert memolib.validate(data) == []
        parsed = memolib.parse(data)
        assert parsed.header.message_uuid
        said = parsed.header.label or ""
    for fragment in e.get("absent", []):
        assert fragment not in said


def test_memo_validate_command_reports_every_file(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(c.file) for c in MEMO_CASES]
    code = cli_main(["memo", "validate", *paths])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(out) == len(paths)
    for case, line in zip(MEMO_CASES, out, strict=True):
        assert line.startswith(f"{case.file}: ")
        verdict = line[len(str(case.file)) + 2 :]
        expected = {"unsafe": "UNSAFE", "valid": "valid", "invalid": "INVALID", "malformed": "INVALID"}
        assert verdict.startswith(expected[case.expect["expect"]]), line


def _huge_memo(content_b64_bytes: int, tail: bytes = b"") -> bytes:
    """A valid MeMo with one ~``content_b64_bytes`` base64 attachment, generated (never committed)."""
    _, xml = citizen_memo(contact_point=None, attachments=0, body_html="<p>Stor fil</p>")
    chunk = base64.b64encode(b"%PDF-1.4\n" + b"\x00" * 3_000_000)
    payload = chunk * -(-content_b64_bytes // len(chunk)) + tail  # whole chunks: no padding inside
    doc = (
        b"<memo:AdditionalDocument><memo:label>Stor</memo:label><memo:File>"
        b"<memo:encodingFormat>application/pdf</memo:encodingFormat><memo:filename>stor.pdf</memo:filename>"
        b"<memo:language>da</memo:language><memo:content>" + payload + b"</memo:content></memo:File>"
        b"</memo:AdditionalDocument></memo:MessageBody>"
    )
    return xml.replace(b"</memo:MessageBody>", doc, 1)


def test_huge_base64_parses_and_validates() -> None:
    xml = _huge_memo(40_000_000)
    assert len(xml) > 40_000_000
    assert memolib.validate(xml) == []
    parsed = memolib.parse(xml)
    [big] = [f for f in parsed.files() if f.filename == "stor.pdf"]
    assert len(big.content) > 29_000_000
    assert summarize(xml).size == len(xml)


def test_huge_base64_with_a_bad_character_at_the_end_is_a_finding() -> None:
    xml = _huge_memo(20_000_000, tail=b"!!!!")
    assert "xsd" in {f.rule for f in memolib.validate(xml)}


# ------------------------------------------------------------------------------------------ inbound service


@pytest.fixture
async def inbound(db_url: str) -> AsyncIterator[Harness]:
    """On SQLite and on PostgreSQL (``db_url`` from tests/conftest.py)."""
    h = make_harness(db_url)
    h.ngdp.validate_memos = False
    async with h.mailbox:
        yield h
    h.store.close()


async def _push(h: Harness, memo_id: str, data: bytes) -> int:
    app = create_push_app(h.store.push_sink(), PUSH_TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        r = await c.post(
            "/memos",
            files={"file": (f"{memo_id}.xml", data, "application/xml")},
            headers={"Authorization": f"Bearer {PUSH_TOKEN}"},
        )
    return r.status_code


async def test_inbound_delivers_every_memo_once_and_explains_the_invalid(inbound: Harness) -> None:
    h = inbound
    ids: dict[str, tuple[str, str]] = {}  # case id -> (memo id, "pull" | "push")
    refused: list[str] = []
    for case in MEMO_CASES:
        data = case.file.read_bytes()
        try:
            summarize(data)
            readable = True
        except MemoSummaryError:
            readable = False
        if readable and summarize(data).message_uuid not in {m for m, _ in ids.values()}:
            ids[case.id] = (h.ngdp.queue_inbound_memo(data), "pull")
        else:  # NgDP itself would not hold it; the push receiver must cope with anything
            memo_id = str(uuid.uuid4())
            status = await _push(h, memo_id, data)
            if not data:  # nothing to store: refused, so NgDP keeps it and delivers again
                assert status == 400
                refused.append(case.id)
                continue
            assert status == 200
            ids[case.id] = (memo_id, "push")
    assert refused == ["schema/empty.xml"]

    stats = await h.service().run_once()
    assert stats.errors == [], stats.errors
    assert stats.delivered == len(ids)

    delivered = h.messages(MAIN)
    problems = []
    for case in MEMO_CASES:
        if case.id in refused:
            continue
        memo_id, source = ids[case.id]
        row = h.store.get_inbound(memo_id)
        if row is None or row.state not in (InboundState.ACKNOWLEDGED, InboundState.DELETED):
            problems.append(f"{case.id}: not acknowledged ({row.state if row else 'not stored'})")
            continue
        mine = [
            m
            for m in delivered
            if any(a["name"].lower().startswith(memo_id.lower()) for a in m.get("attachments", []))
        ]
        if len(mine) != 1:
            problems.append(f"{case.id}: delivered {len(mine)} times")
            continue
        body = html.unescape(mine[0]["body"]["content"])
        valid = case.expect.get("inbound", case.expect["expect"]) == "valid"
        if valid == ("dpg-invalid" in body):
            problems.append(f"{case.id}: explanation banner {'present' if valid else 'missing'}")
        for fragment in case.expect.get("delivered_absent", []):
            if fragment in mine[0]["body"]["content"]:
                problems.append(f"{case.id}: {fragment!r} delivered")
        if "root:" in body:
            problems.append(f"{case.id}: /etc/passwd content delivered")
        if source == "pull":
            statuses = [r["receiptStatus"] for r in h.ngdp.inbound_receipts(memo_id)]
            if statuses != ["COMPLETED" if valid else "INVALID"]:
                problems.append(f"{case.id}: receipts {statuses}")
    assert problems == [], "\n".join(problems)

    again = await h.service().run_once()
    assert (again.pulled, again.delivered, again.errors) == (0, 0, [])
    assert len(h.messages(MAIN)) == len(delivered)


# ------------------------------------------------------------------------------------------ rules


def _text(spec: dict[str, Any]) -> str:
    return str(spec["repeat"]) * int(spec["times"]) + str(spec.get("suffix", ""))


def _rules_text(case: Case) -> str:
    return textwrap.indent(case.file.read_text(encoding="utf-8"), "  ")


def _evaluate(case: Case) -> RoutingDecision:
    s = settings(_rules_text(case))
    text = _text(case.expect["text"])
    if case.expect["field"] == "attachment_content":
        item = InboundItem("mail", subject="Bilag", attachments=(AttachmentText("data.txt", text),))
    elif case.expect["field"] == "subject":
        item = InboundItem("mail", subject=text)
    else:
        item = InboundItem("mail", subject="Lang tekst", body=text)
    [rule] = [r for r in s.rules if r.priority == 1]
    budget = CATASTROPHIC_BUDGET if case.expect["expect"] == "timed_out" else DEFAULT_RULE_TIMEOUT_SECONDS
    result: list[RoutingDecision] = []
    worker = threading.Thread(
        target=lambda: result.append(evaluate_rules([rule], item, timeout=budget)), daemon=True
    )
    worker.start()
    worker.join(HANG)
    assert not worker.is_alive(), f"{case.id}: rule evaluation hangs"
    return result[0]


@pytest.mark.parametrize("case", RULE_CASES, ids=lambda c: c.id)
def test_catastrophic_rules_never_hang(case: Case) -> None:
    expect = case.expect["expect"]
    if expect == "config_error":
        with pytest.raises(ConfigError) as exc:
            settings(_rules_text(case))
        assert any(case.expect["text"] in p for p in exc.value.problems), exc.value.problems
        return
    decision = _evaluate(case)
    [trace] = decision.traces
    assert trace.timed_out is (expect == "timed_out")
    assert [t.rule.name for t in decision.timed_out] == ([trace.rule.name] if expect == "timed_out" else [])
    if expect != "timed_out":
        assert trace.matched is (expect == "matched")


async def test_catastrophic_rules_in_the_inbound_service(tmp_path: Path) -> None:
    """The service cases' rules together in one gateway file: each is disabled with one alert; the memo is
    delivered once, to where the other rules and the mapping say; a second memo is routed normally."""
    chosen = [c for c in RULE_CASES if c.expect.get("service")]
    extra = "".join(_rules_text(c) for c in chosen)
    h = make_harness(f"sqlite:///{tmp_path / 'rules.db'}", extra, rule_timeout_seconds=BUDGET)
    async with h.mailbox:
        body = "<p>" + "a" * 50_000 + "!</p><p>" + "x" * 50_000 + "</p>"
        _, xml = citizen_memo(label="Langt brev", contact_point=None, body_html=body)
        h.ngdp.queue_inbound_memo(xml)
        stats = await h.service().run_once()
        assert stats.errors == []
        assert sorted(stats.rules_disabled) == sorted(
            next(r.name for r in h.settings.rules if r.priority == 1 and c.file.stem in _slug(r.name))
            for c in chosen
        )
        assert stats.delivered == 1
        assert [m["subject"] for m in h.messages(MAIN)] == ["Langt brev"]
        alerts = h.messages(MONITOR)
        assert len(alerts) == len(chosen)

        _, second = citizen_memo(label="Næste brev", contact_point=None, body_html=body)
        h.ngdp.queue_inbound_memo(second)
        later = await h.service().run_once()
        assert later.errors == [] and later.rules_disabled == [] and later.delivered == 1
        assert len(h.messages(MONITOR)) == len(chosen)  # no second alert
    h.store.close()


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


# ------------------------------------------------------------------------------------------ secure mail


HOSTILE_MAILS: list[dict[str, Any]] = [
    {"subject": "Byggesag\x00 med NUL", "body": "<p>x</p>", "internet_message_id": "<nul-subject@corpus.dk>"},
    {"subject": "Byggesag NUL i id", "body": "<p>x</p>", "internet_message_id": "<nul\x00id@corpus.dk>"},
    {"subject": "Byggesag uden id", "body": "<p>x</p>"},
    {
        "subject": "Byggesag falsk afsender",
        "body": "<p>x</p>",
        "from_": ("Digital Post", "0101701234@29189846.ngdp.digital-post.dk"),
        "internet_message_id": "<spoof@corpus.dk>",
    },
    {
        "subject": "Byggesag stor",
        "body": "<p>" + "a" * 3_000_000 + "</p>",
        "internet_message_id": "<big@corpus.dk>",
    },
    {
        "subject": "Byggesag script",
        "body": '<p>Hej</p><script>alert(1)</script><img src="https://tracker.example/p.gif">',
        "internet_message_id": "<script@corpus.dk>",
    },
]


async def test_hostile_secure_mail_is_routed_once_and_never_blocks_the_inbox(inbound: Harness) -> None:
    """On PostgreSQL too: NUL in a subject or Message-ID once made every poll of the inbox fail."""
    h = inbound
    for mail in HOSTILE_MAILS:
        h.tenant.deliver_to_inbox(
            MAIN,
            mail["subject"],
            mail["body"],
            **{k: v for k, v in mail.items() if k not in ("subject", "body")},
        )
    stats = await h.service().run_once(pull=False)
    assert stats.errors == []
    # A From under the gateway domain looks like the gateway's own mail: left in place, never routed.
    assert stats.mail_seen == stats.mail_routed == len(HOSTILE_MAILS) - 1
    again = await h.service().run_once(pull=False)
    assert (again.mail_seen, again.mail_routed, again.errors) == (0, 0, [])
    copies = sorted(m["subject"] for m in h.messages(BYG))
    assert copies == sorted(m["subject"] for m in HOSTILE_MAILS if "from_" not in m)  # each once
    assert "Byggesag falsk afsender" in [m["subject"] for m in h.messages(MAIN)]  # not lost either
