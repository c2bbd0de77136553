"""The identity provider's endpoints (Starlette). Each behaviour names its public source:

- OIDC_DOC  learn.microsoft.com/entra/identity-platform/v2-protocols-oidc ("Find your app's OpenID
  configuration document URI": ``{authority}/v2.0/.well-known/openid-configuration``; issuer
  ``https://login.microsoftonline.com/{tenant}/v2.0``; ``jwks_uri``; response_type ``code``)
- CODE_DOC  learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow ("Request an authorization
  code": client_id, response_type=code, redirect_uri, scope, state, code_challenge, code_challenge_method
  S256; "Redeem a code for an access token": grant_type=authorization_code, code, redirect_uri,
  code_verifier, client_secret; errors ``invalid_grant`` (code or code_verifier wrong/expired or used),
  ``invalid_client`` (client authentication failed); codes are short-lived and single-use)
- IDT_DOC   learn.microsoft.com/entra/identity-platform/id-token-claims-reference (claims aud, iss, iat, nbf,
  exp, nonce, name, oid, preferred_username, sub, tid, ver "2.0"; RS256 signature, ``kid`` header)
- ROLES_DOC learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps (the app roles assigned to
  the user arrive in the ``roles`` claim of the ID token)
- PKCE      RFC 7636 section 4.6 (S256: BASE64URL(SHA256(code_verifier)) == code_challenge)

Inference (no source): the demo users' object ids and the authorize page itself (Entra shows its own sign-in
pages; the emulator only offers a choice of two demo users).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_LIFETIME_S = 300  # CODE_DOC: authorization codes are short-lived (about 10 minutes); 5 here
TOKEN_LIFETIME_S = 3600  # IDT_DOC: ID tokens are valid for one hour by default
MAX_PENDING_CODES = 1000  # bounded memory: the oldest pending codes are dropped beyond this
MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class DemoUser:
    key: str
    name: str
    username: str
    oid: str
    roles: tuple[str, ...]


DEMO_USERS: dict[str, DemoUser] = {
    "reader": DemoUser(
        "reader",
        "Demo Reader",
        "reader@sandbox.example",
        "00000000-0000-4000-8000-000000000001",
        ("Gateway.Reader",),
    ),
    "admin": DemoUser(
        "admin",
        "Demo Admin",
        "admin@sandbox.example",
        "00000000-0000-4000-8000-000000000002",
        ("Gateway.Reader", "Gateway.Admin"),
    ),
}


@dataclass
class _Code:
    user: DemoUser
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    nonce: str | None
    issued: float


@dataclass
class IdpState:
    """One emulated tenant with one registered confidential client (the gateway's console)."""

    tenant: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    base_url: str = ""  # set by ``serve`` once the port is known
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    codes: dict[str, _Code] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens_issued: int = 0

    @property
    def issuer(self) -> str:
        # OIDC_DOC: the issuer is the tenant's v2.0 endpoint; msal compares it with the token's iss.
        return f"{self.base_url}/{self.tenant}/v2.0"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _sign_jwt(state: IdpState, claims: dict[str, object]) -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": state.kid}
    signing_input = f"{_b64u(json.dumps(header).encode())}.{_b64u(json.dumps(claims).encode())}"
    signature = state.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64u(signature)}"


