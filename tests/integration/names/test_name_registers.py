"""The Datafordeler and CVR adapters against their emulators over loopback TLS: the token endpoint demands
the client certificate (mutual TLS with the sandbox CA), the statuses come out as issue 20 says (protected,
dead/emigrated → inactive, ceased company → inactive without a name, unknown), and failures become
core.errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph_dpg.adapters.cvr import CvrSearch
from graph_dpg.adapters.datafordeler import DatafordelerCpr
from graph_dpg.core.errors import AuthError, TransientError
from graph_dpg.sandbox.cvr import SANDBOX_PASSWORD, SANDBOX_USER, UNKNOWN_CVR, RunningCvr, running_cvr
from graph_dpg.sandbox.datafordeler import (
    SANDBOX_CLIENT_ID,
    UNKNOWN_CPR,
    RunningDatafordeler,
    running_datafordeler,
)
from graph_dpg.sandbox.ngdp import SandboxPki, generate_test_pki
from graph_dpg.services.names import NameService


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_test_pki(tmp_path_factory.mktemp("names-pki"))


@pytest.fixture(scope="module")
def datafordeler(pki: SandboxPki) -> Iterator[RunningDatafordeler]:
    with running_datafordeler(
        server_cert=pki.server_cert, server_key=pki.server_key, ca_cert=pki.ca_cert
    ) as df:
        yield df


@pytest.fixture(scope="module")
def cvr(pki: SandboxPki) -> Iterator[RunningCvr]:
    with running_cvr(server_cert=pki.server_cert, server_key=pki.server_key) as running:
        yield running


def cpr_client(
    df: RunningDatafordeler,
    pki: SandboxPki,
    *,
    certificate: str | None = None,
    sector: str = "public",
    client_id: str = SANDBOX_CLIENT_ID,
) -> DatafordelerCpr:
    return DatafordelerCpr(
        token_url=df.token_url,
        graphql_base_url=df.graphql_base_url,
        client_id=client_id,
        certificate_path=certificate or str(pki.client.p12),
        certificate_password=pki.client.p12_password,
        ca_bundle=pki.ca_cert,
        sector=sector,  # type: ignore[arg-type]
    )


def cvr_client(running: RunningCvr, pki: SandboxPki, password: str = SANDBOX_PASSWORD) -> CvrSearch:
    return CvrSearch(
        base_url=running.base_url, username=SANDBOX_USER, password=password, ca_bundle=pki.ca_cert
    )


async def test_cpr_statuses_from_the_public_sector_service(
    datafordeler: RunningDatafordeler, pki: SandboxPki
) -> None:
    client = cpr_client(datafordeler, pki)
    try:
        active = await client.lookup("0101708881")
        protected = await client.lookup("0202804442")
        dead = await client.lookup("0303405553")
        emigrated = await client.lookup("0404656664")
        unknown = await client.lookup(UNKNOWN_CPR)
    finally:
        await client.aclose()
    assert (active.status, active.name) == ("active", "Jens Hansen")
    # The public-sector service returns a protected person's name; the gateway never shows it.
    assert (protected.status, protected.name) == ("protected", None)
    assert (dead.status, dead.name) == ("inactive", None)
    assert (emigrated.status, emigrated.name) == ("inactive", None)
    assert (unknown.status, unknown.name) == ("unknown", None)


async def test_one_token_serves_many_lookups(datafordeler: RunningDatafordeler, pki: SandboxPki) -> None:
    before = datafordeler.state.tokens_issued
    client = cpr_client(datafordeler, pki, sector="private")
    try:
        for _ in range(3):
            assert (await client.lookup("0101708881")).name == "Jens Hansen"
        # Private sector: the service itself leaves the protected person's name out (confluence pageId=17138963).
        assert (await client.lookup("0202804442")).status == "protected"
    finally:
        await client.aclose()
    assert datafordeler.state.tokens_issued == before + 1


async def test_token_endpoint_refuses_a_client_without_the_right_certificate(
    datafordeler: RunningDatafordeler, pki: SandboxPki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger = generate_test_pki(tmp_path_factory.mktemp("stranger-pki"))  # a client cert of another CA
    client = cpr_client(datafordeler, pki, certificate=str(stranger.client.p12))
    issued = datafordeler.state.tokens_issued
    try:
        # With TLS 1.3 the refusal reaches the client after its side of the handshake, as a closed
        # connection (TransientError) or a TLS alert (AuthError), as for NgDP.
        with pytest.raises((AuthError, TransientError)) as caught:
            await client.lookup("0101708881")
    finally:
        await client.aclose()
    assert datafordeler.state.tokens_issued == issued
    assert caught.value.service == "datafordeler"
    assert "0101708881" not in str(caught.value)


async def test_unknown_client_id_is_an_auth_error(datafordeler: RunningDatafordeler, pki: SandboxPki) -> None:
    client = cpr_client(datafordeler, pki, client_id="someone-else")
    try:
        with pytest.raises(AuthError):
            await client.lookup("0101708881")
    finally:
        await client.aclose()


async def test_cvr_statuses(cvr: RunningCvr, pki: SandboxPki) -> None:
    client = cvr_client(cvr, pki)
    try:
        active = await client.lookup("12345674")
        ceased = await client.lookup("13748136")
        unknown = await client.lookup(UNKNOWN_CVR)
    finally:
        await client.aclose()
    assert (active.status, active.name) == ("active", "Eksempel Handel ApS")
    assert (ceased.status, ceased.name) == ("inactive", None)
    assert (unknown.status, unknown.name) == ("unknown", None)


async def test_cvr_wrong_password_is_an_auth_error(cvr: RunningCvr, pki: SandboxPki) -> None:
    client = cvr_client(cvr, pki, password="wrong")
    try:
        with pytest.raises(AuthError):
            await client.lookup("12345674")
    finally:
        await client.aclose()


async def test_a_failing_service_gives_status_error_and_is_not_cached(
    cvr: RunningCvr, pki: SandboxPki
) -> None:
    client = cvr_client(cvr, pki)
    service = NameService([client], ttl_seconds=60, error_ttl_seconds=0)
    cvr.state.fail_next = 1
    try:
        failed = await service.lookup("12345674")
        again = await service.lookup("12345674")
    finally:
        await service.aclose()
    assert failed.status == "error" and failed.name is None
    assert failed.reason is not None and "503" in failed.reason
    assert (again.status, again.name) == ("active", "Eksempel Handel ApS")


async def test_transient_error_type(cvr: RunningCvr, pki: SandboxPki) -> None:
    client = cvr_client(cvr, pki)
    cvr.state.fail_next = 1
    try:
        with pytest.raises(TransientError):
            await client.lookup("12345674")
    finally:
        await client.aclose()
