"""The Graph emulator's MIME reader is bounded: a clear-signed mail nested 2,000 deep (the stdlib parser
recurses once per level) is answered with a 400, never a RecursionError out of the emulator. Microsoft
publishes no nesting limit: the limit (mime.MAX_MIME_DEPTH) is an inference; the code is the one EWS gives
MIME it cannot convert (ResponseCodeType ErrorMimeContentConversionFailed)."""

from __future__ import annotations

import base64

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph.mime import MAX_MIME_DEPTH
from graph_dpg.sandbox.graph.tenant import GraphApiError

from .conftest import FUNC, OTHER


def _clear_signed(depth: int) -> bytes:
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHej.\r\n"
    for level in range(depth):
        b = f"lvl{level}".encode()
        inner = (
            b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
            b'boundary="'
            + b
            + b'"\r\n\r\n--'
            + b
            + b"\r\n"
            + inner
            + b"\r\n--"
            + b
            + b"\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nAAAA\r\n--"
            + b
            + b"--\r\n"
        )
    return (
        b"From: anne@example.dk\r\nTo: "
        + OTHER.encode()
        + b"\r\nSubject: dyb\r\nMIME-Version: 1.0\r\n"
        + inner
    )


async def test_sendmail_with_mime_nested_2000_deep_is_400_mime_conversion_failed_inference(
    client: httpx.AsyncClient, tenant: GraphTenant
) -> None:
    r = await client.post(
        f"/users/{FUNC}/sendMail",
        content=base64.b64encode(_clear_signed(2000)),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorMimeContentConversionFailed"
    assert tenant.messages(OTHER, "inbox") == []  # nothing half-delivered


def test_delivered_mime_just_past_the_limit_is_refused_and_at_the_limit_stored(tenant: GraphTenant) -> None:
    with pytest.raises(GraphApiError) as refused:
        tenant.deliver_mime(FUNC, _clear_signed(MAX_MIME_DEPTH + 1))
    assert refused.value.code == "ErrorMimeContentConversionFailed"
    mid = tenant.deliver_mime(FUNC, _clear_signed(MAX_MIME_DEPTH - 1))
    assert tenant.message(FUNC, mid)["subject"] == "dyb"
