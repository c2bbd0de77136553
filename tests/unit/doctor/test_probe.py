"""graph-dpg doctor --probe against the Graph emulator (in-process) and the NgDP emulator (mutual TLS):
the emulator's default behaviour is the gateway's inferences (every row matches, exit 0); each setting that
shows the other behaviour makes its row contradict (exit 1); a probe that cannot run exits 2. Every run
leaves the mailbox as it found it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.client import is_duplicate_answer
from graph_dpg.config.ngdp_test import NgdpTestSettings, load_ngdp_test_settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.diagnostics import inferences as inf
from graph_dpg.diagnostics.probe import (
    EXIT_CONTRADICTED,
    EXIT_COULD_NOT_RUN,
    EXIT_OK,
    ProbeReport,
    Verdict,
    cms_of,
    probe,
    signed_part_of,
    smime_probe_samples,
)
from graph_dpg.sandbox.graph import create_app
from graph_dpg.sandbox.graph.faults import Fault, slow
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp import create_app as create_ngdp_app
from graph_dpg.sandbox.ngdp.state import DUPLICATE_ANSWERS
from tests.unit.doctor.conftest import DoctorEnv

GRAPH_ROWS = [i.id for i in inf.inferences_for("graph") if i.gate == "probe"]


async def run_probe(env: DoctorEnv, **options: Any) -> ProbeReport:
    options.setdefault("graph_transport", httpx.ASGITransport(app=create_app(env.tenant)))
    return await probe(env.settings, env.config, **options)


def probe_leftovers(env: DoctorEnv, mailbox: str) -> list[str]:
    """Probe folders, categories and messages anywhere in the mailbox, Deleted Items and Recoverable Items
    included: the probe deletes its folder permanently."""
    box = env.tenant.mailbox(mailbox)
    folders = [f.display_name for f in box.folders.values() if "probe" in f.display_name]
    categories = [
        c["displayName"] for c in env.tenant.master_categories(mailbox) if "probe" in c["displayName"]
    ]
    messages = [m.props["subject"] for m in box.messages.values() if "probe" in m.props["subject"]]
    return folders + categories + messages


async def test_default_emulator_matches_every_inference_and_cleans_up(env: DoctorEnv) -> None:
    report = await run_probe(env)
    by_id = {r.id: r for r in report.rows}
    assert [r for r in report.rows if r.id in GRAPH_ROWS and r.verdict is not Verdict.MATCHES] == []
    assert by_id[inf.NON_DRAFT_CREATE].observed == "isDraft=false"
    assert "/Attachments('…')" in by_id[inf.UPLOAD_LOCATION].observed  # the docs' spelling, the default
    assert "409" in by_id[inf.DUPLICATE_CATEGORY].observed
    assert by_id[inf.CONCURRENCY].verdict is Verdict.SKIPPED
    assert by_id[inf.API_ITEM_HEADERS].observed == "internetMessageHeaders absent"
    assert "400 ErrorInvalidIdMalformed" in by_id[inf.FOLDER_NAME_AS_ID].observed
    assert "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize" in by_id[inf.UPLOAD_SESSION_MINIMUM].observed
    assert by_id[inf.SMIME_VALUE].observed == (
        "encrypted: CMS as created; clear-signed: signed part as created"
    )
    for manual in (inf.MIME_SEND_MESSAGE_ID, inf.NGDP_FORWARDED_SHAPES, inf.NGDP_REPEATED_ACK):
        assert by_id[manual].verdict is Verdict.SKIPPED and "manual" in by_id[manual].observed
    assert report.exit_code() == EXIT_OK
    assert probe_leftovers(env, env.config.main_mailbox) == []
    assert report.cleanup_problems == []


# Each Graph emulator setting that shows the behaviour contradicting an inference, and the words the row
# must then carry (graph_dpg/sandbox/graph/tenant.py, GraphTenant.__init__).
CONTRADICTIONS: list[tuple[str, Any, str, str]] = [
    ("honour_message_flags_on_create", False, inf.NON_DRAFT_CREATE, "isDraft=true"),
    ("keep_internet_message_id_on_create", False, inf.INTERNET_MESSAGE_ID, "internetMessageId = '<"),
    ("upload_session_on_non_draft", False, inf.UPLOAD_SESSION_NON_DRAFT, "400 ErrorInvalidOperation"),
    ("upload_location_form", "none", inf.UPLOAD_LOCATION, "no Location header"),
    ("duplicate_category_status", 400, inf.DUPLICATE_CATEGORY, "400 ErrorDuplicateCategory"),
    ("delta_accepts_change_type", False, inf.DELTA_FOLDERS, "400 BadRequest"),
    ("internet_headers_on_api_items", True, inf.API_ITEM_HEADERS, "internet header(s): Received"),
    ("display_name_as_folder_id", "not-found", inf.FOLDER_NAME_AS_ID, "404 ErrorItemNotFound"),
    ("smime_value_as_sent", False, inf.SMIME_VALUE, "encrypted: CMS changed or missing"),
    ("thread_created_items_by_in_reply_to", False, inf.THREAD_CREATED_ITEMS, "different conversationIds"),
    (
        "min_upload_session_bytes",
        3_000_000,
        inf.UPLOAD_SESSION_MINIMUM,
        "3,000,000 bytes was accepted (minimum ≤ 3,000,000, not 3 MiB); cancelled",
    ),
]


@pytest.mark.parametrize(
    ("setting", "value", "row", "words"), CONTRADICTIONS, ids=[c[0] for c in CONTRADICTIONS]
)
async def test_each_other_behaviour_contradicts_its_row(
    env: DoctorEnv, setting: str, value: Any, row: str, words: str
) -> None:
    assert hasattr(env.tenant, setting)
    setattr(env.tenant, setting, value)
    report = await run_probe(env)
    contradicted = [r.id for r in report.rows if r.verdict is Verdict.CONTRADICTS]
    assert contradicted == [row]
    assert words in report.row(row).observed
    assert report.exit_code() == EXIT_CONTRADICTED
    assert probe_leftovers(env, env.config.main_mailbox) == []
    assert env.tenant._uploads == {}  # no upload session left open
    assert report.to_json()["rows"][[r.id for r in report.rows].index(row)]["matches"] is False


async def test_a_draft_probe_message_leaves_the_upload_rows_unchecked(env: DoctorEnv) -> None:
    env.tenant.honour_message_flags_on_create = False
    report = await run_probe(env)
    for row in (inf.UPLOAD_SESSION_NON_DRAFT, inf.UPLOAD_LOCATION):
        assert report.row(row).verdict is Verdict.NOT_CHECKED
        assert "draft" in report.row(row).observed


async def test_a_lower_case_location_header_matches_too(env: DoctorEnv) -> None:
    env.tenant.upload_location_form = "attachments"
    report = await run_probe(env)
    assert report.row(inf.UPLOAD_LOCATION).verdict is Verdict.MATCHES
    assert "/attachments('…')" in report.row(inf.UPLOAD_LOCATION).observed


async def test_a_token_graph_refuses_cannot_run(env: DoctorEnv) -> None:
    env.tenant.tokens = {"another-token"}
    report = await run_probe(env)
    assert report.exit_code() == EXIT_COULD_NOT_RUN
    assert report.problem is not None and "401" in report.problem
    assert report.rows == []


async def test_an_unreachable_mailbox_cannot_run(env: DoctorEnv) -> None:
    env.tenant.set_accessible(env.config.main_mailbox, False)
    report = await run_probe(env)
    assert report.exit_code() == EXIT_COULD_NOT_RUN
    assert report.problem is not None and "403 ErrorAccessDenied" in report.problem


async def test_a_probe_folder_that_cannot_be_created_cannot_run(env: DoctorEnv) -> None:
    env.tenant.faults.script(
        "POST", r"/mailFolders$", Fault(status=403, code="ErrorAccessDenied", message="Access is denied.")
    )
    report = await run_probe(env)
    assert report.exit_code() == EXIT_COULD_NOT_RUN
    assert report.problem is not None and "probe folder could not be created" in report.problem
    assert report.rows == []
    assert probe_leftovers(env, env.config.main_mailbox) == []


def hold_inbox_reads(env: DoctorEnv) -> None:
    """The probe's parallel reads (GET inbox) stay in flight, counted against the limit, while the rest of
    the step is sent: the emulator answers them after a pause (a 'slow' fault, applied after the request
    was counted)."""
    env.tenant.faults.add_rate(1.0, slow(0.3), method="GET", path=r"/mailFolders/inbox$")


async def test_concurrency_per_mailbox_reading_matches_gently(env: DoctorEnv) -> None:
    hold_inbox_reads(env)
    report = await run_probe(env, concurrency=True)
    row = report.row(inf.CONCURRENCY)
    assert row.verdict is Verdict.MATCHES, row.observed
    assert "first 429 at 5 parallel reads" in row.observed
    assert "'per mailbox 4' reading" in row.observed
    assert env.tenant.count_requests(status=429) == 1  # stopped at the first 429
    assert report.exit_code() == EXIT_OK


async def test_concurrency_per_app_reading_contradicts(env: DoctorEnv) -> None:
    hold_inbox_reads(env)
    env.tenant.concurrency_reading = "per-app"
    report = await run_probe(env, concurrency=True)
    row = report.row(inf.CONCURRENCY)
    assert row.verdict is Verdict.CONTRADICTS
    assert "4 + 1 on two mailboxes: 429" in row.observed and "'per app' reading" in row.observed
    assert env.tenant.count_requests(status=429) == 2  # one at 5 on one mailbox, one at 4 + 1
    assert report.exit_code() == EXIT_CONTRADICTED


def ngdp_test_settings(env: DoctorEnv, **overrides: Any) -> NgdpTestSettings:
    values: dict[str, Any] = {
        "base_url": env.server.base_url,
        "system_id": env.state.system_id,
        "api_token": env.state.api_token,
        "certificate_path": env.client_cert,
        "ca_bundle": env.ca_cert,
        "receipt_wait_seconds": 0,
        **overrides,
    }
    return load_ngdp_test_settings(None, **values)


async def test_ngdp_part_against_the_emulator_matches(env: DoctorEnv) -> None:
    env.state.register(cvr=env.config.organisation.cvr)
    report = await run_probe(env, ngdp_test=True, ngdp_settings=ngdp_test_settings(env))
    probed = {i.id for i in inf.inferences_for("ngdp") if i.gate == "--ngdp-test"}
    rows = {r.id: r for r in report.rows if r.id in probed}
    assert {k: r.verdict for k, r in rows.items()} == dict.fromkeys(probed, Verdict.MATCHES)
    assert rows[inf.NGDP_SEND].observed == "201, receiptStatus=RECEIVED"
    assert "receiptStatus=COMPLETED" in rows[inf.NGDP_RECEIPT].observed
    # The NgDP emulator's answer to a resend (its own invention, docs/facts/ngdp.md, Idempotency).
    assert rows[inf.NGDP_DUPLICATE].observed == "400 DUPLICATE_MESSAGE_UUID → 400-duplicate-code"
    assert len(env.state.accepted) == 1
    assert env.state.receipt_ids() == []  # the probe's receipt was deleted after reading
    assert report.exit_code() == EXIT_OK


async def test_ngdp_part_is_skipped_without_the_option(env: DoctorEnv) -> None:
    report = await run_probe(env)
    assert [r.verdict for r in report.rows if r.id.startswith("ngdp.")] == [Verdict.SKIPPED] * 5
    assert env.state.accepted == []


class ReceiptsNeverCome(httpx.AsyncBaseTransport):
    """An NgDP whose business receipts never arrive: the NgDP emulator in-process, its receipts dropped."""

    def __init__(self, state: NgdpState) -> None:
        self.state = state
        self.emulator = httpx.ASGITransport(app=create_ngdp_app(state))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for receipt_id in self.state.receipt_ids():
            self.state.delete_receipt(receipt_id)
        return await self.emulator.handle_async_request(request)


async def test_a_receipt_that_never_comes_is_not_checked(env: DoctorEnv) -> None:
    env.state.register(cvr=env.config.organisation.cvr)
    ticks = iter(range(0, 1000, 30))  # each look at the clock is 30 s later
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    client = NgdpClient(
        "http://ngdp.test/apis/v1",
        env.state.system_id,
        env.state.api_token,
        transport=ReceiptsNeverCome(env.state),
    )
    try:
        report = await run_probe(
            env,
            ngdp_test=True,
            ngdp=client,
            receipt_wait=60,
            sleep=record_wait,
            clock=lambda: float(next(ticks)),
        )
    finally:
        await client.aclose()
    row = report.row(inf.NGDP_RECEIPT)
    assert row.verdict is Verdict.NOT_CHECKED
    assert "within 60 s" in row.observed
    assert waits == [2.0]  # polled at 30 s, gave up at 60 s
    assert report.exit_code() == EXIT_COULD_NOT_RUN


def test_ngdp_test_settings_refuse_production() -> None:
    with pytest.raises(ConfigError) as caught:
        load_ngdp_test_settings(
            None,
            base_url="https://api.digitalpost.dk/apis/v1",
            system_id="s",
            api_token="t",
            certificate_path="c.pem",
        )
    assert any("production" in p for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        load_ngdp_test_settings(None)
    assert {p.split(":")[0] for p in caught.value.problems} == {
        "NGDP_TEST_SYSTEM_ID",
        "NGDP_TEST_API_TOKEN",
        "NGDP_TEST_CERTIFICATE_PATH",
    }


@pytest.mark.parametrize(
    ("status", "body", "shape"),
    [
        (409, None, "409"),
        (409, {"code": "CONFLICT"}, "409"),
        (
            400,
            {"code": "DUPLICATE_MESSAGE_UUID", "fieldErrors": [{"code": "DUPLICATE"}]},
            "400-duplicate-code",
        ),
        (400, {"code": "MESSAGE_ALREADY_RECEIVED"}, "400-duplicate-code"),
        (422, {"code": "DUPLICATE_MESSAGE_UUID"}, "422-duplicate-code"),
        (
            400,
            {"code": "VALIDATION", "fieldErrors": [{"field": "messageUUID", "code": "DUPLICATE"}]},
            "400-field-errors",
        ),
        (
            422,
            {
                "code": "VALIDATION",
                "fieldErrors": [{"field": "MessageHeader.messageUUID", "message": "exists"}],
            },
            "422-field-errors",
        ),
        (400, {"code": "VALIDATION", "fieldErrors": [{"field": "label", "code": "DUPLICATE"}]}, "other"),
        (400, {"code": "VALIDATION", "fieldErrors": [{"field": "messageUUID", "code": "PATTERN"}]}, "other"),
        (400, {"code": "VALIDATION"}, "other"),
        (400, "not json", "other"),
        (201, {"receiptStatus": "RECEIVED"}, "other"),
        (500, None, "other"),
    ],
)
def test_classify_duplicate_answer_agrees_with_the_client(status: int, body: Any, shape: str) -> None:
    assert inf.classify_duplicate_answer(status, body) == shape
    accepted = is_duplicate_answer(status, body if isinstance(body, dict) else None)
    assert (shape in inf.ACCEPTED_DUPLICATE_SHAPES) == accepted


def test_env_example_documents_the_ngdp_test_settings() -> None:
    example = (Path(__file__).resolve().parents[3] / ".env.example").read_text(encoding="utf-8")
    keys = {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("NGDP_TEST_")}
    assert keys == {f"NGDP_TEST_{name.upper()}" for name in NgdpTestSettings.model_fields}
    assert "NGDP_TEST_BASE_URL=https://api.test.digitalpost.dk/apis/v1" in example


# The NgDP emulator's answer to a resend in each of its settings (NgdpState.duplicate_answer; every shape is
# an inference, docs/facts/ngdp.md "Idempotency"): the probe's verdict is what the gateway's client
# (is_duplicate_answer) makes of it - any shape it takes as "already accepted" matches, the opaque 400
# contradicts.
DUPLICATE_SETTINGS: list[tuple[str, str, Verdict]] = [
    ("409", "409 DUPLICATE_MESSAGE_UUID → 409", Verdict.MATCHES),
    ("400-code", "400 DUPLICATE_MESSAGE_UUID → 400-duplicate-code", Verdict.MATCHES),
    ("400-field-errors", "400 VALIDATION_FAILED → 400-field-errors", Verdict.MATCHES),
    ("422", "422 DUPLICATE_MESSAGE_UUID → 422-duplicate-code", Verdict.MATCHES),
    ("400-opaque", "400 BAD_REQUEST → other", Verdict.CONTRADICTS),
]


@pytest.mark.parametrize(
    ("setting", "observed", "verdict"), DUPLICATE_SETTINGS, ids=[d[0] for d in DUPLICATE_SETTINGS]
)
async def test_ngdp_duplicate_answer_in_each_emulator_setting(
    env: DoctorEnv, setting: str, observed: str, verdict: Verdict
) -> None:
    assert setting in DUPLICATE_ANSWERS
    env.state.duplicate_answer = setting  # type: ignore[assignment]
    env.state.register(cvr=env.config.organisation.cvr)
    report = await run_probe(env, ngdp_test=True, ngdp_settings=ngdp_test_settings(env))
    row = report.row(inf.NGDP_DUPLICATE)
    assert row.observed == observed
    assert row.verdict is verdict
    assert report.row(inf.NGDP_SEND).verdict is Verdict.MATCHES
    assert len(env.state.accepted) == 1  # the resend was not taken as a second memo
    assert env.state.duplicate_count == 1
    assert report.exit_code() == (EXIT_OK if verdict is Verdict.MATCHES else EXIT_CONTRADICTED)


def test_every_duplicate_setting_is_probed() -> None:
    assert {d[0] for d in DUPLICATE_SETTINGS} == set(DUPLICATE_ANSWERS)


async def test_smime_value_rebuilt_contradicts_for_both_kinds(env: DoctorEnv) -> None:
    """With ``$value`` rebuilt from the stored item (smime.p7m as an attachment of a new multipart), neither
    the CMS nor the signed part comes back as created."""
    env.tenant.smime_value_as_sent = False
    report = await run_probe(env)
    assert report.row(inf.SMIME_VALUE).observed == (
        "encrypted: CMS changed or missing; clear-signed: signed part changed or missing"
    )


def test_smime_probe_samples_are_what_openssl_reads(tmp_path: Path) -> None:
    """The probe's clear-signed sample verifies with openssl (its signed part is the signed bytes), and the
    helpers find the CMS and the signed part of what was made (RFC 8551 3.3, 3.5; RFC 1847 2.1)."""
    import shutil
    import subprocess

    samples = smime_probe_samples("probe@kommune.dk")
    assert cms_of(samples.encrypted) == samples.cms and cms_of(samples.signed) is None
    assert signed_part_of(samples.signed) == samples.signed_part
    assert samples.signed_part.startswith(b"\r\nContent-Type: text/plain")
    assert signed_part_of(samples.encrypted) is None
    if shutil.which("openssl"):
        path = tmp_path / "signed.eml"
        path.write_bytes(samples.signed)
        done = subprocess.run(
            ["openssl", "cms", "-verify", "-noverify", "-in", str(path)], capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert b"graph-dpg doctor --probe" in done.stdout


def test_emulator_keeps_or_replaces_the_mime_message_id_on_send(env: DoctorEnv) -> None:
    """The emulator setting for the manual row graph.mime-send-message-id: kept by default, else Exchange's."""
    import base64

    box = env.config.main_mailbox
    for keep in (True, False):
        env.tenant.keep_mime_message_id_on_send = keep
        mid = f"<keep-{keep}@graph-dpg.invalid>"
        mime = (f"From: {box}\r\nTo: {box}\r\nSubject: s\r\nMessage-ID: {mid}\r\n\r\nx\r\n").encode()
        sent = env.tenant.send_mime(env.tenant.mailbox(box), base64.b64encode(mime))
        assert (sent.props.get("internetMessageId") == mid) is keep
