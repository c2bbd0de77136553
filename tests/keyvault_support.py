"""Helpers for tests against the Key Vault emulator: its HTTPS certificate (``trustme``; the Azure SDK sends
bearer tokens over https only) and certificate secrets as Key Vault stores them — PKCS#12 without password,
base64 (content type application/x-pkcs12), or PEM with the key (application/x-pem-file)
(learn.microsoft.com/azure/key-vault/certificates/about-certificates).

The fixtures serving the emulator (``tls``, ``vault_token``, ``vault_state``, ``vault``) are shared by the
Key Vault tests: a module (or conftest) imports them by name; a module overrides ``vault_token`` for
another identity."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from graph_dpg.sandbox.keyvault import RunningVault, VaultState, serve
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


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return tls_files(tmp_path_factory.mktemp("kv-tls"))


@pytest.fixture
def vault_token() -> str:
    return KV_TOKEN


@pytest.fixture
def vault_state(vault_token: str) -> VaultState:
    return VaultState(token=vault_token)


@pytest.fixture
def vault(vault_state: VaultState, tls: tuple[Path, Path, Path]) -> Iterator[RunningVault]:
    with serve(vault_state, certfile=tls[0], keyfile=tls[1]) as running:
        yield running
