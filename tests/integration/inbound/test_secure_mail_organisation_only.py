"""GRAPH_DPG_SMIME_ORGANISATION_ONLY (seed 001) on the inbound path, Graph emulator and real store: a mail
signed with an employee certificate (OCES3 serialNumber UI:DK-E, docs/facts/smime.md "OCES3 subjects") is
routed readable with its signature shown as not accepted and why; an organisation certificate's (UI:DK-O)
stays valid. Messages made with ``openssl cms``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graph_dpg.services.inbound import InboundService
from tests.smime_pki import Pki, make_pki, openssl

from .harness import BYG, MAIN, MONITOR, Harness, make_harness

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

TEXT = "Hej fra sagsbehandleren."


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(db_url)
    async with harness.mailbox:
        yield harness
    harness.store.close()


def service(h: Harness, pki: Pki, *, organisation_only: bool) -> InboundService:
    return h.service_with(open_mail=h.secure_opening(pki, organisation_only=organisation_only))


def signed_by(pki: Pki, who: str, subject: str, tmp_path: Path) -> bytes:
    body = tmp_path / f"{who}.txt"
    body.write_bytes(f"Content-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n".encode())
    party = getattr(pki, who)
    return openssl(
        "cms", "-sign", "-in", body, "-signer", party.pem, "-inkey", party.key_pem,
        "-from", "sag@myndighed.dk", "-to", MAIN, "-subject", subject,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("organisation_only", "who", "shown"),
    [
        (True, "employee", "signaturen accepteres ikke"),
        (True, "org2", "signaturen er gyldig"),
        (False, "employee", "signaturen er gyldig"),
    ],
)
async def test_employee_signature_is_shown_as_not_accepted_when_only_organisation_certificates_are(
    h: Harness, pki: Pki, tmp_path: Path, organisation_only: bool, who: str, shown: str
) -> None:
    subject = f"Ny byggesag {who}"
    h.tenant.deliver_mime(MAIN, signed_by(pki, who, subject, tmp_path))

    stats = await service(h, pki, organisation_only=organisation_only).run_once(pull=False)

    assert stats.errors == []
    [copy] = [m for m in h.messages(BYG) if m["subject"] == subject]  # routed, readable
    body = copy["body"]["content"]
    assert TEXT in body and shown in body
    if who == "employee":
        assert "Anne Hansen" in body
    assert h.messages(MONITOR) == []  # a policy verdict, not a failure: no alert
