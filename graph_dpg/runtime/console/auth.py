"""Sign-in for the console: Entra ID OpenID Connect (authorisation code + PKCE through msal), the
encrypted session cookie, CSRF tokens, roles and the callback's rate limit.

- msal's ``initiate_auth_code_flow`` makes the state, nonce and PKCE ``code_verifier``; the flow is kept in
  a short-lived encrypted cookie (not server memory) so the callback may land on any replica, and
  ``acquire_token_by_auth_code_flow`` checks state and nonce and redeems the code with the client secret
  and the verifier (learn.microsoft.com/entra/msal/python/ ; docs/facts/console-sign-in.md).
- The session (who, roles, CSRF token, expiry) is AES-GCM encrypted and authenticated with a key derived
  from the session secret: the browser cannot read or change it, and every replica can open it.
- Roles come from the ID token's ``roles`` claim (app roles assigned in Entra ID).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROLE_READER = "Gateway.Reader"
ROLE_ADMIN = "Gateway.Admin"
SESSION_COOKIE = "graph_dpg_console"
FLOW_COOKIE = "graph_dpg_console_flow"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
FLOW_SECONDS = 600  # from the sign-in redirect to the callback
MAX_COOKIE_BYTES = 4096  # browsers' limit; anything larger was not written by us


@dataclass(frozen=True)
class User:
    name: str
    username: str
    oid: str
    roles: tuple[str, ...]

    @property
    def is_reader(self) -> bool:
        return ROLE_READER in self.roles or ROLE_ADMIN in self.roles

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def actor(self) -> str:
        """How the audit trail names this person."""
        return f"console:{self.username or self.oid}"


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires: float


class SealedCookies:
    """Encrypt-then-authenticate JSON values for cookies (AES-256-GCM, a random nonce per value)."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(hashlib.sha256(b"graph-dpg console cookie\x00" + secret.encode()).digest())
        self._clock = clock

    def seal(self, purpose: str, value: Mapping[str, object], lifetime_s: float) -> str:
        body = json.dumps({"v": value, "exp": self._clock() + lifetime_s}, separators=(",", ":")).encode()
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, body, purpose.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def open(self, purpose: str, cookie: str | None) -> dict[str, Any] | None:
        """The value, or None when absent, too large, forged, for another purpose or expired."""
        if not cookie or len(cookie) > MAX_COOKIE_BYTES:
            return None
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], purpose.encode()))
        except (ValueError, InvalidTag):
            return None
        if not isinstance(body, dict) or not isinstance(body.get("v"), dict):
            return None
        if not isinstance(body.get("exp"), (int, float)) or body["exp"] < self._clock():
            return None
        value: dict[str, Any] = body["v"]
        return value

    def session(self, cookie: str | None) -> Session | None:
        value = self.open("session", cookie)
        if value is None:
            return None
        try:
            user = User(
                name=str(value["name"]),
                username=str(value["username"]),
                oid=str(value["oid"]),
                roles=tuple(str(r) for r in value["roles"]),
            )
            return Session(user, str(value["csrf"]), float(value["until"]))
        except (KeyError, TypeError, ValueError):
            return None

    def seal_session(self, user: User) -> tuple[str, Session]:
        session = Session(user, secrets.token_urlsafe(32), self._clock() + SESSION_SECONDS)
        value = {
            "name": user.name,
            "username": user.username,
            "oid": user.oid,
            "roles": list(user.roles),
            "csrf": session.csrf,
            "until": session.expires,
        }
        return self.seal("session", value, SESSION_SECONDS), session


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """The form's token is the session's (constant-time compare)."""
    return bool(submitted) and secrets.compare_digest(session.csrf.encode(), str(submitted).encode())


def user_from_claims(claims: Mapping[str, Any]) -> User:
    """The person in an ID token (claims as msal returns them, already checked for nonce, aud, iss, exp)."""
    roles = claims.get("roles") or []
    if not isinstance(roles, list):
        roles = []
    return User(
        name=str(claims.get("name") or claims.get("preferred_username") or ""),
        username=str(claims.get("preferred_username") or ""),
        oid=str(claims.get("oid") or claims.get("sub") or ""),
        roles=tuple(str(r) for r in roles if isinstance(r, str))[:20],
    )


