"""The NgDP push receiver: NgDP is identified by its TLS client certificate (forwarded by Container Apps'
ingress in X-Forwarded-Client-Cert) and/or its source address; a shared secret is optional, and alone only
for the sandbox. Every refused call stores nothing; the secret is compared in constant time.

Sources: learn.microsoft.com/azure/container-apps/client-certificate-authorization ("Client certificate
mode and header format": ``Hash=<SHA-256 thumbprint>;Cert="<PEM>";Chain="<PEM>"``) and ingress-overview
("HTTP headers": X-Forwarded-For, X-Forwarded-Client-Cert); NgDP's MailSystem has no push credential
(github.com/sjkp/digitalpost src/digitalpost/DigitalPostClient.cs).
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graph_dpg.adapters.digital_post import push_auth
from graph_dpg.adapters.digital_post.push import create_push_app
from graph_dpg.adapters.digital_post.push_auth import PushAuth
from graph_dpg.bootstrap import make_push_auth
from graph_dpg.config import Settings, load_settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.sandbox.ngdp import CertificateAuthority, NgdpPusher, NgdpState, generate_test_pki
from graph_dpg.sandbox.ngdp.certs import ClientCert
from graph_dpg.sandbox.ngdp.pusher import ingress_header
from graph_dpg.sandbox.ngdp.samples import sample_memo

SECRET = "push-S3cret-6b1d9f"
MEMO_PATHS = ["/memos", "/memos/", "/recipient-system"]
RECEIPT_PATHS = ["/receipts", "/receipts/", "/sender-system/receipt"]


class RecordingSink:
    def __init__(self) -> None:
        self.memos: list[str] = []
        self.receipts: list[object] = []

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        self.memos.append(memo_uuid)

    async def store_pushed_receipt(self, receipt: object) -> None:
        self.receipts.append(receipt)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


REFUSED: dict[str, dict[str, str]] = {
    "no header": {},
    "empty header": {"Authorization": ""},
    "bearer, wrong": {"Authorization": "Bearer wrong"},
    "bearer, empty": {"Authorization": "Bearer "},
    "bearer, prefix of the secret": {"Authorization": f"Bearer {SECRET[:-1]}"},
    "bearer, secret plus a character": {"Authorization": f"Bearer {SECRET}x"},
    "bearer, secret in another case": {"Authorization": f"Bearer {SECRET.upper()}"},
    "basic, wrong password": {"Authorization": basic("ngdp", "wrong")},
    "basic, secret as the user name": {"Authorization": basic(SECRET, "")},
    "basic, no colon": {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()},
    "basic, not base64": {"Authorization": "Basic %%%" + SECRET},
    "basic, secret not encoded": {"Authorization": f"Basic ngdp:{SECRET}"},
    "unknown scheme": {"Authorization": f"Token {SECRET}"},
    "secret without scheme": {"Authorization": SECRET},
    "digest": {"Authorization": f'Digest username="ngdp", response="{SECRET}"'},
}
ACCEPTED: dict[str, dict[str, str]] = {
    "bearer": {"Authorization": f"Bearer {SECRET}"},
    "bearer, lower-case scheme": {"Authorization": f"bearer {SECRET}"},
    "basic, any user": {"Authorization": basic("ngdp-system", SECRET)},
}


def _receipt_json() -> bytes:
    return json.dumps(
        {
            "transmissionId": str(uuid.uuid4()),
            "messageUUID": str(uuid.uuid4()),
            "receiptStatus": "COMPLETED",
            "receiptDateTime": "2026-11-22T12:00:00Z",
        }
    ).encode()


async def _post(app: object, path: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:  # type: ignore[arg-type]
        if path in MEMO_PATHS:
            memo = str(uuid.uuid4())
            return await c.post(
                path, files={"file": (f"{memo}.xml", b"<x/>", "application/xml")}, headers=headers
            )
        return await c.post(
            path, content=_receipt_json(), headers={**headers, "Content-Type": "application/json"}
        )


@pytest.mark.parametrize("path", MEMO_PATHS + RECEIPT_PATHS)
@pytest.mark.parametrize("how", list(REFUSED))
async def test_unauthenticated_push_is_refused_and_stores_nothing(path: str, how: str) -> None:
    sink = RecordingSink()
    response = await _post(create_push_app(sink, SECRET), path, REFUSED[how])
    assert response.status_code == 401
    assert SECRET not in response.text
    assert sink.memos == [] and sink.receipts == []


@pytest.mark.parametrize("path", MEMO_PATHS + RECEIPT_PATHS)
@pytest.mark.parametrize("how", list(ACCEPTED))
async def test_authenticated_push_is_stored(path: str, how: str) -> None:
    sink = RecordingSink()
    response = await _post(create_push_app(sink, SECRET), path, ACCEPTED[how])
    assert response.status_code == 200, response.text
    assert len(sink.memos) + len(sink.receipts) == 1


async def test_the_secret_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every presented credential goes through ``hmac.compare_digest`` (never ``==``)."""
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(push_auth.hmac, "compare_digest", spy)
    sink = RecordingSink()
    app = create_push_app(sink, SECRET)
    for headers in (REFUSED["bearer, wrong"], REFUSED["basic, wrong password"], ACCEPTED["bearer"]):
        await _post(app, "/memos", headers)
    assert [b for _, b in calls] == [SECRET.encode()] * 3
    assert [a for a, _ in calls] == [b"wrong", b"wrong", SECRET.encode()]
    assert len(sink.memos) == 1


