"""Translation of Graph failures into the project's exception tree, and credential construction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential

from graph_dpg.adapters.graph.credentials import StaticTokenCredential, credential_from
from graph_dpg.adapters.graph.errors import (
    error_for_odata,
    error_for_status,
    error_for_transport,
    parse_retry_after,
)
from graph_dpg.core.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    MailboxFullError,
    MessageTooLargeError,
    NotFoundError,
    PermanentError,
    RejectedError,
    SyncStateExpiredError,
    ThrottledError,
    TransientError,
)


def body(code: str, message: str = "m") -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "TooManyRequests", ThrottledError),
        (503, "ServiceUnavailable", TransientError),
        (504, "GatewayTimeout", TransientError),
        (500, "InternalServerError", TransientError),
        (401, "InvalidAuthenticationToken", AuthError),
        (403, "ErrorAccessDenied", AuthError),
        (404, "ErrorItemNotFound", NotFoundError),
        (410, "Gone", SyncStateExpiredError),
        (400, "syncStateNotFound", SyncStateExpiredError),
        (400, "ErrorInvalidRecipients", RejectedError),
        (413, "RequestEntityTooLarge", RejectedError),
        (409, "ErrorFolderExists", PermanentError),
        (507, "ErrorQuotaExceeded", MailboxFullError),
        (507, "QuotaExceededException", MailboxFullError),
        (507, "InsufficientStorage", MailboxFullError),
        (500, "ErrorQuotaExceeded", MailboxFullError),
        (400, "ErrorQuotaExceeded", MailboxFullError),
    ],
)
def test_status_and_code_map_to_domain_errors(status: int, code: str, kind: type[Exception]) -> None:
    err = error_for_status(status, body(code, "what happened"), what="op")
    assert type(err) is kind
    assert err.service == "graph"
    assert err.status == status
    assert err.code == code
    assert "what happened" in err.message
    assert err.details["error"]["code"] == code  # type: ignore[index]


def test_throttled_carries_fractional_retry_after() -> None:
    err = error_for_status(429, body("TooManyRequests"), httpx.Headers({"Retry-After": "2.128"}))
    assert isinstance(err, ThrottledError)
    assert err.retry_after == pytest.approx(2.128)


def test_non_json_error_body_is_kept_as_text() -> None:
    err = error_for_status(502, b"<html>bad gateway</html>")
    assert isinstance(err, TransientError)
    assert err.code is None
    assert "bad gateway" in err.message


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30


def test_transport_errors() -> None:
    req = httpx.Request("POST", "https://graph.microsoft.com/v1.0/users/x/sendMail")
    connect = error_for_transport(httpx.ConnectError("refused", request=req), "POST")
    assert type(connect) is TransientError
    # The body may have reached Graph: a non-idempotent request is ambiguous.
    read = error_for_transport(httpx.ReadTimeout("slow", request=req), "POST")
    assert type(read) is AmbiguousOutcomeError
    assert type(error_for_transport(httpx.ReadTimeout("slow", request=req), "GET")) is TransientError


def test_sdk_odata_error_is_translated() -> None:
    from msgraph.generated.models.o_data_errors.main_error import MainError
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    exc = ODataError()
    exc.response_status_code = 404
    exc.error = MainError(
        code="ErrorItemNotFound", message="The specified object was not found in the store."
    )
    err = error_for_odata(exc)
    assert isinstance(err, NotFoundError)
    assert err.code == "ErrorItemNotFound"
    assert "not found in the store" in err.message


async def test_static_token_credential() -> None:
    cred = StaticTokenCredential("sandbox-token")
    token = await cred.get_token("https://graph.microsoft.com/.default", enable_cae=True)
    assert token.token == "sandbox-token"
    assert token.expires_on > datetime.now(UTC).timestamp()
    assert cred.calls == 1


async def test_credential_factory_builds_each_kind() -> None:
    secret = credential_from("client_secret", tenant_id="t", client_id="c", client_secret="s")
    assert isinstance(secret, ClientSecretCredential)
    mi = credential_from(
        "managed_identity", managed_identity_client_id="11111111-1111-1111-1111-111111111111"
    )
    assert isinstance(mi, ManagedIdentityCredential)
    await secret.close()
    await mi.close()


def _self_signed_pem(key_type: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = (
        rsa.generate_private_key(65537, 2048)
        if key_type == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "graph-dpg test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)


def test_credential_factory_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_bytes(_self_signed_pem("rsa"))
    cred = credential_from("certificate", tenant_id="t", client_id="c", certificate_path=str(pem))
    assert isinstance(cred, CertificateCredential)
    ec_pem = tmp_path / "ec.pem"
    ec_pem.write_bytes(_self_signed_pem("ec"))
    with pytest.raises(ConfigError, match="RSA"):
        credential_from("certificate", tenant_id="t", client_id="c", certificate_path=str(ec_pem))
    with pytest.raises(ConfigError, match="cannot be used"):
        credential_from(
            "certificate", tenant_id="t", client_id="c", certificate_path=str(tmp_path / "no.pem")
        )


def test_credential_factory_names_what_is_missing() -> None:
    with pytest.raises(ConfigError) as info:
        credential_from("certificate", tenant_id="t")
    assert "client_id" in str(info.value)
    assert any("certificate_path" in p for p in info.value.problems)
    with pytest.raises(ConfigError, match="unknown credential kind"):
        credential_from("password")


@pytest.mark.parametrize("status", [400, 413])
def test_error_message_size_exceeded_is_message_too_large(status: int) -> None:
    # microsoft-graph-docs-contrib issue 2561 (code and text), motze92/office365-mail issue 39 (400)
    body = {
        "error": {
            "code": "ErrorMessageSizeExceeded",
            "message": "The message exceeds the maximum supported size.",
        }
    }
    err = error_for_status(status, json.dumps(body).encode(), what="add attachment")
    assert isinstance(err, MessageTooLargeError) and isinstance(err, RejectedError)
    assert err.code == "ErrorMessageSizeExceeded"
    # the 4 MB request limit is another refusal: the request, not the message, is too big
    other = error_for_status(413, b'{"error": {"code": "BadRequest", "message": "too long"}}')
    assert type(other) is RejectedError
