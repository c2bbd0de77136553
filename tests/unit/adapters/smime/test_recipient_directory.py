"""Recipient certificates from a directory (adapters/smime/directory.py) and sealing to them (SmimeSealer).

Sources: RFC 5280 4.2.1.6 (subjectAltName rfc822Name), RFC 8550 3 (the mail address in the certificate),
PKCS #9 emailAddress (1.2.840.113549.1.9.1) for older certificates; ``openssl cms`` is the counterpart.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.smime import SmimeSealer, load_signing_key
from graph_dpg.adapters.smime.directory import CertificateDirectory, certificate_addresses
from graph_dpg.core.errors import ConfigError
from tests.smime_pki import Party, Pki, make_leaf, make_pki, openssl

NOW = datetime.now(UTC)
VALID = {"not_before": NOW - timedelta(days=10), "not_after": NOW + timedelta(days=300)}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _subject(cn: str, email: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _leaf(
    pki: Pki, tmp: Path, name: str, *, emails: tuple[str, ...] = (), e: str | None = None, **dates: datetime
) -> Party:
    return make_leaf(tmp, name, pki.ca, subject=_subject(name, e), emails=emails, **(dates or VALID))


def test_found_by_san_rfc822name_case_insensitively_in_pem_der_and_cer(pki: Pki, tmp_path: Path) -> None:
    work, certs = tmp_path / "work", tmp_path / "certs"
    work.mkdir()
    certs.mkdir()
    a = _leaf(pki, work, "a", emails=("Post@Kommune.dk",))
    b = _leaf(pki, work, "b", e="sikker@firma.dk")  # only E= in the subject (older certificates)
    c = _leaf(pki, work, "c", emails=("c@x.dk",))
    (certs / "a.pem").write_bytes(a.pem.read_bytes())
    (certs / "b.der").write_bytes(b.cert.public_bytes(Encoding.DER))
    (certs / "c.cer").write_bytes(c.cert.public_bytes(Encoding.DER))
    (certs / "notes.txt").write_text("not a certificate")
    (certs / ".hidden.pem").write_bytes(a.pem.read_bytes())
    directory = CertificateDirectory(certs)
    found = directory.lookup("post@kommune.DK", NOW)
    assert [f.source for f in found] == ["a.pem"]
    assert found[0].der == a.cert.public_bytes(Encoding.DER)
    assert found[0].not_after == a.cert.not_valid_after_utc
    assert [f.source for f in directory.lookup("SIKKER@firma.dk", NOW)] == ["b.der"]
    assert [f.source for f in directory.lookup("c@x.dk", NOW)] == ["c.cer"]
    assert directory.lookup("nobody@kommune.dk", NOW) == []


def test_expired_and_not_yet_valid_certificates_are_ignored_the_renewed_one_is_used(
    pki: Pki, tmp_path: Path
) -> None:
    old = _leaf(
        pki,
        tmp_path,
        "old",
        emails=("p@k.dk",),
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=1),
    )
    new = _leaf(pki, tmp_path, "new", emails=("p@k.dk",))
    future = _leaf(
        pki,
        tmp_path,
        "future",
        emails=("p@k.dk",),
        not_before=NOW + timedelta(days=5),
        not_after=NOW + timedelta(days=400),
    )
    certs = tmp_path / "certs"
    certs.mkdir()
    bundle = old.pem.read_bytes() + new.pem.read_bytes() + future.pem.read_bytes()
    (certs / "bundle.pem").write_bytes(bundle)
    directory = CertificateDirectory(certs)
    assert [f.subject for f in directory.lookup("p@k.dk", NOW)] == ["CN=new"]
    assert [f.subject for f in directory.lookup("p@k.dk", NOW + timedelta(days=10))] == [
        "CN=new",
        "CN=future",
    ]
    assert directory.lookup("p@k.dk", NOW + timedelta(days=1000)) == []


def test_cached_then_reread_when_the_directory_changed(pki: Pki, tmp_path: Path) -> None:
    clock = [0.0]
    certs = tmp_path / "certs"
    certs.mkdir()
    directory = CertificateDirectory(certs, refresh_seconds=60, monotonic=lambda: clock[0])
    assert directory.lookup("late@k.dk", NOW) == []
    late = _leaf(pki, tmp_path, "late", emails=("late@k.dk",))
    (certs / "late.pem").write_bytes(late.pem.read_bytes())
    clock[0] = 59.0
    assert directory.lookup("late@k.dk", NOW) == []  # cached
    clock[0] = 61.0
    assert [f.source for f in directory.lookup("late@k.dk", NOW)] == ["late.pem"]


def test_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recipient certificate directory"):
        CertificateDirectory(tmp_path / "absent").lookup("a@b.dk", NOW)


def test_addresses_of_a_certificate_without_any(pki: Pki) -> None:
    assert certificate_addresses(pki.org.cert) == frozenset()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_sealed_to_the_looked_up_certificate_opens_and_verifies_with_openssl(
    pki: Pki, tmp_path: Path
) -> None:
    rec = _leaf(pki, tmp_path, "rec", emails=("post@kommune.dk",))
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "rec.pem").write_bytes(rec.pem.read_bytes())
    found = CertificateDirectory(certs).lookup("post@kommune.dk", NOW)
    mail = (
        b"From: dp@sandby.dk\r\nTo: post@kommune.dk\r\nSubject: Sikker post\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHej kommune.\r\n"
    )
    sealed = SmimeSealer(load_signing_key(pki.org.both, None)).seal(mail, found, NOW)
    assert b"Hej kommune" not in sealed
    decrypted = openssl("cms", "-decrypt", "-recip", rec.pem, "-inkey", rec.key_pem, input=sealed)
    content = openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=decrypted)
    assert b"Hej kommune." in content