def test_an_empty_sandbox_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        create_push_app(RecordingSink(), "")


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe", b"", b"null"],
    ids=["deep array", "deep object", "not UTF-8", "empty", "null"],
)
async def test_hostile_receipt_bodies_get_a_400_not_a_crash(body: bytes) -> None:
    """An authenticated but unreadable receipt is answered 400 (a 500 would make NgDP redeliver it forever)."""
    sink = RecordingSink()
    app = create_push_app(sink, SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        r = await c.post(
            "/receipts", content=body, headers={**ACCEPTED["bearer"], "Content-Type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert sink.receipts == []


# ---------------------------------------------------------------------- NgDP's certificate and address

NGDP_SUBJECT = (("O", "Digitaliseringsstyrelsen"), ("SERIALNUMBER", "CVR:34051178-FID:sandbox"))
NGDP_NET = ipaddress.ip_network("198.51.100.0/28")
NGDP_IP = "198.51.100.7"
OTHER_IP = "203.0.113.9"


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    ngdp: ClientCert  # what NgDP pushes with
    municipality: ClientCert  # same CA, another organisation (the gateway's own OCES3 kind)
    rogue_ngdp: ClientCert  # another CA, NgDP's subject copied


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    out = tmp_path_factory.mktemp("push-pki")
    ca, rogue = CertificateAuthority(), CertificateAuthority("graph-dpg sandbox CA")  # same name, other key
    return Pki(
        ca=ca.cert,
        ngdp=ca.issue_client(out, "ngdp", organisation="Digitaliseringsstyrelsen", cvr="34051178"),
        municipality=ca.issue_client(out, "kommune"),
        rogue_ngdp=rogue.issue_client(out, "rogue", organisation="Digitaliseringsstyrelsen", cvr="34051178"),
    )


def xfcc(cert: ClientCert) -> str:
    return ingress_header(cert.cert.read_bytes())


def _thumb(cert: ClientCert) -> str:
    return push_auth.thumbprint(x509.load_pem_x509_certificate(cert.cert.read_bytes()))


async def _push(app: object, headers: dict[str, str], *, peer: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        memo = str(uuid.uuid4())
        return await c.post("/memos", files={"file": (memo, b"<x/>", "application/xml")}, headers=headers)


def _by_ca(pki: Pki, **kwargs: object) -> PushAuth:
    return PushAuth(trust_anchors=(pki.ca,), subject=NGDP_SUBJECT, forwarded_cert=True, **kwargs)  # type: ignore[arg-type]


async def test_behind_the_ingress_ngdps_certificate_is_accepted(pki: Pki) -> None:
    sink = RecordingSink()
    response = await _push(create_push_app(sink, _by_ca(pki)), {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)})
    assert response.status_code == 200, response.text
    assert len(sink.memos) == 1


@pytest.mark.parametrize(
    "case",
    [
        "no certificate",
        "another CA, NgDP's subject",
        "right CA, another organisation",
        "not a certificate",
        "empty Cert",
        "Hash only",
    ],
)
async def test_without_ngdps_certificate_push_is_refused(pki: Pki, case: str) -> None:
    headers = {
        "no certificate": {},
        "another CA, NgDP's subject": {"X-Forwarded-Client-Cert": xfcc(pki.rogue_ngdp)},
        "right CA, another organisation": {"X-Forwarded-Client-Cert": xfcc(pki.municipality)},
        "not a certificate": {"X-Forwarded-Client-Cert": 'Hash=00;Cert="-----BEGIN CERTIFICATE-----AAAA"'},
        "empty Cert": {"X-Forwarded-Client-Cert": 'Cert=""'},
        "Hash only": {"X-Forwarded-Client-Cert": f"Hash={_thumb(pki.ngdp)}"},
    }[case]
    sink = RecordingSink()
    response = await _push(create_push_app(sink, _by_ca(pki)), headers)
    assert response.status_code == 401
    assert sink.memos == []


async def test_an_expired_certificate_is_refused(pki: Pki) -> None:
    later = datetime.now(UTC) + timedelta(days=400)  # the sandbox CA issues for 365 days
    sink = RecordingSink()
    app = create_push_app(sink, _by_ca(pki, clock=lambda: later))
    response = await _push(app, {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)})
    assert response.status_code == 401 and sink.memos == []


async def test_pinned_thumbprints_accept_only_that_certificate(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    auth = PushAuth(thumbprints=frozenset({_thumb(pki.ngdp)}), forwarded_cert=True)
    sink = RecordingSink()
    app = create_push_app(sink, auth)
    assert (await _push(app, {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)})).status_code == 200
    assert (await _push(app, {"X-Forwarded-Client-Cert": xfcc(pki.municipality)})).status_code == 401
    # The Hash field is not trusted: the allowed thumbprint next to another certificate is refused.
    forged = f'Hash={_thumb(pki.ngdp)};Cert="{xfcc(pki.rogue_ngdp).split("Cert=", 1)[1].strip(chr(34))}"'
    with caplog.at_level(logging.WARNING, logger="graph_dpg.adapters.digital_post.push"):
        assert (await _push(app, {"X-Forwarded-Client-Cert": forged})).status_code == 401
    # The log names the certificate actually presented, so IT can pin a rotated one.
    assert f"not trusted (SHA-256 {_thumb(pki.rogue_ngdp)})" in caplog.text
    assert len(sink.memos) == 1


async def test_the_element_the_ingress_appended_last_is_the_one_read(pki: Pki) -> None:
    """Proxies append their element after a comma (Envoy XFCC); a client-written element before it is
    ignored, whatever it says."""
    sink = RecordingSink()
    app = create_push_app(sink, _by_ca(pki))
    spoof_first = f"{xfcc(pki.ngdp)},{xfcc(pki.municipality)}"
    assert (await _push(app, {"X-Forwarded-Client-Cert": spoof_first})).status_code == 401
    real_last = f"{xfcc(pki.municipality)},{xfcc(pki.ngdp)}"
    assert (await _push(app, {"X-Forwarded-Client-Cert": real_last})).status_code == 200


async def test_a_chain_through_an_intermediate_is_followed(tmp_path: Path) -> None:
    root = CertificateAuthority("root")
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuing CA")])
    now = datetime.now(UTC)
    intermediate_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.cert.subject)
        .public_key(intermediate_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    issuing = CertificateAuthority("unused")
    issuing.key, issuing.cert = intermediate_key, intermediate_cert
    leaf = issuing.issue_client(tmp_path, organisation="Digitaliseringsstyrelsen", cvr="34051178")
    pem = intermediate_cert.public_bytes(serialization.Encoding.PEM).decode()
    with_chain = f'{xfcc(leaf)};Chain="{quote(pem, safe="")}"'
    auth = PushAuth(trust_anchors=(root.cert,), subject=NGDP_SUBJECT, forwarded_cert=True)
    sink = RecordingSink()
    app = create_push_app(sink, auth)
    assert (await _push(app, {"X-Forwarded-Client-Cert": xfcc(leaf)})).status_code == 401  # no chain
    assert (await _push(app, {"X-Forwarded-Client-Cert": with_chain})).status_code == 200


async def test_source_address_without_a_proxy_is_the_socket_peer() -> None:
    sink = RecordingSink()
    app = create_push_app(sink, PushAuth(networks=(NGDP_NET,)))
    assert (await _push(app, {}, peer=NGDP_IP)).status_code == 200
    assert (await _push(app, {}, peer=OTHER_IP)).status_code == 403
    # X-Forwarded-For is the client's own word when nothing sits in front: ignored.
    assert (await _push(app, {"X-Forwarded-For": NGDP_IP}, peer=OTHER_IP)).status_code == 403
    assert len(sink.memos) == 1


async def test_behind_one_proxy_the_address_it_appended_is_read() -> None:
    sink = RecordingSink()
    app = create_push_app(sink, PushAuth(networks=(NGDP_NET,), proxy_hops=1))
    ingress = "10.0.0.4"  # the ingress is the socket peer
    assert (await _push(app, {"X-Forwarded-For": NGDP_IP}, peer=ingress)).status_code == 200
    spoofed = {"X-Forwarded-For": f"{NGDP_IP}, {OTHER_IP}"}  # the client wrote NgDP's address first
    assert (await _push(app, spoofed, peer=ingress)).status_code == 403
    assert (await _push(app, {}, peer=NGDP_IP)).status_code == 403  # no header: address unknown
    assert len(sink.memos) == 1


async def test_a_forwarded_certificate_is_ignored_unless_the_app_sits_behind_the_ingress(pki: Pki) -> None:
    """Not behind the ingress, X-Forwarded-Client-Cert is anyone's header: it grants nothing."""
    sink = RecordingSink()
    app = create_push_app(sink, PushAuth(networks=(NGDP_NET,)))
    response = await _push(app, {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)}, peer=OTHER_IP)
    assert response.status_code == 403 and sink.memos == []
    with pytest.raises(ValueError, match="X-Forwarded-Client-Cert"):
        create_push_app(sink, PushAuth(thumbprints=frozenset({_thumb(pki.ngdp)}), forwarded_cert=False))


async def test_certificate_and_address_must_both_hold_when_both_are_set(pki: Pki) -> None:
    sink = RecordingSink()
    app = create_push_app(sink, _by_ca(pki, networks=(NGDP_NET,), proxy_hops=1))
    right_cert = {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)}
    assert (await _push(app, {**right_cert, "X-Forwarded-For": OTHER_IP})).status_code == 403
    assert (await _push(app, {"X-Forwarded-For": NGDP_IP})).status_code == 401
    assert (await _push(app, {**right_cert, "X-Forwarded-For": NGDP_IP})).status_code == 200
    assert len(sink.memos) == 1