def _jwk(state: IdpState) -> dict[str, str]:
    numbers = state.key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": state.kid,
        "n": _b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64u(numbers.e.to_bytes(3, "big")),
    }


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    # CODE_DOC "Error response": a JSON body with error and error_description.
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_app(state: IdpState) -> Starlette:
    def _check_tenant(request: Request) -> bool:
        return bool(request.path_params["tenant"] == state.tenant)

    async def discovery(request: Request) -> Response:
        if not _check_tenant(request):
            return _oauth_error("invalid_tenant", "AADSTS90002: Tenant not found.", 400)
        base = f"{state.base_url}/{state.tenant}"
        return JSONResponse(
            {
                "issuer": state.issuer,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "code_challenge_methods_supported": ["S256", "plain"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "name",
                    "preferred_username",
                    "oid",
                    "tid",
                    "ver",
                    "roles",
                ],
                "tenant_region_scope": "EU",
            }
        )

    async def keys(request: Request) -> Response:
        return JSONResponse({"keys": [_jwk(state)]})

    async def authorize(request: Request) -> Response:
        if not _check_tenant(request):
            return _oauth_error("invalid_tenant", "AADSTS90002: Tenant not found.", 400)
        if request.method == "POST":
            if not _small(request):
                return _oauth_error("invalid_request", "request too large", 413)
            form = await request.form()
            params = {k: str(v) for k, v in form.items()}
        else:
            params = dict(request.query_params)
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        # CODE_DOC: an unknown client or a redirect URI not registered is refused on the page, never
        # redirected (AADSTS700016 / AADSTS50011).
        if client_id != state.client_id:
            return HTMLResponse("AADSTS700016: Application not found in the directory.", status_code=400)
        if redirect_uri not in state.redirect_uris:
            return HTMLResponse(
                "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs "
                "configured for the application.",
                status_code=400,
            )
        if params.get("response_type") != "code":
            return _redirect_error(redirect_uri, params, "unsupported_response_type")
        if "openid" not in params.get("scope", "").split():
            return _redirect_error(redirect_uri, params, "invalid_scope")
        method = params.get("code_challenge_method", "plain")
        if method not in ("S256", "plain"):
            return _redirect_error(redirect_uri, params, "invalid_request")
        user_key = params.get("user")
        if request.method == "GET" or user_key not in DEMO_USERS:
            return HTMLResponse(_pick_user_page(params))
        code = secrets.token_urlsafe(32)
        with state.lock:
            now = time.monotonic()
            for old in [k for k, c in state.codes.items() if now - c.issued > CODE_LIFETIME_S]:
                del state.codes[old]
            while len(state.codes) >= MAX_PENDING_CODES:
                del state.codes[next(iter(state.codes))]
            state.codes[code] = _Code(
                DEMO_USERS[user_key],
                client_id,
                redirect_uri,
                params.get("code_challenge") or None,
                method,
                params.get("nonce") or None,
                now,
            )
        answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=303)

    async def token(request: Request) -> Response:
        if not _check_tenant(request):
            return _oauth_error("invalid_tenant", "AADSTS90002: Tenant not found.", 400)
        if not _small(request):
            return _oauth_error("invalid_request", "request too large", 413)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "AADSTS70003: grant type not supported here.")
        if form.get("client_id") != state.client_id:
            return _oauth_error("unauthorized_client", "AADSTS700016: Application not found.")
        secret = form.get("client_secret", "")
        if not secrets.compare_digest(secret.encode(), state.client_secret.encode()):
            return _oauth_error(
                "invalid_client", "AADSTS7000215: Invalid client secret provided.", status=401
            )
        with state.lock:
            entry = state.codes.pop(form.get("code", ""), None)  # CODE_DOC: a code is used once
        if entry is None or time.monotonic() - entry.issued > CODE_LIFETIME_S:
            return _oauth_error("invalid_grant", "AADSTS70008: The provided authorization code is expired.")
        if entry.client_id != form.get("client_id") or entry.redirect_uri != form.get("redirect_uri"):
            return _oauth_error("invalid_grant", "AADSTS50148: redirect_uri does not match the request.")
        if entry.challenge is not None:
            verifier = form.get("code_verifier", "")
            if entry.method == "S256":
                computed = _b64u(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            else:
                computed = verifier
            if not verifier or not secrets.compare_digest(computed.encode(), entry.challenge.encode()):
                return _oauth_error("invalid_grant", "AADSTS501481: The Code_Verifier does not match.")
        now = int(time.time())
        user = entry.user
        claims: dict[str, object] = {
            "aud": state.client_id,
            "iss": state.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "name": user.name,
            "oid": user.oid,
            "preferred_username": user.username,
            "sub": hashlib.sha256(f"{user.oid}:{state.client_id}".encode()).hexdigest()[:43],
            "tid": state.tenant,
            "ver": "2.0",
            "roles": list(user.roles),  # ROLES_DOC
        }
        if entry.nonce:
            claims["nonce"] = entry.nonce
        with state.lock:
            state.tokens_issued += 1
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": "openid profile",
                "expires_in": TOKEN_LIFETIME_S,
                "access_token": secrets.token_urlsafe(32),  # opaque to the client (CODE_DOC)
                "id_token": _sign_jwt(state, claims),
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET", "POST"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        ]
    )


def _small(request: Request) -> bool:
    """A form small enough to read: its declared length within MAX_FORM_BYTES (none declared: refused)."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) <= MAX_FORM_BYTES


def _redirect_error(redirect_uri: str, params: dict[str, str], error: str) -> Response:
    # CODE_DOC "Error response" of the authorize endpoint: back to the redirect URI with error and state.
    answer = {"error": error}
    if "state" in params:
        answer["state"] = params["state"]
    return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=303)


def _pick_user_page(params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != "user"
    )
    buttons = "".join(
        f'<button type="submit" name="user" value="{u.key}" id="user-{u.key}">{html.escape(u.name)} '
        f"({html.escape(', '.join(u.roles))})</button> "
        for u in DEMO_USERS.values()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox sign-in</title></head>'
        "<body><h1>Sandbox identity provider</h1><p>Pick a demo user (no password: sandbox only).</p>"
        f'<form method="post">{hidden}{buttons}</form></body></html>'
    )
