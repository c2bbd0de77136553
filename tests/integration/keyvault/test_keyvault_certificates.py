"""The organisation's S/MIME certificates from Key Vault, end to end over HTTPS: the real
``azure-keyvault-secrets`` client (its 401 challenge flow included) against the Key Vault emulator
(graph_dpg/sandbox/keyvault), a test CA from ``trustme`` passed as ``connection_verify``. Mail is encrypted
with ``openssl cms`` (the independent counterpart) and opened with the keys read from the vault.

Sources: a certificate's private key is read as the secret of the same name, base64 PFX without password
(learn.microsoft.com/azure/key-vault/certificates/about-certificates); get-secret and get-secret-versions
(learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret); 401/403 (learn.microsoft.com/azure/
key-vault/general/rest-error-codes).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from graph_dpg.adapters.graph import StaticTokenCredential
from graph_dpg.adapters.smime import (
    DecryptionKey,
    OrganisationKeyring,
    SmimeOpener,
    SmimeSealer,
    TrustAnchors,
)
from graph_dpg.adapters.smime.keyvault import KeyVaultCertificates
from graph_dpg.core.errors import AuthError, ConfigError, NoMatchingKeyError, TransientError
from graph_dpg.ports.secure_send import RecipientCertificate
from graph_dpg.sandbox.keyvault import RunningVault, VaultState
from tests.keyvault_support import KV_TOKEN, pem_text, pfx_b64
from tests.smime_pki import Party, Pki, openssl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

TOKEN = KV_TOKEN
TEXT = "Hej fra Byg og Miljø, her er sagen."
BODY = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode()


@pytest.fixture
async def source_for(vault: RunningVault, tls: tuple[Path, Path, Path]) -> AsyncIterator[object]:
    made: list[KeyVaultCertificates] = []

    def make(*names: str, token: str = TOKEN, older: int = 2) -> KeyVaultCertificates:
        source = KeyVaultCertificates(
            vault.url,
            StaticTokenCredential(token),
            names,
            older_versions=older,
            connection_verify=str(tls[2]),
        )
        made.append(source)
        return source

    yield make
    for source in made:
        await source.aclose()


def encrypted_to(party: Party, body: Path) -> bytes:
    return openssl("cms", "-encrypt", "-aes256", "-in", body, "-recip", party.pem, "-subject", "Sag 7")


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.txt"
    path.write_bytes(BODY)
    return path


async def test_two_certificates_from_key_vault_open_mail_encrypted_to_either(
    vault_state: VaultState, source_for: object, pki: Pki, body_file: Path
) -> None:
    vault_state.set_secret("smime-2025", pfx_b64(pki.org), content_type="application/x-pkcs12")
    vault_state.set_secret("smime-2026", pem_text(pki.org2), content_type="application/x-pem-file")
    ring = OrganisationKeyring(vault_configured=True)
    source = source_for("smime-2025", "smime-2026")  # type: ignore[operator]

    assert await source.refresh(ring) is None

    assert [c.certificate for c in ring.certificates] == [pki.org.cert, pki.org2.cert]
    opener = SmimeOpener(ring, TrustAnchors((pki.ca.cert,)))
    for party in (pki.org, pki.org2):
        opened = opener.open(encrypted_to(party, body_file), datetime.now(UTC))
        assert TEXT.encode() in opened.content
        assert opened.layers[0].recipient_fingerprint  # encrypted to a certificate we hold
    # The SDK met the 401 challenge first (a request without a token), then sent the bearer token.
    assert vault_state.requests[0][2] is False and all(had for _, _, had in vault_state.requests[1:])


async def test_signing_uses_the_valid_certificate_that_lasts_longest(
    vault_state: VaultState, source_for: object, pki: Pki, renewed: Party, body_file: Path
) -> None:
    vault_state.set_secret("smime-old", pfx_b64(pki.org), content_type="application/x-pkcs12")
    vault_state.set_secret("smime-new", pfx_b64(renewed), content_type="application/x-pkcs12")
    vault_state.set_secret("smime-expired", pfx_b64(pki.expired), content_type="application/x-pkcs12")
    ring = OrganisationKeyring(vault_configured=True)
    assert await source_for("smime-old", "smime-expired", "smime-new").refresh(ring) is None  # type: ignore[operator]
    now = datetime.now(UTC)

    chosen = ring.signing_certificate(now)

    assert chosen is not None and chosen.certificate == renewed.cert
    # What the sealer signs with is that certificate: the recipient (org2 here) sees it as the signer.
    recipient = RecipientCertificate(
        der=pki.org2.cert.public_bytes(serialization.Encoding.DER),
        subject="org2",
        not_after=pki.org2.cert.not_valid_after_utc,
        fingerprint="",
        source="test",
    )
    sealed = SmimeSealer(ring).seal(b"Subject: t\r\n" + BODY, [recipient], now)
    reader = SmimeOpener([DecryptionKey(pki.org2.cert, pki.org2.key)], TrustAnchors((pki.ca.cert,)))
    [check] = reader.open(sealed, now).signatures
    assert check.signer is not None and "2027" in check.signer.subject


async def test_a_refresh_picks_up_a_renewed_version_and_keeps_the_older_for_decryption(
    vault_state: VaultState, source_for: object, pki: Pki, renewed: Party, body_file: Path
) -> None:
    vault_state.set_secret("smime", pfx_b64(pki.org), content_type="application/x-pkcs12")
    ring = OrganisationKeyring(vault_configured=True)
    source = source_for("smime")  # type: ignore[operator]
    assert await source.refresh(ring) is None
    assert ring.signing_certificate(datetime.now(UTC)).certificate == pki.org.cert  # type: ignore[union-attr]

    vault_state.set_secret(
        "smime", pfx_b64(renewed), content_type="application/x-pkcs12"
    )  # renewed in Key Vault
    assert await source.refresh(ring) is None

    assert [c.certificate for c in ring.certificates] == [renewed.cert, pki.org.cert]
    assert ring.signing_certificate(datetime.now(UTC)).certificate == renewed.cert  # type: ignore[union-attr]
    opener = SmimeOpener(ring, TrustAnchors((pki.ca.cert,)))
    # Mail encrypted to last year's certificate still opens (an older enabled version is loaded).
    assert TEXT.encode() in opener.open(encrypted_to(pki.org, body_file), None).content
    assert TEXT.encode() in opener.open(encrypted_to(renewed, body_file), None).content


async def test_older_versions_are_bounded_and_disabled_ones_skipped(
    vault_state: VaultState, source_for: object, pki: Pki, renewed: Party
) -> None:
    vault_state.set_secret("smime", pfx_b64(pki.expired), content_type="application/x-pkcs12")
    vault_state.set_secret("smime", pfx_b64(pki.org), content_type="application/x-pkcs12", enabled=False)
    vault_state.set_secret("smime", pfx_b64(pki.org2), content_type="application/x-pkcs12")
    vault_state.set_secret("smime", pfx_b64(renewed), content_type="application/x-pkcs12")
    vault_state.page_size = 2  # the listing is followed across pages (nextLink)
    ring = OrganisationKeyring(vault_configured=True)

    assert await source_for("smime", older=1).refresh(ring) is None  # type: ignore[operator]

    assert [c.certificate for c in ring.certificates] == [renewed.cert, pki.org2.cert]


async def test_403_is_an_auth_error_that_names_the_role_and_the_last_good_set_is_kept(
    vault_state: VaultState, source_for: object, pki: Pki
) -> None:
    vault_state.set_secret("smime", pfx_b64(pki.org), content_type="application/x-pkcs12")
    ring = OrganisationKeyring(vault_configured=True)
    source = source_for("smime")  # type: ignore[operator]
    assert await source.refresh(ring) is None
    vault_state.forbidden = True

    with pytest.raises(AuthError) as caught:
        await source.load()
    error = await source.refresh(ring)

    assert caught.value.status == 403 and "Key Vault Secrets User" in str(caught.value.details["fix"])
    assert isinstance(error, AuthError)
    assert [c.certificate for c in ring.certificates] == [pki.org.cert]  # kept


async def test_404_names_the_missing_secret(vault_state: VaultState, source_for: object) -> None:
    with pytest.raises(ConfigError) as caught:
        await source_for("no-such-cert").load()  # type: ignore[operator]
    assert "no-such-cert" in str(caught.value) and "404" in str(caught.value)


async def test_a_wrong_token_is_refused_as_auth_error(
    vault_state: VaultState, source_for: object, pki: Pki
) -> None:
    vault_state.set_secret("smime", pfx_b64(pki.org), content_type="application/x-pkcs12")
    with pytest.raises(AuthError) as caught:
        await source_for("smime", token="wrong").load()  # type: ignore[operator]
    assert caught.value.status == 401


async def test_a_secret_that_is_not_a_certificate_with_its_key_is_a_config_error(
    vault_state: VaultState, source_for: object, pki: Pki
) -> None:
    vault_state.set_secret("password", "hunter2", content_type="text/plain", managed=False)
    cert_only = pki.org.cert.public_bytes(serialization.Encoding.PEM).decode()
    vault_state.set_secret("no-key", cert_only, content_type="application/x-pem-file")  # non-exportable key
    for name in ("password", "no-key"):
        with pytest.raises(ConfigError) as caught:
            await source_for(name).load()  # type: ignore[operator]
        assert name in str(caught.value)
        assert "hunter2" not in str(caught.value)


async def test_an_unreachable_vault_is_transient_and_mail_waits_until_keys_are_loaded(
    vault_state: VaultState, source_for: object, vault: RunningVault, pki: Pki, body_file: Path
) -> None:
    vault_state.unavailable = True
    ring = OrganisationKeyring(vault_configured=True)
    source = source_for("smime")  # type: ignore[operator]

    error = await source.refresh(ring)

    assert isinstance(error, TransientError)
    opener = SmimeOpener(ring, TrustAnchors((pki.ca.cert,)))
    with pytest.raises(TransientError):  # not a "cannot decrypt" banner: retried once Key Vault answers
        opener.open(encrypted_to(pki.org, body_file), None)
    vault_state.unavailable = False
    vault_state.set_secret("smime", pfx_b64(pki.org), content_type="application/x-pkcs12")
    assert await source.refresh(ring) is None
    assert TEXT.encode() in opener.open(encrypted_to(pki.org, body_file), None).content
    with pytest.raises(NoMatchingKeyError):  # now loaded: a foreign key is a real "no matching key"
        opener.open(encrypted_to(pki.stranger, body_file), None)