def test_a_secret_alone_is_refused_outside_the_sandbox() -> None:
    with pytest.raises(ValueError, match="nothing identifies NgDP"):
        create_push_app(RecordingSink(), PushAuth(token=SECRET.encode()))
    with pytest.raises(ValueError, match="nothing identifies NgDP"):
        create_push_app(RecordingSink(), PushAuth())


def test_a_ca_without_a_subject_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="every certificate"):
        create_push_app(RecordingSink(), PushAuth(trust_anchors=(pki.ca,), forwarded_cert=True))


async def test_a_secret_next_to_the_certificate_is_required_as_well(pki: Pki) -> None:
    sink = RecordingSink()
    app = create_push_app(sink, _by_ca(pki, token=SECRET.encode()))
    cert = {"X-Forwarded-Client-Cert": xfcc(pki.ngdp)}
    assert (await _push(app, cert)).status_code == 401
    assert (await _push(app, {**cert, **ACCEPTED["bearer"]})).status_code == 200


# ---------------------------------------------------------------------- settings → policy → emulated NgDP


def _settings(tmp_path: Path, **values: object) -> Settings:
    cert = tmp_path / "oces3.pem"
    cert.write_text("placeholder")
    base: dict[str, object] = {
        "credential_kind": "managed_identity",
        "ngdp_system_id": str(uuid.uuid4()),
        "ngdp_api_token": "api-token",
        "ngdp_certificate_path": cert,
    }
    return load_settings(env_file=None, **{**base, **values})


