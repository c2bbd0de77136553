"""``graph-dpg doctor --probe``: observe each inferred behaviour (graph_dpg/diagnostics/inferences.py) on the
real services and say whether it matches.

Graph, in one mailbox (``--mailbox``, default the main mailbox)::

    mailbox answers ──► create probe folder "graph-dpg probe <stamp>" ─┬─► message as the gateway files a memo
        (else exit 2)        (else exit 2)                              │     (0x0E07 = 1, internetMessageId
                                                                        │      + String 0x1035) → read back,
                                                                        │     internetMessageHeaders too
                                                                        ├─► upload session ≥ 3 MB on it →
                                                                        │     Location → listed attachments
                                                                        ├─► upload session for 3,000,000 B
                                                                        │     (< 3 MiB): refused? (if not,
                                                                        │     cancel the session)
                                                                        ├─► two drafts from S/MIME MIME
                                                                        │     (encrypted, clear-signed; a
                                                                        │     throw-away key; never sent) →
                                                                        │     $value: same CMS / signed part?
                                                                        ├─► GET mailFolders/<display name>
                                                                        ├─► probe category twice → 2nd answer
                                                                        └─► delta, first page, each configured
                                                                              folder (read only)
    finally: delete the probe categories; permanently delete the probe folder with its message (not to
    Deleted Items nor Recoverable Items: mailfolder-permanentdelete.md); check the folder is gone.

Rows gated ``manual`` (no harmless probe exists, e.g. what sendMail does to a MIME Message-ID) are reported
skipped; their inference text says how to check by hand.

``--probe-concurrency``: parallel GETs on the mailbox, 2..8 at a time, stop at the first 429 (no
retries), then 4 on it plus 1..4 on a second mailbox (again stopping at the first 429). ``--ngdp-test``:
one memo to the organisation's own CVR in NgDP's *test* environment (``NGDP_TEST_*`` settings), its
business receipt, and the answer to a resend.

Every row is inference → observed → verdict: ``matches``, ``contradicts`` (the gateway's assumption is
wrong here: exit 1), ``not checked`` (something else failed first: exit 2 unless a row contradicts),
``skipped`` (its option was not given). :meth:`ProbeReport.exit_code`: 1 if any row contradicts, else 2 if
the probe could not run, a row could not be checked or cleaning up failed, else 0.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import enum
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graph_dpg import memo
from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.client import is_duplicate_answer
from graph_dpg.adapters.graph import GraphMailbox
from graph_dpg.adapters.graph.client import RetryPolicy
from graph_dpg.bootstrap import make_graph_mailbox
from graph_dpg.config import GatewayConfig, Settings
from graph_dpg.config.ngdp_test import NgdpTestSettings
from graph_dpg.core.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RemoteError,
    ThrottledError,
    TransientError,
)
from graph_dpg.diagnostics import inferences as inf
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CONTRADICTED = 1
EXIT_COULD_NOT_RUN = 2

#: Just over Graph's 3 MB line for upload sessions (concepts/outlook-large-attachments.md).
UPLOAD_PROBE_BYTES = 3 * 1024 * 1024 + 64 * 1024
#: Under 3 MiB but over 3,000,000 (the decimal reading of the docs' "3 MB"): a session for it must be refused.
UPLOAD_MINIMUM_PROBE_BYTES = 3_000_000
#: The gateway's per-mailbox concurrency (learn.microsoft.com/graph/throttling-limits: 4).
GATEWAY_CONCURRENCY = 4
MAX_PARALLEL = 8
RECEIPT_POLL_SECONDS = 2.0
_PROPERTY = re.compile(r"^\s*(\w+)\s+0x([0-9a-f]+)\s*$", re.IGNORECASE)


class Verdict(enum.StrEnum):
    MATCHES = "matches"
    CONTRADICTS = "contradicts"
    NOT_CHECKED = "not checked"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ProbeRow:
    """One row of the table: the inference, what the probe saw, and the verdict."""

    id: str
    observed: str
    verdict: Verdict

    @property
    def inference(self) -> inf.Inference:
        return inf.BY_ID[self.id]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.inference.service,
            "inference": self.inference.statement,
            "observed": self.observed,
            "verdict": str(self.verdict),
            "matches": {Verdict.MATCHES: True, Verdict.CONTRADICTS: False}.get(self.verdict),
        }


@dataclass
class ProbeReport:
    mailbox: str
    rows: list[ProbeRow] = field(default_factory=list)
    #: Why the probe could not run at all (exit 2), e.g. no token, mailbox unreachable, no probe folder.
    problem: str | None = None
    folder: str | None = None
    cleaned: list[str] = field(default_factory=list)
    cleanup_problems: list[str] = field(default_factory=list)

    def row(self, inference_id: str) -> ProbeRow:
        return next(r for r in self.rows if r.id == inference_id)

    def exit_code(self) -> int:
        if any(r.verdict is Verdict.CONTRADICTS for r in self.rows):
            return EXIT_CONTRADICTED
        if self.problem or self.cleanup_problems or any(r.verdict is Verdict.NOT_CHECKED for r in self.rows):
            return EXIT_COULD_NOT_RUN
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "probe_folder": self.folder,
            "problem": self.problem,
            "exit_code": self.exit_code(),
            "rows": [r.to_json() for r in self.rows],
            "cleaned": list(self.cleaned),
            "cleanup_problems": list(self.cleanup_problems),
        }


def _remote(exc: RemoteError) -> str:
    head = " ".join(str(x) for x in (exc.status, exc.code) if x)
    body = exc.details.get("error") if isinstance(exc.details, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if message else exc.message
    return f"{head}: {text}" if head else text


def _incidental(exc: BaseException) -> bool:
    """An error that says nothing about the behaviour probed (access, network, throttling)."""
    return isinstance(exc, AuthError | TransientError | ConfigError)


def _verdict_for_error(exc: RemoteError) -> Verdict:
    return Verdict.NOT_CHECKED if _incidental(exc) else Verdict.CONTRADICTS


def _same_property(a: str, b: str) -> bool:
    """``String 0x1035`` vs ``string 0x01035``: same type and tag, whatever the spelling."""
    ma, mb = _PROPERTY.match(a), _PROPERTY.match(b)
    if not ma or not mb:
        return a.casefold() == b.casefold()
    return ma.group(1).casefold() == mb.group(1).casefold() and int(ma.group(2), 16) == int(mb.group(2), 16)


def location_form(location: str) -> str:
    """The Location header with its ids elided: ``…/messages('…')/Attachments('…')``."""
    if not location:
        return "(no Location header)"
    path = re.sub(r"\('[^']*'\)", "('…')", location)
    tail = re.search(r"/(?:users|Users)\b.*$", path)
    return "…" + tail.group(0) if tail else path


@dataclass(frozen=True)
class SmimeSamples:
    """What the S/MIME ``$value`` probe creates: an encrypted message (and its CMS bytes) and a clear-signed
    one (and the bytes of its signed part)."""

    encrypted: bytes
    cms: bytes
    signed: bytes
    signed_part: bytes


def smime_probe_samples(mailbox: str) -> SmimeSamples:
    """The two S/MIME probe messages, made with a throw-away key and self-signed certificate (RSA 2048,
    AES-256-CBC; RFC 8551 3.3 and 3.5). The key lives only in memory for the probe."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graph-dpg probe")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    content = b"Content-Type: text/plain; charset=us-ascii\r\n\r\ngraph-dpg doctor --probe\r\n"
    head = (
        f"From: {mailbox}\r\nTo: {mailbox}\r\nSubject: graph-dpg doctor --probe (deleted when the probe "
        f"ends)\r\nMessage-ID: <graph-dpg-probe-{uuid.uuid4().hex}@graph-dpg.invalid>\r\n"
    ).encode()
    cms = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(content)
        .add_recipient(cert)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    body = base64.encodebytes(cms).replace(b"\n", b"\r\n")
    encrypted = head + (
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    signed_entity = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    signed = head + signed_entity.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    part = signed_part_of(signed)
    assert part is not None  # made just above
    return SmimeSamples(encrypted, cms, signed, part)


def cms_of(mime: bytes) -> bytes | None:
    """The CMS bytes of a MIME message whose top entity is application/pkcs7-mime; else None."""
    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
    if parsed.get_content_type() not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return None
    data = parsed.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?', re.IGNORECASE)


def signed_part_of(mime: bytes) -> bytes | None:
    """The raw bytes of the first part of a top-level multipart/signed (what the signature covers, RFC 1847
    2.1: between the first delimiter line and the next); else None."""
    end = min((i for i in (mime.find(b"\r\n\r\n"), mime.find(b"\n\n")) if i >= 0), default=-1)
    if end < 0:
        return None
    head, body = mime[:end].replace(b"\r\n", b"\n"), mime[end:]
    unfolded = re.sub(rb"\n[ \t]+", b" ", head)
    top = re.search(rb"^content-type:\s*([^;\n]+)", unfolded, re.IGNORECASE | re.MULTILINE)
    boundary = _BOUNDARY.search(unfolded)
    if top is None or top.group(1).strip().lower() != b"multipart/signed" or boundary is None:
        return None
    pieces = body.split(b"--" + boundary.group(1))  # the bytes as they are: a changed line end counts
    return pieces[1] if len(pieces) > 2 else None


async def _one(row: Awaitable[ProbeRow]) -> list[ProbeRow]:
    return [await row]


async def _guarded(rows: Awaitable[list[ProbeRow]], ids: Sequence[str]) -> list[ProbeRow]:
    """Rows of a step that broke unexpectedly (a bug, not an answer of the service) are 'not checked',
    never a crashed probe that skips its clean-up report."""
    try:
        return await rows
    except Exception as exc:
        log.debug("probe step crashed", exc_info=True)
        why = f"not checked: unexpected error {type(exc).__name__}: {exc}"
        return [ProbeRow(i, why, Verdict.NOT_CHECKED) for i in ids]


#: The rows of the probe message's step (graph_dpg/diagnostics/inferences.py).
MESSAGE_ROWS = (
    inf.NON_DRAFT_CREATE,
    inf.INTERNET_MESSAGE_ID,
    inf.API_ITEM_HEADERS,
    inf.UPLOAD_SESSION_NON_DRAFT,
    inf.UPLOAD_LOCATION,
    inf.UPLOAD_SESSION_MINIMUM,
)


class Probe:
    """Runs the probe for one ``Settings`` + ``GatewayConfig``. Tests inject ``graph_transport`` (the Graph
    emulator in-process) and ``ngdp`` (an NgdpClient on the NgDP emulator); ``sleep`` and ``clock`` pace
    the wait for the business receipt."""

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig,
        *,
        mailbox: str | None = None,
        concurrency: bool = False,
        ngdp_test: bool = False,
        ngdp_settings: NgdpTestSettings | None = None,
        ngdp: NgdpClient | None = None,
        graph_transport: httpx.AsyncBaseTransport | None = None,
        max_parallel: int = MAX_PARALLEL,
        receipt_wait: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.config = config
        self.mailbox = mailbox or config.main_mailbox
        self.concurrency = concurrency
        self.ngdp_test = ngdp_test
        self.ngdp_settings = ngdp_settings
        self._ngdp = ngdp
        self._graph_transport = graph_transport
        self.max_parallel = max_parallel
        self.receipt_wait = (
            receipt_wait
            if receipt_wait is not None
            else (ngdp_settings.receipt_wait_seconds if ngdp_settings else 120.0)
        )
        self._sleep = sleep
        self._clock = clock
        self._closers: list[Any] = []
        self.stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.folder_name = f"graph-dpg probe {self.stamp}"
        self.category_name = f"graph-dpg probe {self.stamp}"

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            try:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # closing must not hide the report
                log.debug("probe: closing failed", exc_info=True)
        self._closers.clear()

    def _graph(self, **overrides: Any) -> GraphMailbox:
        graph = make_graph_mailbox(self.settings, self._closers, transport=self._graph_transport, **overrides)
        self._closers.append(graph.aclose)
        return graph

    # ------------------------------------------------------------------ the whole probe

    async def run(self) -> ProbeReport:
        report = ProbeReport(self.mailbox)
        try:
            graph = self._graph()
        except ConfigError as exc:
            report.problem = f"the Graph credential cannot be built: {'; '.join(exc.problems) or exc}"
            return report
        try:
            await graph.check_mailbox(self.mailbox)
        except RemoteError as exc:
            report.problem = f"mailbox {self.mailbox} cannot be used: {_remote(exc)}"
            return report
        try:
            folder_id = await graph.create_folder(self.mailbox, self.folder_name)
        except RemoteError as exc:
            report.problem = f"the probe folder could not be created in {self.mailbox}: {_remote(exc)}"
            return report
        report.folder = self.folder_name
        categories: list[str] = []
        try:
            report.rows += await _guarded(
                self._message_rows(graph, folder_id),
                MESSAGE_ROWS,
            )
            report.rows += await _guarded(_one(self._smime_value_row(graph, folder_id)), (inf.SMIME_VALUE,))
            report.rows += await _guarded(_one(self._folder_name_row(graph)), (inf.FOLDER_NAME_AS_ID,))
            report.rows += await _guarded(
                _one(self._thread_row(graph, folder_id)), (inf.THREAD_CREATED_ITEMS,)
            )
            report.rows += await _guarded(
                _one(self._category_row(graph, categories)), (inf.DUPLICATE_CATEGORY,)
            )
            report.rows += await _guarded(_one(self._delta_row(graph)), (inf.DELTA_FOLDERS,))
            if self.concurrency:
                report.rows += await _guarded(_one(self._concurrency_row()), (inf.CONCURRENCY,))
        finally:
            await self._clean_up(graph, folder_id, categories, report)
        if not self.concurrency:
            report.rows.append(ProbeRow(inf.CONCURRENCY, "run with --probe-concurrency", Verdict.SKIPPED))
        ngdp_ids = tuple(i.id for i in inf.inferences_for("ngdp") if i.gate == "--ngdp-test")
        if self.ngdp_test:
            report.rows += await _guarded(self._ngdp_rows(), ngdp_ids)
        else:
            report.rows += [ProbeRow(i, "run with --ngdp-test", Verdict.SKIPPED) for i in ngdp_ids]
        report.rows += [
            ProbeRow(i.id, "no harmless probe: a manual check (see the inference)", Verdict.SKIPPED)
            for i in inf.INFERENCES
            if i.gate == "manual"
        ]
        return report

    # ------------------------------------------------------------------ Graph: message, upload

    async def _message_rows(self, graph: GraphMailbox, folder_id: str) -> list[ProbeRow]:
        ids = MESSAGE_ROWS
        message_id_header = f"<graph-dpg-probe-{uuid.uuid4().hex}@graph-dpg.invalid>"
        now = datetime.now(UTC)
        address = EmailAddress(self.mailbox, "graph-dpg probe")
        message = MailMessage(
            subject="graph-dpg doctor --probe (deleted when the probe ends)",
            body="A test item of graph-dpg doctor --probe. It is deleted with its folder.",
            body_type="text",
            sender=address,
            to=[address],
            internet_message_id=message_id_header,
            received_at=now,
            sent_at=now,
            is_read=True,
        )
        try:
            # Exactly as the gateway files a memo: PidTagMessageFlags = 1, times, and the Message-ID twice.
            message_id = await graph.create_message(self.mailbox, folder_id, message, received=True)
        except RemoteError as exc:
            verdict = _verdict_for_error(exc)
            first = ProbeRow(inf.NON_DRAFT_CREATE, f"the create request failed: {_remote(exc)}", verdict)
            rest = [
                ProbeRow(i, "not checked: the probe message could not be created", Verdict.NOT_CHECKED)
                for i in ids[1:]
            ]
            return [first, *rest]
        rows: list[ProbeRow] = []
        try:
            data = await graph.read_message_fields(
                self.mailbox,
                message_id,
                ("isDraft", "internetMessageId", "internetMessageHeaders"),
                ("String 0x1035",),
            )
        except RemoteError as exc:
            return [
                ProbeRow(
                    i, f"not checked: reading the probe message failed: {_remote(exc)}", Verdict.NOT_CHECKED
                )
                for i in ids
            ]
        is_draft = data.get("isDraft")
        rows.append(
            ProbeRow(
                inf.NON_DRAFT_CREATE,
                f"isDraft={str(is_draft).lower()}",
                Verdict.MATCHES if is_draft is False else Verdict.CONTRADICTS,
            )
        )
        read_id = data.get("internetMessageId")
        tag_value = next(
            (
                p.get("value")
                for p in data.get("singleValueExtendedProperties") or []
                if isinstance(p, Mapping) and _same_property(str(p.get("id", "")), "String 0x1035")
            ),
            None,
        )
        same = read_id == message_id_header and tag_value == message_id_header
        rows.append(
            ProbeRow(
                inf.INTERNET_MESSAGE_ID,
                f"internetMessageId {'as given' if read_id == message_id_header else f'= {read_id!r}'}; "
                f"String 0x1035 {'as given' if tag_value == message_id_header else f'= {tag_value!r}'}",
                Verdict.MATCHES if same else Verdict.CONTRADICTS,
            )
        )
        headers = data.get("internetMessageHeaders")
        names = [str(h.get("name")) for h in headers or [] if isinstance(h, Mapping)]
        rows.append(
            ProbeRow(
                inf.API_ITEM_HEADERS,
                f"{len(names)} internet header(s): {', '.join(names[:6])}{'…' if len(names) > 6 else ''}"
                if names
                else "internetMessageHeaders " + ("absent" if headers is None else "empty"),
                Verdict.CONTRADICTS if names else Verdict.MATCHES,
            )
        )
        rows += await self._upload_rows(graph, message_id, is_draft is False)
        rows.append(await self._upload_minimum_row(graph, message_id))
        return rows

    async def _smime_value_row(self, graph: GraphMailbox, folder_id: str) -> ProbeRow:
        """Two drafts made from S/MIME MIME in the probe folder (never sent): is ``$value`` the bytes sent?"""
        samples = smime_probe_samples(self.mailbox)
        found: list[str] = []
        same = True
        for kind, mime in (("encrypted", samples.encrypted), ("clear-signed", samples.signed)):
            try:
                message_id = await graph.create_mime_message(self.mailbox, folder_id, mime)
                value = await graph.get_mime(self.mailbox, message_id)
            except RemoteError as exc:
                return ProbeRow(
                    inf.SMIME_VALUE, f"{kind}: the request failed: {_remote(exc)}", _verdict_for_error(exc)
                )
            if kind == "encrypted":
                ok = cms_of(value) == samples.cms
                found.append(f"encrypted: CMS {'as created' if ok else 'changed or missing'}")
            else:
                ok = signed_part_of(value) == samples.signed_part
                found.append(f"clear-signed: signed part {'as created' if ok else 'changed or missing'}")
            same = same and ok
        return ProbeRow(inf.SMIME_VALUE, "; ".join(found), Verdict.MATCHES if same else Verdict.CONTRADICTS)

    async def _upload_minimum_row(self, graph: GraphMailbox, message_id: str) -> ProbeRow:
        size = UPLOAD_MINIMUM_PROBE_BYTES
        try:
            upload_url = await graph.create_upload_session(
                self.mailbox, message_id, "graph-dpg-probe-min.bin", size
            )
        except RemoteError as exc:
            if exc.status == 400 and "minimum" in f"{exc.code} {_remote(exc)}".casefold():
                return ProbeRow(
                    inf.UPLOAD_SESSION_MINIMUM, f"{size:,} bytes refused: {_remote(exc)}", Verdict.MATCHES
                )
            return ProbeRow(
                inf.UPLOAD_SESSION_MINIMUM,
                f"not checked: {size:,} bytes refused for another reason: {_remote(exc)}",
                Verdict.NOT_CHECKED,
            )
        # Accepted: Graph's minimum is at most 3,000,000 bytes. Cancel the session (nothing was uploaded).
        observed = f"a session for {size:,} bytes was accepted (minimum ≤ 3,000,000, not 3 MiB)"
        try:
            await graph.cancel_upload_session(self.mailbox, upload_url)
            observed += "; cancelled"
        except RemoteError as exc:
            observed += f"; cancelling it failed: {_remote(exc)} (it expires, and goes with the probe folder)"
        return ProbeRow(inf.UPLOAD_SESSION_MINIMUM, observed, Verdict.CONTRADICTS)

    async def _upload_rows(self, graph: GraphMailbox, message_id: str, non_draft: bool) -> list[ProbeRow]:
        if not non_draft:
            why = "not checked: the probe message is a draft (see graph.non-draft-create)"
            return [
                ProbeRow(inf.UPLOAD_SESSION_NON_DRAFT, why, Verdict.NOT_CHECKED),
                ProbeRow(inf.UPLOAD_LOCATION, why, Verdict.NOT_CHECKED),
            ]
        attachment = Attachment("graph-dpg-probe.bin", "application/octet-stream", bytes(UPLOAD_PROBE_BYTES))
        try:
            uploaded = await graph.upload_attachment(self.mailbox, message_id, attachment)
            listed = await graph.list_attachment_metas(self.mailbox, message_id)
        except RemoteError as exc:
            return [
                ProbeRow(
                    inf.UPLOAD_SESSION_NON_DRAFT,
                    f"upload session on the non-draft message failed: {_remote(exc)}",
                    _verdict_for_error(exc),
                ),
                ProbeRow(inf.UPLOAD_LOCATION, "not checked: the upload failed", Verdict.NOT_CHECKED),
            ]
        sizes = {str(a.get("id")): int(a.get("size") or 0) for a in listed}
        stored = any(s >= UPLOAD_PROBE_BYTES for s in sizes.values()) or any(
            a.get("name") == attachment.name for a in listed
        )
        rows = [
            ProbeRow(
                inf.UPLOAD_SESSION_NON_DRAFT,
                f"{UPLOAD_PROBE_BYTES:,} bytes uploaded; the message lists "
                f"{len(listed)} attachment(s){'' if stored else ', not the uploaded one'}",
                Verdict.MATCHES if stored else Verdict.CONTRADICTS,
            )
        ]
        form = location_form(uploaded.location)
        if uploaded.id and uploaded.id in sizes:
            rows.append(
                ProbeRow(inf.UPLOAD_LOCATION, f"201, Location {form}: id read, listed", Verdict.MATCHES)
            )
        elif uploaded.id:
            rows.append(
                ProbeRow(
                    inf.UPLOAD_LOCATION,
                    f"201, Location {form}: the id read is not among the listed attachments",
                    Verdict.CONTRADICTS,
                )
            )
        else:
            rows.append(
                ProbeRow(
                    inf.UPLOAD_LOCATION, f"201, Location {form}: no attachment id in it", Verdict.CONTRADICTS
                )
            )
        return rows

    async def _thread_row(self, graph: GraphMailbox, folder_id: str) -> ProbeRow:
        """Two received items, the second naming the first in In-Reply-To / References (as the gateway's
        updated receipt names its first receipt): one conversation?"""
        now = datetime.now(UTC)
        address = EmailAddress(self.mailbox, "graph-dpg probe")
        first_id = f"<graph-dpg-probe-{uuid.uuid4().hex}@graph-dpg.invalid>"

        def item(header: str | None) -> MailMessage:
            return MailMessage(
                subject="graph-dpg doctor --probe (deleted when the probe ends)",
                body="A test item of graph-dpg doctor --probe. It is deleted with its folder.",
                body_type="text",
                sender=address,
                to=[address],
                internet_message_id=None if header else first_id,
                headers=[Header("In-Reply-To", header), Header("References", header)] if header else [],
                received_at=now,
                sent_at=now,
                is_read=True,
            )

        fields = ("conversationId", "internetMessageId")
        try:
            first = await graph.create_message(self.mailbox, folder_id, item(None), received=True)
            one = await graph.read_message_fields(self.mailbox, first, fields)
            # The Message-ID the first item has (graph.internet-message-id is its own row).
            answered = str(one.get("internetMessageId") or first_id)
            second = await graph.create_message(self.mailbox, folder_id, item(answered), received=True)
            two = await graph.read_message_fields(self.mailbox, second, fields)
        except RemoteError as exc:
            return ProbeRow(inf.THREAD_CREATED_ITEMS, f"not checked: {_remote(exc)}", Verdict.NOT_CHECKED)
        ids = [one.get("conversationId"), two.get("conversationId")]
        if ids[0] and ids[0] == ids[1]:
            return ProbeRow(inf.THREAD_CREATED_ITEMS, "the same conversationId", Verdict.MATCHES)
        return ProbeRow(inf.THREAD_CREATED_ITEMS, "different conversationIds", Verdict.CONTRADICTS)

    # ------------------------------------------------------------------ Graph: categories, delta

    async def _folder_name_row(self, graph: GraphMailbox) -> ProbeRow:
        try:
            data = await graph.get_folder_raw(self.mailbox, self.folder_name)
        except RemoteError as exc:
            if _incidental(exc):
                return ProbeRow(inf.FOLDER_NAME_AS_ID, f"not checked: {_remote(exc)}", Verdict.NOT_CHECKED)
            verdict = (
                Verdict.MATCHES
                if exc.status == 400 and exc.code == "ErrorInvalidIdMalformed"
                else Verdict.CONTRADICTS
            )
            return ProbeRow(inf.FOLDER_NAME_AS_ID, f"GET mailFolders/<name>: {_remote(exc)}", verdict)
        return ProbeRow(
            inf.FOLDER_NAME_AS_ID,
            f"GET mailFolders/<name>: 200, Graph took the name as an id ({data.get('displayName')!r})",
            Verdict.CONTRADICTS,
        )

    async def _category_row(self, graph: GraphMailbox, created: list[str]) -> ProbeRow:
        name = self.category_name
        try:
            created.append(await graph.create_master_category(self.mailbox, name))
        except RemoteError as exc:
            return ProbeRow(
                inf.DUPLICATE_CATEGORY,
                f"not checked: the probe category could not be created: {_remote(exc)}",
                Verdict.NOT_CHECKED,
            )
        try:
            created.append(await graph.create_master_category(self.mailbox, name))
        except RemoteError as exc:
            if exc.status == 409:
                return ProbeRow(inf.DUPLICATE_CATEGORY, f"second create: {_remote(exc)}", Verdict.MATCHES)
            return ProbeRow(inf.DUPLICATE_CATEGORY, f"second create: {_remote(exc)}", _verdict_for_error(exc))
        return ProbeRow(
            inf.DUPLICATE_CATEGORY,
            "second create succeeded: a duplicate category was created",
            Verdict.CONTRADICTS,
        )

    async def _delta_row(self, graph: GraphMailbox) -> ProbeRow:
        sources = list(dict.fromkeys([*self.config.outgoing_sources(), *self.config.inbox_sources()]))
        ok: list[str] = []
        refused: list[str] = []
        unchecked: list[str] = []
        for address, path in sources:
            where = f"{address}/{path}"
            try:
                folder_id = await graph.find_folder(address, path)
                if folder_id is None:
                    unchecked.append(f"{where}: folder not found")
                    continue
                page = await graph.delta_first_page(address, folder_id)
            except RemoteError as exc:
                (unchecked if _incidental(exc) or isinstance(exc, NotFoundError) else refused).append(
                    f"{where}: {_remote(exc)}"
                )
                continue
            links = page.get("@odata.nextLink") or page.get("@odata.deltaLink")
            if isinstance(page.get("value"), list) and links:
                ok.append(where)
            else:
                refused.append(f"{where}: answer without value and nextLink/deltaLink")
        parts = [f"works on {len(ok)} of {len(sources)} folder(s)", *refused, *unchecked]
        verdict = Verdict.CONTRADICTS if refused else Verdict.NOT_CHECKED if unchecked else Verdict.MATCHES
        return ProbeRow(inf.DELTA_FOLDERS, "; ".join(parts), verdict)

    # ------------------------------------------------------------------ Graph: concurrency

    async def _parallel(self, graph: GraphMailbox, mailboxes: Sequence[str]) -> int:
        """One GET inbox per entry of ``mailboxes``, all at once; the number of 429s. No retries."""
        answers = await asyncio.gather(*(graph.check_mailbox(m) for m in mailboxes), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, ThrottledError):
                raise answer
        return sum(isinstance(a, ThrottledError) for a in answers)

    async def _concurrency_row(self) -> ProbeRow:
        graph = self._graph(
            max_concurrency_per_mailbox=self.max_parallel,
            max_concurrency=2 * self.max_parallel,
            retry=RetryPolicy(max_retries=0),
        )
        first_429: int | None = None
        try:
            for n in range(2, self.max_parallel + 1):
                if await self._parallel(graph, [self.mailbox] * n):
                    first_429 = n
                    break
        except RemoteError as exc:
            return ProbeRow(inf.CONCURRENCY, f"not checked: {_remote(exc)}", Verdict.NOT_CHECKED)
        one = (
            f"one mailbox: first 429 at {first_429} parallel reads"
            if first_429
            else f"one mailbox: no 429 up to {self.max_parallel} parallel reads"
        )
        if first_429 is not None and first_429 <= GATEWAY_CONCURRENCY:
            return ProbeRow(
                inf.CONCURRENCY,
                f"{one}: below the gateway's {GATEWAY_CONCURRENCY} per mailbox",
                Verdict.CONTRADICTS,
            )
        other = await self._second_mailbox(graph)
        if other is None:
            return ProbeRow(
                inf.CONCURRENCY,
                f"{one}; no second reachable mailbox to tell 'per mailbox' from 'per app'",
                Verdict.NOT_CHECKED,
            )
        # 4 on the probe mailbox plus 1, 2, … 4 on another: a limit shared by the app shows as a 429 at
        # the first step past it, never as a burst of them.
        both = ""
        try:
            for k in range(1, GATEWAY_CONCURRENCY + 1):
                both = f"{GATEWAY_CONCURRENCY} + {k} on two mailboxes"
                if await self._parallel(graph, [self.mailbox] * GATEWAY_CONCURRENCY + [other] * k):
                    return ProbeRow(
                        inf.CONCURRENCY,
                        f"{one}; {both}: 429 - the limit is shared by the app ('per app' reading)",
                        Verdict.CONTRADICTS,
                    )
        except RemoteError as exc:
            return ProbeRow(inf.CONCURRENCY, f"{one}; not checked: {_remote(exc)}", Verdict.NOT_CHECKED)
        reading = (
            f"'per mailbox {first_429 - 1}' reading"
            if first_429
            else "not shared between mailboxes (no limit reached on one)"
        )
        return ProbeRow(inf.CONCURRENCY, f"{one}; {both}: no 429 - {reading}", Verdict.MATCHES)

    async def _second_mailbox(self, graph: GraphMailbox) -> str | None:
        for address in self.config.mailboxes:
            if address.casefold() == self.mailbox.casefold():
                continue
            try:
                await graph.check_mailbox(address)
            except RemoteError:
                continue
            return address
        return None

    # ------------------------------------------------------------------ cleaning up

    async def _clean_up(
        self, graph: GraphMailbox, folder_id: str, categories: list[str], report: ProbeReport
    ) -> None:
        try:
            # A duplicate the tenant created after all has an id we may not have been given.
            categories = list(
                dict.fromkeys(
                    [*categories, *await graph.master_category_ids(self.mailbox, self.category_name)]
                )
            )
        except RemoteError as exc:
            if categories:
                report.cleanup_problems.append(f"listing the probe categories failed: {_remote(exc)}")
        for category_id in categories:
            try:
                await graph.delete_master_category(self.mailbox, category_id)
                report.cleaned.append(f"category {self.category_name!r}")
            except NotFoundError:
                pass
            except RemoteError as exc:
                report.cleanup_problems.append(
                    f"delete the master category {self.category_name!r} in {self.mailbox}: {_remote(exc)}"
                )
        try:
            await graph.permanently_delete_folder(self.mailbox, folder_id)
            gone = await graph.find_folder(self.mailbox, self.folder_name) is None
        except RemoteError as exc:
            report.cleanup_problems.append(
                f"delete the folder {self.folder_name!r} in {self.mailbox} (Outlook): {_remote(exc)}"
            )
            return
        if gone:
            report.cleaned.append(f"folder {self.folder_name!r} with its message")
        else:
            report.cleanup_problems.append(
                f"the folder {self.folder_name!r} is still there after its deletion"
            )

    # ------------------------------------------------------------------ NgDP (test environment)

    def _ngdp_client(self) -> NgdpClient:
        if self._ngdp is None:
            s = self.ngdp_settings
            if s is None:
                raise ConfigError("no NgDP test settings", ["NGDP_TEST_*: not given"])
            self._ngdp = NgdpClient(
                s.base_url,
                s.system_id or "",
                s.api_token.get_secret_value() if s.api_token else "",
                certificate_file=s.certificate_path,
                certificate_password=s.certificate_password.get_secret_value()
                if s.certificate_password
                else None,
                ca_bundle=s.ca_bundle,
                read_timeout=s.timeout_seconds,
                write_timeout=s.timeout_seconds,
            )
            self._closers.append(self._ngdp.aclose)
        return self._ngdp

    def probe_memo(self, message_uuid: str) -> bytes:
        """A small memo from the organisation to its own CVR."""
        org = self.config.organisation
        text = b"graph-dpg doctor --probe: a test memo to the organisation itself.\n"
        message = memo.MemoMessage(
            header=memo.MessageHeader(
                message_type=memo.MESSAGE_TYPE_DIGITALPOST,
                message_uuid=message_uuid,
                label="graph-dpg probe",
                sender=memo.Sender(sender_id=org.cvr, id_type="CVR", label=org.name),
                recipient=memo.Recipient(recipient_id=org.cvr, id_type="CVR", label=org.name),
            ),
            body=memo.MessageBody(
                created_datetime=datetime.now(UTC).replace(microsecond=0),
                main_document=memo.Document(
                    kind="main", files=(memo.File("text/plain", "graph-dpg-probe.txt", "da", text),)
                ),
            ),
        )
        return memo.build(message)

    async def _ngdp_rows(self) -> list[ProbeRow]:
        ids = [i.id for i in inf.inferences_for("ngdp")]
        try:
            client = self._ngdp_client()
        except ConfigError as exc:
            why = f"not checked: {'; '.join(exc.problems) or exc}"
            return [ProbeRow(i, why, Verdict.NOT_CHECKED) for i in ids]
        message_uuid = str(uuid.uuid4())
        xml = self.probe_memo(message_uuid)
        try:
            status, body = await client.post_memo_raw(message_uuid, xml)
        except RemoteError as exc:
            why = f"not checked: sending the probe memo failed: {_remote(exc)}"
            return [ProbeRow(i, why, Verdict.NOT_CHECKED) for i in ids]
        receipt_status = body.get("receiptStatus") if isinstance(body, Mapping) else None
        if status not in (200, 201):
            code = body.get("code") if isinstance(body, Mapping) else None
            why = f"not checked: NgDP refused the probe memo ({status} {code or ''})".rstrip()
            return [ProbeRow(i, why, Verdict.NOT_CHECKED) for i in ids]
        send = ProbeRow(
            inf.NGDP_SEND,
            f"{status}, receiptStatus={receipt_status}",
            Verdict.MATCHES if status == 201 and receipt_status == "RECEIVED" else Verdict.CONTRADICTS,
        )
        transmission_id = body.get("transmissionId") if isinstance(body, Mapping) else None
        receipt = await self._receipt_row(client, message_uuid, str(transmission_id or ""))
        try:
            status2, body2 = await client.post_memo_raw(message_uuid, xml)
        except RemoteError as exc:
            return [
                send,
                receipt,
                ProbeRow(inf.NGDP_DUPLICATE, f"not checked: {_remote(exc)}", Verdict.NOT_CHECKED),
            ]
        shape = inf.classify_duplicate_answer(status2, body2)
        code2 = body2.get("code") if isinstance(body2, Mapping) else None
        duplicate = ProbeRow(
            inf.NGDP_DUPLICATE,
            f"{status2}{f' {code2}' if code2 else ''} → {shape}",
            # The verdict is what the gateway's client does with this answer; the shape only names it.
            Verdict.MATCHES
            if is_duplicate_answer(status2, body2 if isinstance(body2, Mapping) else None)
            else Verdict.CONTRADICTS,
        )
        return [send, receipt, duplicate]

    async def _receipt_row(self, client: NgdpClient, message_uuid: str, transmission_id: str) -> ProbeRow:
        started = self._clock()
        seen: set[str] = set()
        try:
            while True:
                for receipt_id in await client.list_receipts():
                    if receipt_id in seen:
                        continue
                    seen.add(receipt_id)
                    receipt = await client.get_receipt(receipt_id)
                    by_uuid = receipt.message_uuid.lower() == message_uuid.lower()
                    by_transmission = bool(transmission_id) and receipt.transmission_id == transmission_id
                    if not by_uuid and not by_transmission:
                        continue
                    await client.delete_receipt(receipt_id)
                    waited = self._clock() - started
                    if not by_uuid:
                        return ProbeRow(
                            inf.NGDP_RECEIPT,
                            "receipt found by transmissionId, but it names messageUUID "
                            f"{receipt.message_uuid!r}",
                            Verdict.CONTRADICTS,
                        )
                    return ProbeRow(
                        inf.NGDP_RECEIPT,
                        f"pulled after {waited:.0f} s (200/201), receiptStatus={receipt.receipt_status}"
                        + (f" {receipt.error_code}" if receipt.error_code else ""),
                        Verdict.MATCHES,
                    )
                if self._clock() - started >= self.receipt_wait:
                    return ProbeRow(
                        inf.NGDP_RECEIPT,
                        f"not checked: no receipt for the probe memo within {self.receipt_wait:.0f} s",
                        Verdict.NOT_CHECKED,
                    )
                await self._sleep(RECEIPT_POLL_SECONDS)
        except RemoteError as exc:
            return ProbeRow(
                inf.NGDP_RECEIPT, f"pulling receipts failed: {_remote(exc)}", _verdict_for_error(exc)
            )


async def probe(settings: Settings, config: GatewayConfig, **options: Any) -> ProbeReport:
    """Run :class:`Probe` and close what it opened."""
    runner = Probe(settings, config, **options)
    try:
        return await runner.run()
    finally:
        await runner.aclose()
