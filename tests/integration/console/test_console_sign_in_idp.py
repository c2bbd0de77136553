"""Sign-in end to end without a browser: msal (the real library) against the emulated identity provider over
TLS, the console's callback turning the ID token's ``roles`` into a session; and the identity provider's own
checks (PKCE code_verifier, client secret, single-use codes, RS256 signature) as Microsoft documents them
(learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow, id-token-claims-reference)."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import warnings
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.routing import Mount

from graph_dpg.bootstrap.console import ConsoleOptions
from graph_dpg.runtime.console import create_console_app
from graph_dpg.sandbox.idp import IdpState, serve
from tests.keyvault_support import tls_files

with warnings.catch_warnings():  # starlette ≥0.50 prefers httpx2 for its TestClient; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REDIRECT = "https://testserver/console/auth/callback"
# msal suggests form_post; the console asks for the query response mode on purpose (a cross-site POST would
# not carry the SameSite=Lax flow cookie): docs/facts/console-sign-in.md.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")


def _trust(idp) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(idp.ca))


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    cert, key, ca = tls_files(tmp_path_factory.mktemp("idp-tls"))
    state = IdpState("sandbox-tenant", "console-client", "client-secret-1", (REDIRECT,))
    with serve(state, certfile=cert, keyfile=key) as running:
        running.ca = ca  # type: ignore[attr-defined]
        yield running


class _NoLetters:
    def search(self, text, *, state=None, since=None):
        return []

    def deliveries(self):
        return []


def _console(idp) -> TestClient:
    options = ConsoleOptions(
        idp.authority, "console-client", "client-secret-1", REDIRECT, "k" * 40, ca_bundle=idp.ca
    )
    app = Starlette(routes=[Mount("/console", app=create_console_app(options, _NoLetters()))])  # type: ignore[arg-type]
    return TestClient(app, base_url="https://testserver")


def _pick(idp, authorize_url: str, user: str) -> str:
    """What the browser does on the emulator's page: choose a demo user; returns the redirect back."""
    with httpx.Client(verify=_trust(idp)) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200
        assert 'value="admin"' in page.text
        params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        answer = http.post(authorize_url.split("?")[0], data={**params, "user": user})
    assert answer.status_code == 303
    return answer.headers["location"]


@pytest.mark.parametrize(("user", "role"), [("admin", "administrator"), ("reader", "læser")])
def test_msal_signs_a_demo_user_in_through_the_emulated_identity_provider(idp, user, role):
    console = _console(idp)
    start = console.get("/console/auth/start", follow_redirects=False)
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(idp.authority + "/oauth2/v2.0/authorize")
    assert query["code_challenge_method"] == ["S256"]  # msal uses PKCE
    back = _pick(idp, authorize, user)
    assert back.startswith(REDIRECT + "?code=")
    done = console.get(back.replace("https://testserver", ""), follow_redirects=False)
    assert done.headers["location"] == "/console/"
    page = console.get("/console/")
    assert page.status_code == 200
    assert f"({role})" in page.text


def _authorize(idp, verifier: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = (
        f"{idp.authority}/oauth2/v2.0/authorize?client_id=console-client&response_type=code&scope=openid"
        f"&redirect_uri={REDIRECT}&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256"
    )
    back = _pick(idp, url, "admin")
    return parse_qs(urlsplit(back).query)["code"][0]


def _redeem(idp, code: str, verifier: str, secret: str = "client-secret-1") -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": "console-client",
        "client_secret": secret,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return httpx.post(f"{idp.authority}/oauth2/v2.0/token", data=form, verify=_trust(idp))


def test_the_token_endpoint_checks_the_pkce_verifier_the_secret_and_uses_a_code_once(idp):
    verifier = "v" * 50
    wrong_verifier = _redeem(idp, _authorize(idp, verifier), "w" * 50)
    assert wrong_verifier.status_code == 400
    assert wrong_verifier.json()["error"] == "invalid_grant"
    wrong_secret = _redeem(idp, _authorize(idp, verifier), verifier, secret="guess")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    code = _authorize(idp, verifier)
    assert _redeem(idp, code, verifier).status_code == 200
    again = _redeem(idp, code, verifier)
    assert again.json()["error"] == "invalid_grant"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_id_token_is_rs256_signed_by_a_jwks_key_and_carries_the_roles(idp):
    verifier = "x" * 60
    token = _redeem(idp, _authorize(idp, verifier), verifier).json()["id_token"]
    header_b64, claims_b64, signature_b64 = token.split(".")
    header, claims = json.loads(_b64(header_b64)), json.loads(_b64(claims_b64))
    config = httpx.get(f"{idp.authority}/v2.0/.well-known/openid-configuration", verify=_trust(idp)).json()
    keys = httpx.get(config["jwks_uri"], verify=_trust(idp)).json()["keys"]
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    public = rsa.RSAPublicNumbers(int.from_bytes(_b64(jwk["e"])), int.from_bytes(_b64(jwk["n"]))).public_key()
    public.verify(
        _b64(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert header["alg"] == "RS256"
    assert claims["iss"] == config["issuer"]
    assert claims["aud"] == "console-client"
    assert claims["nonce"] == "n"
    assert claims["roles"] == ["Gateway.Reader", "Gateway.Admin"]


def test_an_unregistered_redirect_uri_is_refused_on_the_page_not_redirected(idp):
    url = (
        f"{idp.authority}/oauth2/v2.0/authorize?client_id=console-client&response_type=code&scope=openid"
        "&redirect_uri=https://evil.example/cb&state=s"
    )
    answer = httpx.get(url, verify=_trust(idp))
    assert answer.status_code == 400
    assert "AADSTS50011" in answer.text