def test_settings_build_the_policy_an_admin_describes(tmp_path: Path, pki: Pki) -> None:
    ca_file = tmp_path / "ngdp-ca.pem"
    ca_file.write_bytes(pki.ca.public_bytes(serialization.Encoding.PEM))
    thumb = _thumb(pki.ngdp)
    settings = _settings(
        tmp_path,
        push_client_thumbprints=":".join(thumb[i : i + 2] for i in range(0, 64, 2)).upper(),
        push_client_ca_file=ca_file,
        push_client_subject="O=Digitaliseringsstyrelsen, serialNumber=CVR:34051178-FID:sandbox",
        push_forwarded_client_cert=True,
        push_allowed_ips=f"{NGDP_NET}, 192.0.2.1",
        push_proxy_hops=1,
    )
    auth = make_push_auth(settings)
    assert auth.thumbprints == {thumb}
    assert auth.subject == NGDP_SUBJECT
    assert auth.networks == (NGDP_NET, ipaddress.ip_network("192.0.2.1/32"))
    assert auth.proxy_hops == 1 and auth.token is None and auth.problems() == []


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"push_client_thumbprints": "ab" * 32}, "GRAPH_DPG_PUSH_FORWARDED_CLIENT_CERT: must be true"),
        ({"push_client_thumbprints": "not-hex", "push_forwarded_client_cert": True}, "64 hexadecimal"),
        ({"push_allowed_ips": "198.51.100.0/33"}, "not an IP address or CIDR"),
        ({"push_client_subject": "O=Digitaliseringsstyrelsen"}, "GRAPH_DPG_PUSH_CLIENT_CA_FILE: required"),
        ({"push_client_subject": "Digitaliseringsstyrelsen"}, "ATTRIBUTE=value"),
    ],
)
def test_contradicting_push_settings_are_refused(
    tmp_path: Path, values: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, **values)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_token_alone_is_served_only_in_the_sandbox(tmp_path: Path) -> None:
    real = make_push_auth(_settings(tmp_path, push_token=SECRET))
    assert real.problems() and "NgDP presents no token" in real.problems()[0]
    sandbox = make_push_auth(load_settings(env_file=None, credential_kind="sandbox", push_token=SECRET))
    assert sandbox.problems() == []


