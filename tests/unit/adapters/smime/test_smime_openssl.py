"""S/MIME against OpenSSL, the independent counterpart: what ``openssl cms`` makes opens (or is refused
for the right reason), and what we seal opens with ``openssl cms -decrypt`` and ``-verify``.

Sources: RFC 5652 (CMS), RFC 5083/5084 (AuthEnvelopedData, AES-GCM), RFC 3560 (RSA-OAEP), RFC 4056
(RSASSA-PSS), RFC 8551 3.1.1 and 3.5 (canonical form, multipart/signed), RFC 8550 4.4.4 (EKU).
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph_dpg.adapters.smime import (
    SigningKey,
    TrustAnchors,
    load_decryption_keys,
    load_signing_key,
    load_trust_anchors,
    open_message,
    seal_message,
)
from graph_dpg.core.errors import (
    LimitExceededError,
    NoMatchingKeyError,
    NotMimeError,
    SecureMailError,
    UnsupportedAlgorithmError,
)
from graph_dpg.domain.smime import CertificateHolder, Verdict
from tests.smime_pki import P12_PASSWORD, Pki, make_pki, openssl, openssl_result

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

BODY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHej fra kommunen, sag om 010203-1234.\r\n"
MAIL = (
    b"From: Anne <anne@kommune.dk>\r\nTo: borger@example.dk\r\nSubject: Sikker post\r\n"
    b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" + BODY
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def body_file(pki: Pki) -> Path:
    path = pki.dir / "body.txt"
    path.write_bytes(BODY)
    return path


def _keys(pki: Pki, *parties: str) -> list:  # type: ignore[type-arg]
    return load_decryption_keys([getattr(pki, name).p12 for name in parties], P12_PASSWORD)


def _anchors(pki: Pki) -> TrustAnchors:
    return load_trust_anchors([pki.ca.pem])


def _encrypt(pki: Pki, body: Path, *options: str, to: str = "org") -> bytes:
    return openssl("cms", "-encrypt", "-in", body, "-recip", getattr(pki, to).pem, *options)


def test_openssl_aes256_cbc_rsa_pkcs1v15_opens_and_names_the_certificate(pki: Pki, body_file: Path) -> None:
    data = _encrypt(pki, body_file, "-aes256")
    opened = open_message(data, _keys(pki, "org"), _anchors(pki))
    assert opened.message.content == BODY
    (layer,) = opened.message.layers
    assert layer.kind == "encrypted" and layer.algorithm == "AES-256-CBC"
    assert layer.recipient is not None and layer.recipient.cvr == "29189846"
    assert layer.recipient.holder is CertificateHolder.ORGANISATION
    assert not opened.message.signed and opened.message.all_signatures_valid


@pytest.mark.parametrize("cipher", ["-aes128", "-aes192"])
def test_openssl_other_aes_cbc_key_sizes_open(pki: Pki, body_file: Path, cipher: str) -> None:
    opened = open_message(_encrypt(pki, body_file, cipher), _keys(pki, "org"), _anchors(pki))
    assert opened.message.content == BODY


def test_openssl_rsa_oaep_key_transport_opens(pki: Pki, body_file: Path) -> None:
    data = _encrypt(pki, body_file, "-aes256", "-keyopt", "rsa_padding_mode:oaep")
    assert b"enveloped-data" in data
    opened = open_message(data, _keys(pki, "org"), _anchors(pki))
    assert opened.message.content == BODY


def test_openssl_rsa_oaep_sha256_key_transport_opens(pki: Pki, body_file: Path) -> None:
    data = _encrypt(
        pki, body_file, "-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"
    )
    assert open_message(data, _keys(pki, "org"), _anchors(pki)).message.content == BODY


def test_openssl_aes256_gcm_auth_enveloped_data_opens(pki: Pki, body_file: Path) -> None:
    """RFC 5083: OpenSSL 3 writes smime-type=authEnveloped-data."""
    data = _encrypt(pki, body_file, "-aes-256-gcm")
    assert b"authEnveloped-data" in data
    opened = open_message(data, _keys(pki, "org"), _anchors(pki))
    assert opened.message.content == BODY and opened.message.layers[0].algorithm == "AES-256-GCM"


def test_rollover_the_second_configured_certificate_opens_and_is_named(pki: Pki, body_file: Path) -> None:
    data = _encrypt(pki, body_file, "-aes256", to="org2")
    opened = open_message(data, _keys(pki, "org", "org2"), _anchors(pki))
    layer = opened.message.layers[0]
    assert layer.recipient is not None and layer.recipient.uuid == "0b1b0207-162e-4d3d-a7f1-a19a8e07d99b"


def test_encrypted_to_someone_else_is_refused_naming_the_recipient(pki: Pki, body_file: Path) -> None:
    data = _encrypt(pki, body_file, "-aes256", to="stranger")
    with pytest.raises(NoMatchingKeyError) as caught:
        open_message(data, _keys(pki, "org"), _anchors(pki))
    assert caught.value.reason == "no-key" and "otherca" in caught.value.recipients[0]


def test_tampered_cbc_ciphertext_never_yields_the_original(pki: Pki, body_file: Path) -> None:
    """AES-CBC has no integrity (RFC 8551 2.7 leaves that to the signature): a changed last block is
    refused as damaged when its padding breaks (255 times in 256), and otherwise opens as other bytes."""
    der = openssl("cms", "-encrypt", "-in", body_file, "-aes256", "-outform", "DER", "-recip", pki.org.pem)
    tampered = der[:-20] + bytes(b ^ 0xFF for b in der[-20:])
    try:
        content = open_message(tampered, _keys(pki, "org"), _anchors(pki)).message.content
    except SecureMailError as exc:
        content = exc.reason.encode()
    assert content in (b"damaged",) or content != BODY


def test_tampered_gcm_is_refused(pki: Pki, body_file: Path) -> None:
    der = openssl(
        "cms", "-encrypt", "-in", body_file, "-aes-256-gcm", "-outform", "DER", "-recip", pki.org.pem
    )
    tampered = der[:-40] + bytes([der[-40] ^ 1]) + der[-39:]
    with pytest.raises(SecureMailError):
        open_message(tampered, _keys(pki, "org"), _anchors(pki))


def test_des_ede3_is_read_but_rc2_is_unsupported(pki: Pki, body_file: Path) -> None:
    des = _encrypt(pki, body_file, "-des3")
    assert open_message(des, _keys(pki, "org"), _anchors(pki)).message.layers[0].algorithm == "3DES-CBC"
    done = openssl_result("cms", "-encrypt", "-in", body_file, "-rc2-40", "-recip", pki.org.pem)
    if done.returncode != 0:
        pytest.skip("this OpenSSL has no RC2")
    with pytest.raises(UnsupportedAlgorithmError):
        open_message(done.stdout, _keys(pki, "org"), _anchors(pki))


@pytest.mark.parametrize("cut", [10, 100, 400])
def test_truncated_is_refused_cleanly(pki: Pki, body_file: Path, cut: int) -> None:
    data = _encrypt(pki, body_file, "-aes256")
    with pytest.raises(SecureMailError):
        open_message(data[: len(data) - cut], _keys(pki, "org"), _anchors(pki))


def _sign(pki: Pki, body: Path, signer: str, *options: str) -> bytes:
    party = getattr(pki, signer)
    return openssl("cms", "-sign", "-in", body, "-signer", party.pem, "-inkey", party.key_pem, *options)


@pytest.mark.parametrize("form", [[], ["-nodetach"]], ids=["detached", "opaque"])
def test_openssl_signature_valid_and_signer_named(pki: Pki, body_file: Path, form: list[str]) -> None:
    data = _sign(pki, body_file, "org", *form)
    opened = open_message(data, [], _anchors(pki))
    (check,) = opened.message.signatures
    assert check.verdict is Verdict.VALID, check.reason
    assert check.signer is not None and check.signer.organisation == "Testkommune"
    assert check.signer.cvr == "29189846" and check.signer.holder is CertificateHolder.ORGANISATION
    assert opened.message.layers[0].detached is (not form)
    assert b"Hej fra kommunen" in opened.message.content


def test_detached_signature_checks_canonical_crlf_of_a_file_saved_with_lf(pki: Pki, body_file: Path) -> None:
    """RFC 8551 3.1.1: the digest is over CRLF line ends, so an .eml saved with LF still verifies."""
    data = _sign(pki, body_file, "org").replace(b"\r\n", b"\n")
    (check,) = open_message(data, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.VALID, check.reason


@pytest.mark.parametrize("md", ["sha384", "sha512"])
def test_openssl_pss_signature_with_sha2_is_valid(pki: Pki, body_file: Path, md: str) -> None:
    data = _sign(pki, body_file, "org", "-md", md, "-keyopt", "rsa_padding_mode:pss")
    (check,) = open_message(data, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.VALID, check.reason
    assert check.signature_algorithm == "RSASSA-PSS" and check.digest_algorithm == md


def test_without_signed_attributes_the_signature_is_over_the_content(pki: Pki, body_file: Path) -> None:
    data = _sign(pki, body_file, "org", "-noattr", "-nodetach")
    (check,) = open_message(data, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.VALID, check.reason


def test_tampered_clear_signed_text_is_invalid(pki: Pki, body_file: Path) -> None:
    data = _sign(pki, body_file, "org").replace(b"Hej fra kommunen", b"Hej fra svindler")
    (check,) = open_message(data, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.INVALID and "changed" in check.reason


def test_tampered_signature_bytes_are_invalid(pki: Pki, body_file: Path) -> None:
    der = openssl(
        "cms", "-sign", "-in", body_file, "-signer", pki.org.pem, "-inkey", pki.org.key_pem,
        "-nodetach", "-outform", "DER",
    )  # fmt: skip
    # the RSA signature value is the last 256 bytes of this SignedData (no unsigned attributes)
    tampered = der[:-5] + bytes([der[-5] ^ 0x01]) + der[-4:]
    (check,) = open_message(tampered, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.INVALID


def test_signer_from_another_ca_is_untrusted(pki: Pki, body_file: Path) -> None:
    (check,) = open_message(_sign(pki, body_file, "stranger"), [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.UNTRUSTED


def test_without_trust_anchors_every_signature_is_untrusted(pki: Pki, body_file: Path) -> None:
    (check,) = open_message(_sign(pki, body_file, "org"), [], TrustAnchors()).message.signatures
    assert check.verdict is Verdict.UNTRUSTED and "no trust anchors" in check.reason


def test_expired_signer_is_expired_not_untrusted(pki: Pki, body_file: Path) -> None:
    data = _sign(pki, body_file, "expired")
    (check,) = open_message(data, [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.EXPIRED, check.reason


def test_checked_at_the_time_the_mail_came_the_expired_signer_was_valid(pki: Pki, body_file: Path) -> None:
    data = _sign(pki, body_file, "expired")
    at = datetime.now(UTC) - timedelta(days=10)
    (check,) = open_message(data, [], _anchors(pki), at=at).message.signatures
    assert check.verdict is Verdict.VALID, check.reason


def test_employee_certificate_with_email_protection_is_valid_and_an_employee(
    pki: Pki, body_file: Path
) -> None:
    (check,) = open_message(_sign(pki, body_file, "employee"), [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.VALID, check.reason
    assert check.signer is not None and check.signer.holder is CertificateHolder.EMPLOYEE


def test_certificate_for_web_servers_only_is_untrusted_for_mail(pki: Pki, body_file: Path) -> None:
    """RFC 8550 4.4.4: an EKU that is present must allow emailProtection."""
    (check,) = open_message(_sign(pki, body_file, "web"), [], _anchors(pki)).message.signatures
    assert check.verdict is Verdict.UNTRUSTED


def test_signed_inside_encrypted_both_layers_reported(pki: Pki, body_file: Path) -> None:
    signed = _sign(pki, body_file, "org", "-nodetach")
    inner = pki.dir / "signed.eml"
    inner.write_bytes(signed)
    data = _encrypt(pki, inner, "-aes256")
    opened = open_message(data, _keys(pki, "org"), _anchors(pki))
    assert [layer.kind for layer in opened.message.layers] == ["encrypted", "signed"]
    assert opened.message.all_signatures_valid and b"Hej fra kommunen" in opened.message.content


def test_bare_p7m_in_der_pem_and_base64(pki: Pki, body_file: Path) -> None:
    der = openssl("cms", "-encrypt", "-in", body_file, "-aes256", "-outform", "DER", "-recip", pki.org.pem)
    pem = openssl("cms", "-encrypt", "-in", body_file, "-aes256", "-outform", "PEM", "-recip", pki.org.pem)
    import base64

    for data in (der, pem, base64.encodebytes(der)):
        opened = open_message(data, _keys(pki, "org"), _anchors(pki))
        assert opened.bare_p7m and opened.message.content == BODY


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage", b"hello world", b"\x30\x82\xff\xff\x02"])
def test_not_mime_nor_p7m_or_garbage_is_a_clean_error(pki: Pki, data: bytes) -> None:
    with pytest.raises((NotMimeError, SecureMailError)):
        open_message(data, _keys(pki, "org"), _anchors(pki))


def test_deeply_nested_signatures_stop_at_the_layer_bound(pki: Pki, body_file: Path) -> None:
    current = body_file
    for depth in range(10):
        signed = _sign(pki, current, "org", "-nodetach")
        current = pki.dir / f"nested{depth}.eml"
        current.write_bytes(signed)
    with pytest.raises(LimitExceededError) as caught:
        open_message(current.read_bytes(), [], _anchors(pki))
    assert caught.value.limit == "depth"


def test_deeply_nested_asn1_is_refused_cleanly(pki: Pki) -> None:
    depth = 50_000
    nested = b"\x30\x80" * depth + b"\x00\x00" * depth
    with pytest.raises(SecureMailError):
        open_message(nested, _keys(pki, "org"), _anchors(pki))


# ------------------------------------------------------------------------------------------- sealing


def test_sealed_message_opens_with_openssl_decrypt_then_verify(pki: Pki) -> None:
    signer = load_signing_key(pki.org.p12, P12_PASSWORD)
    sealed = seal_message(MAIL, [pki.stranger.cert, pki.org2.cert], signer)
    head = sealed.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: Sikker post" in head and b"smime-type=enveloped-data" in head
    assert b"Hej fra kommunen" not in sealed
    path = pki.dir / "sealed.eml"
    path.write_bytes(sealed)
    inner = openssl("cms", "-decrypt", "-in", path, "-recip", pki.org2.pem, "-inkey", pki.org2.key_pem)
    assert b"smime-type=signed-data" in inner
    content = openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=inner)
    assert b"Hej fra kommunen" in content
    # and our own opener agrees
    opened = open_message(sealed, _keys(pki, "org2"), _anchors(pki))
    assert opened.message.all_signatures_valid and b"Hej fra kommunen" in opened.message.content


def test_sealed_with_detached_signature_verifies_with_openssl(pki: Pki) -> None:
    signer = SigningKey(pki.org.key, (pki.org.cert,))
    sealed = seal_message(MAIL, [pki.org2.cert], signer, detached=True)
    path = pki.dir / "sealed-detached.eml"
    path.write_bytes(sealed)
    inner = openssl("cms", "-decrypt", "-in", path, "-recip", pki.org2.pem, "-inkey", pki.org2.key_pem)
    assert re.search(rb"multipart/signed", inner)
    content = openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=inner)
    assert b"Hej fra kommunen" in content


def test_sealed_without_signer_is_only_encrypted(pki: Pki) -> None:
    sealed = seal_message(MAIL, [pki.org.cert], None)
    path = pki.dir / "sealed-plain.eml"
    path.write_bytes(sealed)
    inner = openssl("cms", "-decrypt", "-in", path, "-recip", pki.org.pem, "-inkey", pki.org.key_pem)
    assert inner.startswith(b"Content-Type: text/plain") and b"Hej fra kommunen" in inner


def test_tampered_multipart_signed_signature_part_is_damaged_not_a_crash(pki: Pki, body_file: Path) -> None:
    data = _sign(pki, body_file, "org")
    broken = re.sub(rb"(smime.p7s\"\n\n)[A-Za-z0-9+/]{20}", rb"\1!!!!", data)
    with pytest.raises(SecureMailError):
        open_message(broken, [], _anchors(pki))
