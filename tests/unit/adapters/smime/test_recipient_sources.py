"""Recipient certificates from contacts and LDAP, and the chain with its cache (adapters/smime/recipients.py,
contacts.py, ldap.py, sources.py).

Sources: [MS-OXOABK] 2.2.4.36 (PidTagUserX509Certificate: DER SignedData when the first byte is 0x30,
else TAG/LENGTH/DATA settings) and 2.2.4.36.9 (SignCertificate, TAG 0x0008); RFC 2798 2.8
(userSMIMECertificate, PKCS#7); RFC 4523 2.1 (userCertificate;binary); RFC 4515 3 (filter escaping).
LDAP runs on ldap3's MOCK_SYNC strategy: no network.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ldap3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.smime.contacts import ContactCertificates
from graph_dpg.adapters.smime.ldap import LdapCertificates, search_filter
from graph_dpg.adapters.smime.recipients import (
    MAX_CERTIFICATE_BYTES,
    MAX_VALUES,
    capped_values,
    certificates_from_pkcs7,
    certificates_from_user_x509,
    recipient_certificates,
)
from graph_dpg.adapters.smime.sources import CertificateSources, Source, blocking_source, mailbox_source
from graph_dpg.core.errors import AuthError, TransientError
from graph_dpg.ports.secure_send import RecipientCertificate
from tests.smime_pki import Party, Pki, make_leaf, make_pki, openssl

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ADDRESS = "post@kommune.dk"
MAILBOX = "borgerservice@kommune.dk"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _leaf(
    pki: Pki,
    tmp: Path,
    name: str,
    email: str = ADDRESS,
    *,
    serial: str | None = None,
    not_after: datetime = NOW + timedelta(days=300),
) -> Party:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return make_leaf(
        tmp,
        name,
        pki.ca,
        subject=x509.Name(attrs),
        not_before=NOW - timedelta(days=10),
        not_after=not_after,
        emails=(email,),
    )


def _der(party: Party) -> bytes:
    return party.cert.public_bytes(Encoding.DER)


def _settings_blob(*settings: tuple[int, bytes]) -> bytes:
    return b"".join(struct.pack("<HH", tag, 4 + len(data)) + data for tag, data in settings)


# ---------------------------------------------------------------------------------- contact property shapes


def test_outlook_security_settings_blob_yields_the_sign_certificate(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    blob = _settings_blob(
        (0x0001, struct.pack("<I", 1)),  # version
        (0x0004, b"\x11" * 20),  # a SHA-1 hash setting: ignored
        (0x0008, _der(a)),  # SignCertificate
        (0x7777, b"unknown"),  # unknown tags MUST be ignored
    )
    assert certificates_from_user_x509(blob) == [_der(a)]


def test_signed_data_value_yields_its_certificates(pki: Pki, tmp_path: Path) -> None:
    a, b = _leaf(pki, tmp_path, "a"), _leaf(pki, tmp_path, "b")
    both = tmp_path / "both.pem"
    both.write_bytes(a.pem.read_bytes() + b.pem.read_bytes())
    p7 = openssl("crl2pkcs7", "-nocrl", "-certfile", both, "-outform", "DER")
    assert p7[0] == 0x30
    assert certificates_from_user_x509(p7) == [_der(a), _der(b)]
    assert certificates_from_pkcs7(p7) == [_der(a), _der(b)]


def test_bare_der_certificate_is_accepted_and_damage_yields_nothing(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    assert certificates_from_user_x509(_der(a)) == [_der(a)]
    assert certificates_from_user_x509(b"") == []
    assert certificates_from_user_x509(b"\x30\x03\x02\x01") == []  # truncated DER
    assert certificates_from_user_x509(struct.pack("<HH", 0x0008, 400) + b"short") == []  # length overruns
    assert certificates_from_user_x509(struct.pack("<HH", 0x0008, 2)) == []  # length below the header
    assert certificates_from_user_x509(b"\x01" * 70_000) == []  # beyond the bound


def test_only_certificates_naming_the_address_and_valid_now_count(pki: Pki, tmp_path: Path) -> None:
    right = _leaf(pki, tmp_path, "right", "Post@Kommune.DK")
    other = _leaf(pki, tmp_path, "other", "andet@kommune.dk")
    expired = _leaf(pki, tmp_path, "expired", not_after=NOW - timedelta(days=1))
    found = recipient_certificates(
        [_der(right), _der(other), _der(expired), b"junk", _der(right)], ADDRESS, NOW, kind="ldap", source="x"
    )
    assert [(c.subject, c.kind) for c in found] == [("CN=right", "ldap")]


class FakeReader:
    def __init__(self, contacts: list[tuple[str, list[str], list[bytes]]]) -> None:
        self.contacts = contacts
        self.calls: list[tuple[str, str]] = []

    async def contact_certificates(
        self, mailbox: str, address: str
    ) -> list[tuple[str, list[str], list[bytes]]]:
        self.calls.append((mailbox, address))
        return self.contacts


def test_contacts_match_by_their_addresses_and_the_certificate_address(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    reader = FakeReader(
        [
            ("Kommunen", ["POST@kommune.dk"], [_settings_blob((0x0008, _der(a)))]),
            ("Someone else", ["x@y.dk"], [_settings_blob((0x0008, _der(a)))]),  # Graph's filter was loose
        ]
    )
    found = asyncio.run(ContactCertificates(reader).lookup(ADDRESS.upper(), NOW, mailbox=MAILBOX))
    assert [(c.kind, c.source) for c in found] == [("contacts", "contact Kommunen")]
    assert reader.calls == [(MAILBOX, ADDRESS)]


def _oversized(*certs: bytes) -> bytes:
    """A PidTagUserX509Certificate value holding real certificates, padded with unknown settings (ignored
    per [MS-OXOABK] 2.2.4.36) beyond the per-value cap: refused by its size, not by its content."""
    padding = [(0x7777, b"\x00" * 30_000)] * 3
    value = _settings_blob(*[(0x0008, c) for c in certs], *padding)
    assert len(value) > MAX_CERTIFICATE_BYTES
    return value


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "over the cap" in r.getMessage()]


def test_a_contact_value_over_the_cap_is_refused_alone_with_a_masked_logged_reason(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Inference: Outlook's own values are a few kB (a certificate); the cap only bounds what a contact or
    # directory entry can make the gateway parse.
    a, b = _leaf(pki, tmp_path, "a"), _leaf(pki, tmp_path, "b")
    big = _oversized(_der(b))
    reader = FakeReader([("Jens Hansen", [ADDRESS], [big, _settings_blob((0x0008, _der(a)))])])
    with caplog.at_level(logging.WARNING, logger="graph_dpg.adapters.smime.recipients"):
        found = asyncio.run(ContactCertificates(reader).lookup(ADDRESS, NOW, mailbox=MAILBOX))
    assert [c.subject for c in found] == ["CN=a"]  # the other value still counts
    [reason] = _refusals(caplog)
    assert "value 1 for p***@kommune.dk" in reason and f"{len(big)} bytes" in reason
    assert "Jens" not in reason and "Hansen" not in reason and ADDRESS not in reason
    assert caplog.records[0].levelno == logging.WARNING


def test_capped_values_keeps_values_up_to_the_cap_and_at_most_max_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    at_cap = b"\x30" * MAX_CERTIFICATE_BYTES
    over = at_cap + b"\x00"
    with caplog.at_level(logging.WARNING, logger="graph_dpg.adapters.smime.recipients"):
        kept = capped_values([over, at_cap, b"x"], kind="ldap", address=ADDRESS, source="cn=Jens,o=dir")
        many = capped_values([b"v"] * (MAX_VALUES + 5), kind="ldap", address=ADDRESS, source="cn=x")
    assert kept == [at_cap, b"x"]
    assert len(many) == MAX_VALUES
    assert len(_refusals(caplog)) == 1
    assert all("Jens" not in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------------------- LDAP


def _ldap(entries: dict[str, dict[str, object]], **kwargs: object) -> tuple[LdapCertificates, ldap3.Server]:
    server = ldap3.Server(f"mock-{uuid.uuid4().hex}")
    seed = ldap3.Connection(server, client_strategy=ldap3.MOCK_SYNC)
    for dn, attrs in entries.items():
        seed.strategy.add_entry(dn, attrs)

    def connect() -> ldap3.Connection:
        return ldap3.Connection(server, client_strategy=ldap3.MOCK_SYNC)

    return LdapCertificates(connect, "o=dir", **kwargs), server  # type: ignore[arg-type]


def test_ldap_finds_user_certificate_binary(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    source, _ = _ldap({"cn=a,o=dir": {"mail": ADDRESS, "userCertificate;binary": [_der(a)]}})
    [found] = source.lookup(ADDRESS, NOW)
    assert (found.kind, found.source, found.der) == ("ldap", "cn=a,o=dir", _der(a))


def test_ldap_reads_user_smime_certificate_as_pkcs7(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    p7 = openssl("crl2pkcs7", "-nocrl", "-certfile", a.pem, "-outform", "DER")
    source, _ = _ldap(
        {"cn=a,o=dir": {"mail": ADDRESS, "userSMIMECertificate": [p7]}},
        certificate_attribute="userSMIMECertificate",
    )
    assert [c.der for c in source.lookup(ADDRESS, NOW)] == [_der(a)]


def test_ldap_value_over_the_cap_is_refused_alone_with_a_masked_logged_reason(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a = _leaf(pki, tmp_path, "a")
    big = b"\x30\x82" + b"\x00" * (MAX_CERTIFICATE_BYTES + 10)  # no certificate, and too long to try
    source, _ = _ldap({"cn=Jens Hansen,o=dir": {"mail": ADDRESS, "userCertificate;binary": [big, _der(a)]}})
    with caplog.at_level(logging.WARNING, logger="graph_dpg.adapters.smime.recipients"):
        found = source.lookup(ADDRESS, NOW)
    assert [c.der for c in found] == [_der(a)]
    [reason] = _refusals(caplog)
    assert "(ldap)" in reason and f"{len(big)} bytes" in reason and "Jens" not in reason


def test_ldap_filter_escapes_the_address_so_an_injection_finds_nothing(pki: Pki, tmp_path: Path) -> None:
    a, b = _leaf(pki, tmp_path, "a"), _leaf(pki, tmp_path, "b", "b@kommune.dk")
    entries = {
        "cn=a,o=dir": {"mail": ADDRESS, "userCertificate;binary": [_der(a)]},
        "cn=b,o=dir": {"mail": "b@kommune.dk", "userCertificate;binary": [_der(b)]},
    }
    source, _ = _ldap(entries)
    # RFC 4515 3: *, (, ), \ and NUL become \2a, \28, \29, \5c, \00.
    hostile = "*)(mail=*"
    assert search_filter(hostile, ["mail"]) == r"(mail=\2a\29\28mail=\2a)"
    assert search_filter("a@b.dk", ["mail", "otherMailbox"]) == "(|(mail=a@b.dk)(otherMailbox=a@b.dk))"
    assert source.lookup(hostile, NOW) == []
    assert source.lookup("*", NOW) == []
    assert [c.source for c in source.lookup(ADDRESS, NOW)] == ["cn=a,o=dir"]


def test_ldap_size_limit_bounds_the_entries_read(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    entries = {f"cn=a{i},o=dir": {"mail": ADDRESS, "userCertificate;binary": [_der(a)]} for i in range(5)}
    source, _ = _ldap(entries, size_limit=2)
    assert len(source.lookup(ADDRESS, NOW)) <= 2


def test_ldap_unreachable_is_a_transient_error() -> None:
    def connect() -> ldap3.Connection:
        server = ldap3.Server("ldap://127.0.0.1:9", connect_timeout=1)
        return ldap3.Connection(server, receive_timeout=1, raise_exceptions=False)

    with pytest.raises(TransientError) as caught:
        LdapCertificates(connect, "o=dir").lookup(ADDRESS, NOW)
    assert caught.value.service == "ldap"


# ------------------------------------------------------------------------------------ the chain and cache


def _cert(
    kind: str, *, not_after: datetime = NOW + timedelta(days=30), der: bytes = b"x"
) -> RecipientCertificate:
    return RecipientCertificate(
        der=der,
        subject=f"CN={kind}",
        not_after=not_after,
        fingerprint=kind,
        source=kind,
        kind=kind,
        not_before=NOW - timedelta(days=1),
    )


class Counted:
    def __init__(self, kind: str, answers: list[object]) -> None:
        self.kind = kind
        self.answers = answers
        self.calls = 0

    def source(self) -> Source:
        async def find(address: str, at: datetime, mailbox: str) -> list[RecipientCertificate]:
            self.calls += 1
            answer = self.answers[min(self.calls - 1, len(self.answers) - 1)]
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, list)
            return answer

        return Source(self.kind, find)


def _lookup(chain: CertificateSources, at: datetime) -> tuple[list[str], list[str]]:
    result = asyncio.run(chain.lookup(ADDRESS, at, mailbox=MAILBOX))
    return [c.kind for c in result.certificates], result.failures


def test_first_source_with_a_certificate_answers_and_later_ones_are_not_asked() -> None:
    files, contacts, ldap = (
        Counted("file", [[]]),
        Counted("contacts", [[_cert("contacts")]]),
        Counted("ldap", [[]]),
    )
    chain = CertificateSources([files.source(), contacts.source(), ldap.source()])
    assert _lookup(chain, NOW) == (["contacts"], [])
    assert (files.calls, contacts.calls, ldap.calls) == (1, 1, 0)


def test_cache_keeps_a_certificate_until_ttl_or_its_expiry_and_an_empty_answer_briefly() -> None:
    ldap = Counted("ldap", [[_cert("ldap", not_after=NOW + timedelta(minutes=30))]])
    files = Counted("file", [[]])
    chain = CertificateSources([files.source(), ldap.source()], ttl_seconds=3600, negative_ttl_seconds=300)
    assert _lookup(chain, NOW) == (["ldap"], [])
    assert _lookup(chain, NOW + timedelta(minutes=4)) == (["ldap"], [])
    assert (files.calls, ldap.calls) == (1, 1)  # both answers cached
    assert _lookup(chain, NOW + timedelta(minutes=6)) == (["ldap"], [])
    assert (files.calls, ldap.calls) == (2, 1)  # the empty answer expired after 300 s
    # The certificate expires after 30 min (before the 1 h TTL): asked again, and not used any more.
    ldap.answers = [[]]
    ldap.calls = 0
    assert _lookup(chain, NOW + timedelta(minutes=31)) == ([], [])
    assert ldap.calls == 1


def test_a_failing_source_does_not_stop_the_others_and_is_not_cached() -> None:
    contacts = Counted("contacts", [AuthError("403 ErrorAccessDenied", service="graph", status=403)])
    ldap = Counted("ldap", [[_cert("ldap")]])
    chain = CertificateSources([contacts.source(), ldap.source()])
    kinds, failures = _lookup(chain, NOW)
    assert kinds == ["ldap"] and len(failures) == 1 and "contacts" in failures[0] and "403" in failures[0]
    _lookup(chain, NOW + timedelta(seconds=1))
    assert contacts.calls == 2  # the failure is asked again; the LDAP answer came from the cache
    assert ldap.calls == 1


def test_nothing_found_and_a_source_failed_reports_the_failure() -> None:
    ldap = Counted("ldap", [TransientError("LDAP unreachable", service="ldap")])
    chain = CertificateSources([Counted("file", [[]]).source(), ldap.source()])
    assert _lookup(chain, NOW) == ([], ["ldap: [ldap] LDAP unreachable"])


def test_organisation_only_refuses_employee_certificates_from_any_source(pki: Pki, tmp_path: Path) -> None:
    employee = _leaf(pki, tmp_path, "emp", serial=f"UI:DK-E:G:{uuid.uuid4()}")
    org = _leaf(pki, tmp_path, "org", serial=f"UI:DK-O:G:{uuid.uuid4()}")
    as_found = recipient_certificates([_der(employee)], ADDRESS, NOW, kind="contacts", source="c")
    org_found = recipient_certificates([_der(org)], ADDRESS, NOW, kind="ldap", source="l")
    sources = [Counted("contacts", [as_found]).source(), Counted("ldap", [org_found]).source()]
    assert _lookup(CertificateSources(sources, organisation_only=True), NOW)[0] == ["ldap"]
    assert _lookup(CertificateSources(sources, organisation_only=False), NOW)[0] == ["contacts"]


def test_blocking_and_mailbox_sources_adapt_the_two_shapes(pki: Pki, tmp_path: Path) -> None:
    a = _leaf(pki, tmp_path, "a")
    ldap, _ = _ldap({"cn=a,o=dir": {"mail": ADDRESS, "userCertificate;binary": [_der(a)]}})
    reader = FakeReader([])
    chain = CertificateSources(
        [mailbox_source(ContactCertificates(reader), "contacts"), blocking_source(ldap, "ldap")]
    )
    assert _lookup(chain, NOW) == (["ldap"], [])
    assert reader.calls == [(MAILBOX, ADDRESS)]