async def test_the_emulated_ngdp_pushes_with_its_certificate_through_the_ingress(tmp_path: Path) -> None:
    """NgdpPusher plays NgDP behind Container Apps' ingress: its push certificate arrives in
    X-Forwarded-Client-Cert, its address in X-Forwarded-For; no token. The gateway's own certificate (same
    sandbox CA, the municipality's subject) is refused and the memo stays queued at NgDP."""
    sandbox_pki = generate_test_pki(tmp_path)
    assert sandbox_pki.ngdp_push is not None
    ca = x509.load_pem_x509_certificate(sandbox_pki.ca_cert.read_bytes())
    auth = PushAuth(
        trust_anchors=(ca,),
        subject=NGDP_SUBJECT,
        forwarded_cert=True,
        networks=(NGDP_NET,),
        proxy_hops=1,
    )
    state, sink = NgdpState(validate_memos=False), RecordingSink()
    memo_id = state.queue_inbound_memo(sample_memo(version="1.2"))
    app = create_push_app(sink, auth)

    async def push_as(cert: ClientCert) -> dict[str, int]:
        pusher = NgdpPusher(
            state,
            memo_url="http://gateway/memos",
            receipt_url="http://gateway/receipts",
            client_cert=(cert.cert, cert.key),
            forward_as_ingress=True,
            source_ip=NGDP_IP,
            transport=httpx.ASGITransport(app=app),
        )
        try:
            return await pusher.push_memos()
        finally:
            await pusher.aclose()

    assert await push_as(sandbox_pki.client) == {memo_id: 401}
    assert state.inbound_ids() == [memo_id] and sink.memos == []
    assert await push_as(sandbox_pki.ngdp_push) == {memo_id: 200}
    assert sink.memos == [memo_id] and state.inbound_ids() == []
