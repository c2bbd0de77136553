"""The Key Vault secrets REST API, as much of it as a reader of certificates needs.

Sources (Microsoft Learn):
- GET {vault}/secrets/{name}/{version?}?api-version=7.4 → SecretBundle {value, id, contentType, attributes,
  kid, managed}; without a version the current one (rest/api/keyvault/secrets/get-secret/get-secret).
- GET {vault}/secrets/{name}/versions?api-version=7.4[&maxresults=N] → {value: [SecretItem], nextLink}
  (rest/api/keyvault/secrets/get-secret-versions/get-secret-versions). SecretItem has no value.
- Errors are KeyVaultError {"error": {"code", "message", "innererror"?}}; 401 for a request without a
  (valid) bearer token, 403 for a caller without permission (azure/key-vault/general/rest-error-codes).
- The 401 carries the challenge ``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/
  {tenant}", resource="https://vault.azure.net"`` from which a client learns where to get a token
  (azure/key-vault/general/authentication-requests-and-responses); the Azure SDK's ChallengeAuthPolicy
  first sends each request without a token to receive it.
- A certificate's secret: content type application/x-pkcs12 or application/x-pem-file, ``kid`` naming the
  key of the same name, ``managed: true`` (azure/key-vault/certificates/about-certificates).
Inferences (no public source): the exact wording of messages; the code ``BadParameter`` for a missing
api-version; that the versions listing is ordered oldest first (clients must not rely on any order).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graph_dpg.sandbox.keyvault.state import SecretVersion, VaultState

NOT_FOUND_HELP = (
    "If you recently deleted this secret you may be able to recover it using the correct recovery command. "
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


def error(status: int, code: str, message: str, inner: str | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if inner:
        body["innererror"] = {"code": inner}
    return JSONResponse({"error": body}, status_code=status, headers=headers or None)


def _bundle(base: str, name: str, item: SecretVersion) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "enabled": item.enabled,
        "created": item.created,
        "updated": item.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    }
    if item.not_before is not None:
        attributes["nbf"] = item.not_before
    if item.expires is not None:
        attributes["exp"] = item.expires
    bundle: dict[str, Any] = {
        "id": f"{base}/secrets/{name}/{item.version}",
        "attributes": attributes,
        "tags": {},
    }
    if item.content_type is not None:
        bundle["contentType"] = item.content_type
    if item.managed:
        bundle["managed"] = True
        bundle["kid"] = f"{base}/keys/{name}/{item.version}"
    return bundle


def create_app(state: VaultState) -> Starlette:
    def challenge(message: str) -> JSONResponse:
        header = (
            f'Bearer authorization="https://login.microsoftonline.com/{state.tenant_id}", '
            f'resource="{state.resource}"'
        )
        return error(401, "Unauthorized", message, **{"WWW-Authenticate": header})

    def guard(request: Request, name: str) -> JSONResponse | None:
        auth = request.headers.get("authorization", "")
        state.log(request.method, request.url.path, bool(auth))
        if not auth:
            return challenge("AKV10000: Request is missing a Bearer or PoP token.")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token != state.token:
            return challenge("AKV10032: Invalid issuer or token.")
        if state.unavailable:
            return error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
        if "api-version" not in request.query_params:
            return error(400, "BadParameter", "The request URI must contain an api-version.")
        if state.forbidden or name in state.forbidden_names:
            return error(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\n"
                "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)",
                "ForbiddenByRbac",
            )
        return None

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def get_secret(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        refused = guard(request, name)
        if refused is not None:
            return refused
        item = state.version(name, version) if version else state.current(name)
        if item is None:
            shown = f"{name}/{version}" if version else name
            return error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {shown} was not found in this key vault. " + NOT_FOUND_HELP,
            )
        if not item.enabled:
            return error(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"
            )
        bundle = _bundle(base_of(request), name, item)
        bundle["value"] = item.value
        return JSONResponse(bundle)

    async def list_versions(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        refused = guard(request, name)
        if refused is not None:
            return refused
        versions = state.versions(name)
        if versions is None:
            return error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key vault. " + NOT_FOUND_HELP,
            )
        try:
            size = max(1, min(25, int(request.query_params.get("maxresults", state.page_size))))
            start = max(0, int(request.query_params.get("$skiptoken", "0")))
        except ValueError:
            return error(400, "BadParameter", "maxresults and $skiptoken must be integers.")
        size = min(size, state.page_size)
        base = base_of(request)
        page = versions[start : start + size]
        items = []
        for item in page:
            bundle = _bundle(base, name, item)
            bundle.pop("kid", None)
            items.append(bundle)
        next_link = None
        if start + size < len(versions):
            api = request.query_params.get("api-version", "7.4")
            query = f"api-version={api}&$skiptoken={start + size}&maxresults={size}"
            next_link = f"{base}/secrets/{name}/versions?{query}"
        return JSONResponse({"value": items, "nextLink": next_link})

    return Starlette(
        routes=[
            Route("/secrets/{name}/versions", list_versions, methods=["GET"]),
            Route("/secrets/{name}", get_secret, methods=["GET"]),
            Route("/secrets/{name}/", get_secret, methods=["GET"]),
            Route("/secrets/{name}/{version}", get_secret, methods=["GET"]),
        ]
    )
