"""Secure mail to external recipients end to end on the Graph emulator: a mail in Sent Items to
``<name>=<domain>@sikkermail.<gateway-domain>`` is signed with the organisation's certificate, encrypted to
the recipient's certificate and sent as MIME through sendMail (concepts/outlook-send-mime-message.md:
base64 MIME, Content-Type text/plain). Real GraphMailbox, store (SQLite and PostgreSQL), certificate
sources (directory, the mailbox's contacts, LDAP through ldap3's MOCK_SYNC strategy) and sealer; what was sent is opened with ``openssl cms -decrypt`` and ``-verify``.

Every test also checks, on the wire, that no sendMail ever carried anything but S/MIME enveloped-data.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import shutil
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import ldap3
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.smime import SmimeSealer, load_signing_key
from graph_dpg.adapters.smime.contacts import ContactCertificates
from graph_dpg.adapters.smime.directory import CertificateDirectory
from graph_dpg.adapters.smime.ldap import LdapCertificates
from graph_dpg.adapters.smime.sources import CertificateSources, blocking_source, mailbox_source
from graph_dpg.domain.secure_send import recipient_set_digest
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.store import JobState
from graph_dpg.sandbox.graph import create_app
from graph_dpg.services.blocking import blocking
from graph_dpg.services.effects import EffectKey, EffectKind
from graph_dpg.services.letters import ActionRefused, Actor, LettersService, Role
from graph_dpg.services.outbound import CycleStats, OutboundService, SecureSender, job_id_for
from tests.smime_pki import Party, Pki, make_leaf, make_pki, openssl

from .harness import CITIZEN, MAILBOX, TOKEN, Harness, make_harness

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

SECRET = "Fortroligt: sagsnummer 2024-117 og helbredsoplysninger."
KOMMUNE = "post@nabokommune.dk"
FIRMA = "sikker@firma.dk"


class Recording(httpx.ASGITransport):
    """The emulator's ASGI transport, keeping every sendMail request as sent on the wire."""

    def __init__(self, app: object) -> None:
        super().__init__(app=app)  # type: ignore[arg-type]
        self.send_mail: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.lower().endswith("/sendmail"):
            await request.aread()
            self.send_mail.append(request)
        return await super().handle_async_request(request)


