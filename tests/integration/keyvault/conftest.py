"""The fixtures of the Key Vault tests: the test PKI, the organisation's renewed certificate, and (from
tests/keyvault_support.py) the vault's HTTPS certificate and the emulator serving a ``VaultState`` (its
token from ``vault_token``; a test module overrides that fixture for another identity)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.keyvault_support import tls, vault, vault_state, vault_token  # noqa: F401 (shared fixtures)
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
