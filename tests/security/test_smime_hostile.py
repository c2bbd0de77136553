"""Hostile secure mail (S/MIME) through the inbound path on the Graph emulator: truncated, encrypted to a key
we lack, tampered, signed by an expired or an untrusted certificate, nested too deeply (S/MIME layers and
MIME parts), 1,000 MIME parts. Each ends in an answer (a readable copy with its verdict, or a banner in the
main mailbox and one alert) and never stops the mailbox: a plain mail delivered after it is routed in the
same round. The inputs are made at test time with ``openssl cms`` (the independent counterpart) and stored
as Exchange stores S/MIME ([MS-OXOSMIME] 2.1.3.1, 2.1.3.2); nothing is committed."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from graph_dpg.services.inbound import InboundService
from tests.integration.inbound.harness import BYG, MAIN, MONITOR, Harness, make_harness
from tests.smime_pki import Pki, make_pki, openssl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

TEXT = "Hej fra Testkommune."
HOSTILE_SUBJECT = "Ny byggesag fjendtlig"  # would match the BYG rule: must not be routed unread
NEXT_SUBJECT = "Ny byggesag efter"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def service(h: Harness, pki: Pki) -> InboundService:
    return h.service_with(open_mail=h.secure_opening(pki))


def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _headers(subject: str = HOSTILE_SUBJECT) -> tuple[str, ...]:
    return ("-from", "Byg og Miljø <byg@myndighed.dk>", "-to", MAIN, "-subject", subject)


def _body(tmp: Path) -> Path:
    return _file(tmp, "body.txt", f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode())


def _sign(pki: Pki, who: str, content: Path, *extra: str) -> bytes:
    party = getattr(pki, who)
    return openssl("cms", "-sign", "-in", content, "-signer", party.pem, "-inkey", party.key_pem, *extra)


def truncated(pki: Pki, tmp: Path) -> bytes:
    raw = openssl("cms", "-encrypt", "-aes256", "-in", _body(tmp), "-recip", pki.org.pem, *_headers())
    head, _, payload = raw.partition(b"\n\n")
    return head + b"\n\n" + payload[: len(payload) // 2]


def wrong_key(pki: Pki, tmp: Path) -> bytes:
    return openssl("cms", "-encrypt", "-aes256", "-in", _body(tmp), "-recip", pki.stranger.pem, *_headers())


def tampered(pki: Pki, tmp: Path) -> bytes:
    raw = _sign(pki, "org2", _body(tmp), *_headers())
    return raw.replace(b"Hej fra", b"Betal til")


def expired_signer(pki: Pki, tmp: Path) -> bytes:
    return _sign(pki, "expired", _body(tmp), *_headers())


def untrusted_signer(pki: Pki, tmp: Path) -> bytes:
    return _sign(pki, "stranger", _body(tmp), *_headers())


def nested_layers(pki: Pki, tmp: Path) -> bytes:
    """Twelve opaque signatures, one inside the other (the opener reads at most eight layers)."""
    current = _body(tmp)
    for i in range(12):
        extra = _headers() if i == 11 else ()
        current = _file(tmp, f"layer{i}.eml", _sign(pki, "org2", current, "-nodetach", *extra))
    return current.read_bytes()


def nested_mime(pki: Pki, tmp: Path) -> bytes:
    """An opaque-signed message whose content is multipart nested 2,000 deep (opaque: the emulator's own
    MIME reader, like Exchange for signed-data, never looks inside)."""
    depth = 2000
    opening = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode() for i in range(depth)
    )
    inner = b"Content-Type: text/plain\r\n\r\nbunden\r\n"
    closing = b"".join(f"\r\n--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return _sign(pki, "org2", _file(tmp, "deep.eml", opening + inner + closing), "-nodetach", *_headers())


def _many_parts(count: int) -> bytes:
    parts = [b"Content-Type: multipart/mixed; boundary=many\r\n\r\n"]
    parts.append(b"--many\r\nContent-Type: text/plain\r\n\r\n" + TEXT.encode() + b"\r\n")
    for i in range(count - 2):  # the multipart itself and the text count too
        parts.append(
            f"--many\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; "
            f'filename="del{i}.txt"\r\n\r\n{i}\r\n'.encode()
        )
    parts.append(b"--many--\r\n")
    return b"".join(parts)


def thousand_parts(pki: Pki, tmp: Path) -> bytes:
    return _sign(pki, "org2", _file(tmp, "many.eml", _many_parts(1000)), *_headers())


def too_many_parts(pki: Pki, tmp: Path) -> bytes:
    return _sign(pki, "org2", _file(tmp, "more.eml", _many_parts(1001)), *_headers())


#: case → (builder, the answer expected: "banner" (main mailbox, support code, one alert) or the verdict
#: words shown on a readable copy routed by the rules).
CASES: dict[str, tuple[Callable[[Pki, Path], bytes], str, str]] = {
    "truncated": (truncated, "banner", "smime:damaged"),
    "wrong-key": (wrong_key, "banner", "smime:no-key"),
    "tampered": (tampered, "banner", "smime:signature"),
    "expired-signer": (expired_signer, "routed", "signaturen er udløbet"),
    "untrusted-signer": (untrusted_signer, "routed", "signaturen er ikke betroet"),
    "nested-layers": (nested_layers, "banner", "smime:damaged"),
    "nested-mime": (nested_mime, "banner", "smime:damaged"),
    "1000-parts": (thousand_parts, "routed", "signaturen er gyldig"),
    "1001-parts": (too_many_parts, "banner", "smime:damaged"),
}


#: Every case on SQLite; on PostgreSQL one case per kind of answer. The store only records what became of
#: a mail; the parsing each case attacks runs before it, the same on either database, so the other cases
#: on PostgreSQL proved nothing more (and the 1,000-part ones cost seconds each).
ON_POSTGRES = ("truncated", "untrusted-signer")
DB_AND_CASE = [pytest.param("sqlite", case, id=f"sqlite-{case}") for case in CASES] + [
    pytest.param("postgres", case, id=f"postgres-{case}", marks=pytest.mark.postgres) for case in ON_POSTGRES
]


@pytest.mark.parametrize(("db_url", "case"), DB_AND_CASE, indirect=["db_url"])
async def test_hostile_secure_mail_ends_in_an_answer_and_the_next_mail_is_still_routed(
    h: Harness, pki: Pki, tmp_path: Path, case: str
) -> None:
    build, answer, words = CASES[case]
    h.tenant.deliver_mime(MAIN, build(pki, tmp_path))
    plain = f"From: byg@myndighed.dk\r\nTo: {MAIN}\r\nSubject: {NEXT_SUBJECT}\r\n"
    h.tenant.deliver_mime(MAIN, (plain + "Content-Type: text/plain\r\n\r\nalmindelig mail\r\n").encode())

    stats = await service(h, pki).run_once(pull=False)
    await service(h, pki).run_once(pull=False)  # a second round answers no more

    assert stats.errors == []
    [after] = [m for m in h.messages(BYG) if m["subject"] == NEXT_SUBJECT]  # the mailbox did not stop
    assert "almindelig mail" in after["body"]["content"]
    if answer == "banner":
        assert [m for m in h.messages(BYG) if m["subject"] == HOSTILE_SUBJECT] == []
        [banner] = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
        assert words in banner["body"]["content"]
        assert len(h.messages(MONITOR)) == 1  # alerted once
    else:
        [copy] = [m for m in h.messages(BYG) if m["subject"] == HOSTILE_SUBJECT]
        body = copy["body"]["content"]
        assert words in body and TEXT in body
        assert h.messages(MONITOR) == []
        if case == "1000-parts":
            names = [a["name"] for a in copy["attachments"]]
            assert len(names) == 999 and names[-1] == "smime.p7m"  # 998 parts + the original
            assert len([n for n in names if re.fullmatch(r"del\d+\.txt", n)]) == 998