def _recipient(pki: Pki, directory: Path, name: str, address: str) -> Party:
    now = datetime.now(UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    )
    return make_leaf(
        directory,
        name,
        pki.ca,
        subject=subject,
        not_before=now - timedelta(days=5),
        not_after=now + timedelta(days=300),
        emails=(address,),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def parties(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    work = tmp_path_factory.mktemp("recipients")
    return {
        KOMMUNE: _recipient(pki, work, "nabokommune", KOMMUNE),
        FIRMA: _recipient(pki, work, "firma", FIRMA),
    }


@pytest.fixture
async def h(db_url: str, pki: Pki, parties: dict[str, Party], tmp_path: Path) -> AsyncIterator[Harness]:
    certs = tmp_path / "certs"
    certs.mkdir()
    for party in parties.values():
        (certs / f"{party.name}.pem").write_bytes(party.pem.read_bytes())
    harness = await make_harness(db_url)
    ldap_server = ldap3.Server("ldap-mock")
    transport = Recording(create_app(harness.tenant))
    mailbox = GraphMailbox(
        StaticTokenCredential(TOKEN), "http://127.0.0.1/v1.0", transport=transport, retry=RetryPolicy.fast()
    )
    harness.mailbox = mailbox
    harness.service = OutboundService(
        mailbox,
        harness.service.ngdp,
        harness.store,
        harness.service.settings,
        secure_send=SecureSender(
            recipient_sources(certs, mailbox, ldap_server),
            SmimeSealer(load_signing_key(pki.org.both, None)),
        ),
    )
    harness.ldap = ldap_server  # type: ignore[attr-defined]
    harness.wire = transport  # type: ignore[attr-defined]
    async with mailbox:
        yield harness
        _nothing_left_unencrypted(transport)
    harness.store.close()


def mock_ldap(server: ldap3.Server) -> ldap3.Connection:
    """A connection to the in-memory directory of ``server`` (ldap3's MOCK_SYNC: no network)."""
    return ldap3.Connection(server, client_strategy=ldap3.MOCK_SYNC)


def recipient_sources(certs: Path, mailbox: GraphMailbox, server: ldap3.Server) -> CertificateSources:
    """Files, then the mailbox's contacts, then LDAP, as bootstrap.recipient_sources chains them."""
    ldap = LdapCertificates(lambda: mock_ldap(server), "o=certifikater")
    return CertificateSources(
        [
            blocking_source(CertificateDirectory(certs), "file"),
            mailbox_source(ContactCertificates(mailbox), "contacts"),
            blocking_source(ldap, "ldap"),
        ]
    )


def _nothing_left_unencrypted(wire: Recording) -> None:
    for request in wire.send_mail:
        assert request.headers["content-type"].startswith("text/plain")
        raw = base64.b64decode(request.content)
        head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        assert head.get_content_type() == "application/pkcs7-mime"
        assert head.get_param("smime-type") == "enveloped-data"
        assert SECRET.encode() not in raw


def _sent(h: Harness) -> list[bytes]:
    wire: Recording = h.wire  # type: ignore[attr-defined]
    return [base64.b64decode(r.content) for r in wire.send_mail]


async def test_sent_encrypted_to_each_recipient_signed_by_the_organisation_and_answered_by_a_receipt(
    h: Harness, pki: Pki, parties: dict[str, Party]
) -> None:
    mid = h.send(
        "Sikker mail til nabokommunen",
        ["post=nabokommune.dk@sikkermail.digital-post.dk", "sikker=firma.dk@sikkermail.digital-post.dk"],
        body=f"<p>{SECRET}</p>",
    )
    await h.cycle()

    [sealed] = _sent(h)
    # The outside header names the real recipients, never the wrapped addresses.
    outside = sealed.split(b"\r\n\r\n", 1)[0].decode()
    assert KOMMUNE in outside and FIRMA in outside and "sikkermail" not in outside.split("Message-ID")[0]
    for party in parties.values():
        inner = openssl("cms", "-decrypt", "-recip", party.pem, "-inkey", party.key_pem, input=sealed)
        content = openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=inner)
        assert SECRET.encode() in content
    # Exchange keeps a copy in Sent Items (user-sendmail.md), stored as S/MIME ([MS-OXOSMIME] 2.1.3.1).
    [copy] = [m for m in h.tenant.messages(MAILBOX, "sentitems") if m["id"] != mid]
    assert [a["name"] for a in copy["attachments"]] == ["smime.p7m"]
    assert {tuple(e["to"]) for e in h.tenant.outbound_log} == {(KOMMUNE, FIRMA)}
    [receipt] = h.receipts()
    body = receipt["body"]["content"]
    assert receipt["subject"].startswith("DPG kvittering")
    assert KOMMUNE in body and FIRMA in body and "sendt som sikker mail" in body
    assert h.categories(mid) == ["Digital Post: Sendt"]

    await h.cycle(2)  # nothing more happens
    assert len(_sent(h)) == 1
    assert len(h.receipts()) == 1


async def test_no_certificate_for_a_recipient_is_an_error_receipt_naming_it_and_nothing_is_sent(
    h: Harness,
) -> None:
    mid = h.send(
        "Til en uden certifikat",
        ["post=nabokommune.dk@sikkermail.digital-post.dk", "ukendt=andet.dk@sikkermail.digital-post.dk"],
        body=f"<p>{SECRET}</p>",
    )
    await h.cycle()
    assert _sent(h) == []
    assert h.tenant.outbound_log == []
    [receipt] = h.receipts()
    assert "ukendt@andet.dk" in receipt["body"]["content"]
    assert "intet gyldigt certifikat" in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Fejl"]


@pytest.mark.parametrize(
    ("to", "words"),
    [
        (
            ["post=nabokommune.dk@sikkermail.digital-post.dk", "borger@example.dk"],
            "også til borger@example.dk",
        ),
        (["post@sikkermail.digital-post.dk"], "ikke en gyldig sikkermail-adresse"),
    ],
)
async def test_mixed_or_malformed_secure_mail_is_refused_and_nothing_is_sent(
    h: Harness, to: list[str], words: str
) -> None:
    h.send("Blandet", to, body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    [receipt] = h.receipts()
    assert words in receipt["body"]["content"]


async def test_not_configured_is_an_error_receipt_and_nothing_is_sent(h: Harness) -> None:
    h.service.secure_send = None
    h.send("Ikke sat op", ["post=nabokommune.dk@sikkermail.digital-post.dk"], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert _sent(h) == []
    [receipt] = h.receipts()
    assert "ikke sat op til at sende sikker mail" in receipt["body"]["content"]


class Crash(Exception):
    pass


async def test_a_crash_after_sending_does_not_send_again(h: Harness) -> None:
    # The process dies right after sendMail answered, before the send was recorded as done: the retry
    # finds the copy in Sent Items by its Message-ID and does not send again.
    service = h.service
    real = service.effects.complete

    async def crash_on_securesend(key: EffectKey, result: Mapping[str, object] | None = None) -> bool:
        if key.kind is EffectKind.SECURE_SEND:
            raise Crash
        return await real(key, result)

    service.effects.complete = crash_on_securesend  # type: ignore[method-assign]
    mid = h.send(
        "Sendes én gang", ["post=nabokommune.dk@sikkermail.digital-post.dk"], body=f"<p>{SECRET}</p>"
    )
    await service.poll(service.settings.mailboxes[0])
    [job] = await blocking(h.store.jobs_in_state, [JobState.NEW], limit=10)
    with pytest.raises(Crash):
        await service.advance(job, CycleStats())
    assert len(_sent(h)) == 1

    # A new process: the same store and mailbox, a fresh service.
    again = OutboundService(
        h.mailbox, service.ngdp, h.store, service.settings, secure_send=service.secure_send
    )
    h.service = again
    await h.cycle(2)
    assert len(_sent(h)) == 1
    assert len(h.tenant.outbound_log) == 1
    [receipt] = h.receipts()
    assert "sendt som sikker mail" in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Sendt"]
    key = EffectKey(EffectKind.SECURE_SEND, f"{job_id_for(MAILBOX, mid)}:{recipient_set_digest([KOMMUNE])}")
    effect = await again.effects.get(key)
    assert effect is not None and effect.result is not None and effect.result["reused"] is True


# ---------------------------------------------------------------- cancelled by an operator (services.letters)
ADMIN = Actor("alice@kommune.dk", Role.ADMIN, via="console")
CANCELLED_ROW = "Ikke sendt: masseforsendelsen blev annulleret"  # Text.RECEIPT_ROW_CANCELLED, Danish


async def test_cancel_before_sending_sends_nothing_and_ends_as_a_cancelled_memo_letter_does(
    h: Harness,
) -> None:
    """A secure mail not sent yet is stopped by ``letters cancel`` / the console: nothing leaves, and the
    answer, the receipt row, the category and the job's end are those of a cancelled MeMo letter beside it."""
    secure = h.send(
        "Sikker, annulleres", ["post=nabokommune.dk@sikkermail.digital-post.dk"], body=f"<p>{SECRET}</p>"
    )
    memo = h.send("Brev, annulleres", [f"{CITIZEN}@29189846.ngdp.digital-post.dk"])
    await h.service.poll(h.service.settings.mailboxes[0])
    svc = LettersService(h.store, language="en")
    answers = [await svc.cancel(job_id_for(MAILBOX, mid), ADMIN) for mid in (secure, memo)]
    assert [a.changed for a in answers] == [True, True]
    assert answers[0].words == answers[1].words == text(Text.CONSOLE_DONE_CANCELLED, "en")

    await h.cycle(2)
    assert _sent(h) == [] and h.tenant.outbound_log == []
    assert h.ngdp.accepted == []
    for mid in (secure, memo):
        job = h.store.get_job(job_id_for(MAILBOX, mid))
        assert job is not None and job.state is JobState.DONE
        assert h.categories(mid) == ["Digital Post: Fejl"]
    by_subject = {r["subject"]: r["body"]["content"] for r in h.receipts()}
    assert len(by_subject) == 2
    [secure_body] = [b for s, b in by_subject.items() if "Sikker" in s]
    [memo_body] = [b for s, b in by_subject.items() if "Brev" in s]
    assert CANCELLED_ROW in secure_body and CANCELLED_ROW in memo_body
    assert KOMMUNE in secure_body and "sendt som sikker mail" not in secure_body
    # The console's timeline shows both finished the same way.
    for mid in (secure, memo):
        tl = await svc.timeline(job_id_for(MAILBOX, mid), ADMIN)
        assert tl.cancellation is not None and "done" in [s.kind for s in tl.steps]


async def test_cancel_of_a_secure_mail_already_sent_is_refused_in_words(h: Harness) -> None:
    mid = h.send("Sikker, sendt", ["post=nabokommune.dk@sikkermail.digital-post.dk"], body=f"<p>{SECRET}</p>")
    await h.cycle()
    assert len(_sent(h)) == 1
    svc = LettersService(h.store, language="en")
    with pytest.raises(ActionRefused) as refused:
        await svc.cancel(job_id_for(MAILBOX, mid), ADMIN)
    assert refused.value.reason is Text.CONSOLE_REFUSED_SECURE_SENT
    assert "already been sent" in refused.value.words("en") and "allerede sendt" in refused.value.words("da")
    assert h.store.cancellation(job_id_for(MAILBOX, mid)) is None


async def test_cancel_after_a_crash_right_after_sendmail_still_ends_as_sent(h: Harness) -> None:
    """The mail left but the send was not recorded (a crash), and an operator cancels meanwhile: the worker
    finds the copy in Sent Items by its Message-ID, so the receipt says sent, never "not sent"."""
    service = h.service
    real = service.effects.complete

    async def crash_on_securesend(key: EffectKey, result: Mapping[str, object] | None = None) -> bool:
        if key.kind is EffectKind.SECURE_SEND:
            raise Crash
        return await real(key, result)

    service.effects.complete = crash_on_securesend  # type: ignore[method-assign]
    mid = h.send("Sikker, krak", ["post=nabokommune.dk@sikkermail.digital-post.dk"], body=f"<p>{SECRET}</p>")
    await service.poll(service.settings.mailboxes[0])
    [job] = await blocking(h.store.jobs_in_state, [JobState.NEW], limit=10)
    with pytest.raises(Crash):
        await service.advance(job, CycleStats())
    assert (await LettersService(h.store, language="en").cancel(job.id, ADMIN)).changed  # not known as sent

    h.service = OutboundService(
        h.mailbox, service.ngdp, h.store, service.settings, secure_send=service.secure_send
    )
    await h.cycle(2)
    assert len(_sent(h)) == 1
    [receipt] = h.receipts()
    assert "sendt som sikker mail" in receipt["body"]["content"]
    assert CANCELLED_ROW not in receipt["body"]["content"]
    assert h.categories(mid) == ["Digital Post: Sendt"]