class RateLimiter:
    """At most ``limit`` events per ``window_s`` per key (client address), in bounded memory: the least
    recently seen keys are forgotten beyond ``max_keys`` (a flood of addresses cannot grow it)."""

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            hits = [t for t in self._hits.pop(key, []) if now - t < self.window_s]
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return allowed

    def __len__(self) -> int:
        return len(self._hits)


class SignInFlow(Protocol):
    """The OpenID Connect client (``MsalSignIn``; tests may give a fake)."""

    def begin(self) -> dict[str, Any]:
        """A new flow: a dict with ``auth_uri`` (where to send the browser) and what ``finish`` needs."""
        ...

    def finish(self, flow: Mapping[str, Any], response: Mapping[str, str]) -> Mapping[str, Any]:
        """Redeem the callback's ``response`` (query parameters): the ID token claims, or raise
        ``SignInFailed``. Blocking (HTTP to the token endpoint): call it in a thread."""
        ...


class SignInFailed(Exception):
    """The identity provider or msal refused the callback (the reason is for the log, not the page)."""


class MsalSignIn:
    """msal's ConfidentialClientApplication, made on first use (its construction fetches the discovery
    document: call ``begin`` in a thread too)."""

    def __init__(
        self,
        authority: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        ca_bundle: str | None = None,
        http_client: Any | None = None,
    ) -> None:
        self._args = (authority, client_id, client_secret)
        self._redirect_uri = redirect_uri
        self._ca_bundle = ca_bundle
        self._http_client = http_client
        self._app: Any | None = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        import msal  # only processes serving the console load it

        with self._lock:
            if self._app is None:
                authority, client_id, secret = self._args
                kwargs: dict[str, Any] = {}
                if self._http_client is not None:
                    kwargs["http_client"] = self._http_client
                elif self._ca_bundle:
                    kwargs["http_client"] = _session_trusting(self._ca_bundle)
                on_microsoft = authority.startswith("https://login.microsoftonline.com/")
                self._app = msal.ConfidentialClientApplication(
                    client_id,
                    client_credential=secret,
                    authority=authority,
                    # msal's documented switches for an authority it does not know (the sandbox's
                    # emulated identity provider): no instance discovery at login.microsoftonline.com.
                    instance_discovery=on_microsoft,
                    validate_authority=on_microsoft,
                    timeout=10,
                    **kwargs,
                )
            return self._app

    def begin(self) -> dict[str, Any]:
        flow: dict[str, Any] = self._client().initiate_auth_code_flow(
            scopes=[], redirect_uri=self._redirect_uri, response_mode="query"
        )
        return flow

    def finish(self, flow: Mapping[str, Any], response: Mapping[str, str]) -> Mapping[str, Any]:
        try:
            result = self._client().acquire_token_by_auth_code_flow(dict(flow), dict(response))
        except (ValueError, OSError) as exc:  # state mismatch (msal), or the token endpoint unreachable
            raise SignInFailed(type(exc).__name__) from exc
        if not isinstance(result, dict) or "error" in result or "id_token_claims" not in result:
            reason = result.get("error", "no id token") if isinstance(result, dict) else "no answer"
            raise SignInFailed(str(reason))
        claims: Mapping[str, Any] = result["id_token_claims"]
        return claims


def _session_trusting(ca_bundle: str) -> Any:
    """A requests session (msal's own default client) that trusts only ``ca_bundle``. msal's ``verify=``
    is not enough: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override a
    session's ``verify`` (requests.Session.merge_environment_settings), so the environment is ignored here.
    Sandbox only (the emulated identity provider); production uses msal's default client."""
    import functools

    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle
    session.request = functools.partial(session.request, timeout=10)  # type: ignore[method-assign]
    return session
