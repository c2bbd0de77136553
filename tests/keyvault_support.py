"""Helpers for tests against the Key Vault emulator: its HTTPS certificate (``trustme``; the Azure SDK sends
bearer tokens over https only) and certificate secrets as Key Vault stores them — PKCS#12 without password,
base64 (content type application/x-pkcs12), or PEM with the key (application/x-pem-file)
(learn.microsoft.com/azure/key-vault/certificates/about-certificates)."""

from __future__ import annotations

import base64
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.smime_pki import Party

KV_TOKEN = "kv-test-token"


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """Server certificate, its key and the test CA for 127.0.0.1 (the CA goes to ``connection_verify``)."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_pem = directory / "server.pem", directory / "server.key", directory / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    return cert, key, ca_pem


def pfx_b64(party: Party) -> str:
    data = pkcs12.serialize_key_and_certificates(
        party.name.encode(), party.key, party.cert, None, serialization.NoEncryption()
    )
    return base64.b64encode(data).decode()


def pem_text(party: Party) -> str:
    key = party.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (key + party.cert.public_bytes(serialization.Encoding.PEM)).decode()
