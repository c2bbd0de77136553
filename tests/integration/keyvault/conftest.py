"""The fixtures of the Key Vault tests: the test PKI, the organisation's renewed certificate, the vault's
HTTPS certificate, and the emulator serving a ``VaultState`` (its token from ``vault_token``; a test module
overrides that fixture for another identity)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from graph_dpg.sandbox.keyvault import RunningVault, VaultState, serve
from tests.keyvault_support import KV_TOKEN, tls_files
from tests.smime_pki import Party, Pki, _name, make_leaf, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def renewed(pki: Pki) -> Party:
    """The renewed organisation certificate: valid from yesterday, for two years (outlives org and org2)."""
    now = datetime.now(UTC)
    return make_leaf(
        pki.dir,
        "org-renewed",
        pki.ca,
        subject=_name("Testkommune systemcertifikat 2027", org="Testkommune", cvr="29189846"),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=730),
    )


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
