"""OCES subjects read as signers (docs/facts/smime.md, "OCES3 subjects") and S/MIME shapes from content
types (RFC 8551 3.2-3.5)."""

from __future__ import annotations

import pytest

from graph_dpg.domain.smime import CertificateHolder, Signer, SmimeKind, smime_kind


def test_oces3_organisation_certificate_as_published_by_skatteforvaltningen() -> None:
    signer = Signer.from_subject(
        "CN=Erhvervssystemet Test",
        common_name="Erhvervssystemet Test (systemcertifikat)",
        organisation="Skatteforvaltningen",
        serial_number="UI:DK-O:G:409d7cc4-4e01-464b-a629-303f7329fed5",
        organization_identifier="NTRDK-19552101",
    )
    assert signer.holder is CertificateHolder.ORGANISATION
    assert signer.cvr == "19552101" and signer.uuid == "409d7cc4-4e01-464b-a629-303f7329fed5"
    assert signer.describe("da").startswith("Skatteforvaltningen (Erhvervssystemet Test")
    assert "organisationscertifikat, CVR 19552101" in signer.describe("da")
    assert "organisation certificate, CVR 19552101" in signer.describe("en")


def test_oces3_employee_certificate_from_seal_net_tests() -> None:
    signer = Signer.from_subject(
        "CN=Thormund Nissen",
        common_name="Thormund Nissen",
        organisation="Testorganisation nr. 91026150",
        serial_number="UI:DK-E:G:dc7f4a98-d4f9-4d77-84f9-ae83c4e0bf61",
    )
    assert signer.holder is CertificateHolder.EMPLOYEE and signer.cvr is None
    # Danish receipts and overviews carry no English words (the catalogue, domain/texts.py).
    assert "medarbejdercertifikat" in signer.describe("da") and "employee" not in signer.describe("da")
    assert "employee certificate" in signer.describe("en")


@pytest.mark.parametrize(
    ("serial", "organisation", "holder", "cvr"),
    [
        (
            "CVR:30808460-UID:25351738",
            "NETS DANID A/S // CVR:30808460",
            CertificateHolder.ORGANISATION,
            "30808460",
        ),
        (
            "CVR:30808460-RID:42634739",
            "NETS DANID A/S // CVR:30808460",
            CertificateHolder.EMPLOYEE,
            "30808460",
        ),
        ("PID:9208-2002-2-123456789012", "Ingen organisatorisk tilknytning", CertificateHolder.PERSON, None),
        ("something else", "Acme", CertificateHolder.UNKNOWN, None),
    ],
)
def test_oces2_subjects(serial: str, organisation: str, holder: CertificateHolder, cvr: str | None) -> None:
    signer = Signer.from_subject("x", organisation=organisation, serial_number=serial)
    assert signer.holder is holder and signer.cvr == cvr


@pytest.mark.parametrize(
    ("ctype", "params", "filename", "kind"),
    [
        ("application/pkcs7-mime", {"smime-type": "enveloped-data"}, None, SmimeKind.ENVELOPED),
        ("application/x-pkcs7-mime", {"smime-type": "authEnveloped-data"}, None, SmimeKind.ENVELOPED),
        ("application/pkcs7-mime", {"smime-type": "signed-data"}, None, SmimeKind.SIGNED_OPAQUE),
        ("application/pkcs7-mime", {}, "smime.p7m", SmimeKind.UNKNOWN_P7M),
        ("multipart/signed", {"protocol": "application/pkcs7-signature"}, None, SmimeKind.SIGNED_DETACHED),
        ("multipart/signed", {"protocol": "application/pgp-signature"}, None, None),
        ("application/octet-stream", {}, "smime.p7m", SmimeKind.UNKNOWN_P7M),
        ("text/plain", {}, None, None),
    ],
)
def test_smime_kind(ctype: str, params: dict[str, str], filename: str | None, kind: SmimeKind | None) -> None:
    assert smime_kind(ctype, params, filename) is kind
