"""graph-dpg consent-url: the admin-consent URL and the exact Graph permissions graph_dpg needs.

graph_dpg reads and writes the function mailboxes app-only (client credentials), with the Microsoft Graph
application permissions (app roles of the Graph service principal, appId
00000003-0000-0000-c000-000000000000) that its one permission table marks as required
(graph_dpg/domain/permissions.py; ids from the Microsoft Graph permissions reference,
learn.microsoft.com/graph/permissions-reference). The command prints them with their app role ids and
why each is needed; nothing more is asked for (least privilege).

There are two ways to grant them, and the command says which one to use:

* Recommended - Exchange Online RBAC for Applications: the same permissions as Exchange roles
  ("Application Mail.ReadWrite", ...) scoped to the function mailboxes' group
  (infra/exchange/Grant-GraphDpgMailboxAccess.ps1). No Entra admin consent at all: Entra grants are
  tenant-wide and Exchange adds them to the scoped RBAC grants ("independent of the unscoped grants in
  Microsoft Entra ID", learn.microsoft.com/exchange/permissions-exo/application-rbac), so consenting as well
  would open every mailbox in the tenant.
* Legacy - tenant-wide admin consent (the URL) immediately restricted by an Application Access Policy.

The URL is https://login.microsoftonline.com/{tenant}/adminconsent?client_id=..&redirect_uri=..&state=..
(admin-consent endpoint of the Microsoft identity platform,
learn.microsoft.com/entra/identity-platform/v2-admin-consent); redirect_uri must be registered on the app
registration and state comes back unchanged on the redirect.

Values not given as options come from the settings (GRAPH_DPG_TENANT_ID, GRAPH_DPG_CLIENT_ID, or
GRAPH_DPG_MANAGED_IDENTITY_CLIENT_ID). Exit code 0, or 2 when a value is missing or invalid.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

from graph_dpg.commands import command
from graph_dpg.core.errors import ConfigError
from graph_dpg.domain.permissions import GRAPH_RESOURCE_APP_ID, GraphPermission, required_permissions

EXIT_OK = 0
EXIT_USAGE = 2

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
# Nothing needs to listen there: after the consent the browser's address bar shows admin_consent=True (or
# error=...). It must be registered on the app registration (Web platform) like any redirect URI.
DEFAULT_REDIRECT_URI = "https://localhost"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}[a-z0-9]")
# Multi-tenant aliases: graph_dpg's app registration is single-tenant, consent must name the tenant.
_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})


#: The permissions consent-url asks for: the required rows of the one table, in table order.
REQUIRED_PERMISSIONS: tuple[GraphPermission, ...] = required_permissions()


def validate_tenant(value: str) -> str:
    """The tenant as the consent endpoint wants it (GUID or verified domain, lower case), else ConfigError."""
    text = value.strip().lower()
    if text in _TENANT_ALIASES:
        raise ConfigError(
            f"tenant {value!r} is a multi-tenant alias; name the organisation's tenant (GUID or domain)"
        )
    if not (_GUID.fullmatch(text) or _DOMAIN.fullmatch(text)):
        raise ConfigError(f"tenant {value!r} is neither a GUID nor a domain such as contoso.onmicrosoft.com")
    return text


def validate_client_id(value: str) -> str:
    text = value.strip().lower()
    if not _GUID.fullmatch(text):
        raise ConfigError(
            f"client id {value!r} is not a GUID (the app registration's Application (client) ID)"
        )
    return text


def validate_redirect_uri(value: str) -> str:
    parts = urlsplit(value.strip())
    local = parts.hostname in ("localhost", "127.0.0.1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ConfigError(
            f"redirect URI {value!r} must be an absolute https:// URL (http only for localhost) "
            "registered on the app registration"
        )
    if parts.fragment:
        raise ConfigError(f"redirect URI {value!r} must not contain a fragment")
    return value.strip()


def admin_consent_url(
    tenant: str,
    client_id: str,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    state: str | None = None,
    authority: str = DEFAULT_AUTHORITY,
) -> str:
    """The tenant-wide admin-consent URL for the app's statically configured permissions.

    ``state`` defaults to a fresh random value (it is echoed on the redirect, so the admin can tell this
    consent's answer from any other). Raises ConfigError for an invalid tenant, client id or redirect URI.
    """
    query = urlencode(
        {
            "client_id": validate_client_id(client_id),
            "redirect_uri": validate_redirect_uri(redirect_uri),
            "state": state if state is not None else secrets.token_urlsafe(16),
        }
    )
    return f"{authority.rstrip('/')}/{validate_tenant(tenant)}/adminconsent?{query}"


@dataclass(frozen=True)
class ConsentTarget:
    tenant: str
    client_id: str
    managed_identity: bool


def resolve_target(tenant: str | None, client_id: str | None) -> ConsentTarget:
    """Fill what the options leave out from the settings; ConfigError naming what is missing."""
    managed_identity = False
    if tenant is None or client_id is None:
        from graph_dpg.config import load_settings

        try:
            settings = load_settings()
        except ConfigError as exc:
            raise ConfigError(
                "cannot read the settings to fill in --tenant/--client-id (pass both to skip them)",
                exc.problems,
            ) from exc
        managed_identity = settings.credential_kind == "managed_identity"
        tenant = tenant if tenant is not None else settings.tenant_id
        if client_id is None:
            client_id = settings.client_id or (
                settings.managed_identity_client_id if managed_identity else None
            )
    missing = []
    if not tenant:
        missing.append("the tenant: pass --tenant or set GRAPH_DPG_TENANT_ID")
    if not client_id:
        missing.append("the client id: pass --client-id or set GRAPH_DPG_CLIENT_ID")
    if missing or tenant is None or client_id is None:
        raise ConfigError("missing " + " and ".join(m.split(":")[0] for m in missing), missing)
    return ConsentTarget(validate_tenant(tenant), validate_client_id(client_id), managed_identity)


def render_guidance(target: ConsentTarget, url: str) -> str:
    """The full text: permissions, the recommended RBAC for Applications path, the legacy consent URL."""
    width = max(len(p.name) for p in REQUIRED_PERMISSIONS)
    lines = [
        "graph_dpg - Microsoft Graph access",
        f"  tenant:    {target.tenant}",
        f"  client id: {target.client_id}",
        "",
        f"Application permissions (Microsoft Graph, resource appId {GRAPH_RESOURCE_APP_ID}):",
    ]
    lines += [f"  {p.name:<{width}}  {p.app_role_id}  {p.reason}" for p in REQUIRED_PERMISSIONS]
    lines += [
        "",
        "RECOMMENDED: Exchange Online RBAC for Applications, scoped to the function mailboxes",
        "  Grant these Exchange roles over a management scope of the function mailboxes' group:",
    ]
    lines += [f"    {p.exchange_role}" for p in REQUIRED_PERMISSIONS]
    lines += [
        "  with infra/exchange/Grant-GraphDpgMailboxAccess.ps1 (Exchange Online PowerShell):",
        f"    ./Grant-GraphDpgMailboxAccess.ps1 -AppId {target.client_id} `",
        "      -ServicePrincipalObjectId <Enterprise application object id> `",
        "      -MailboxGroup <function mailboxes' group> -Mailboxes <mailbox>,<mailbox> -WhatIf",
        "",
        "  !! Then do NOT open the consent URL below and do NOT click 'Grant admin consent' in Entra ID.",
        "  !! Entra application permissions are tenant-wide and are ADDED to the Exchange RBAC grants:",
        "  !! one consent and the app can read and change EVERY mailbox in the tenant.",
        "  !! If the app registration lists these permissions, remove them or leave them unconsented.",
        "",
    ]
    if target.managed_identity:
        lines += [
            "  Note: the client is a managed identity. Managed identities have no consent page; use the",
            "  identity's application id and its service principal object id in the script above.",
            "",
        ]
    lines += [
        "LEGACY (only where RBAC for Applications cannot be used): tenant-wide consent, restricted at once",
        "  1. A Privileged Role Administrator opens this URL and accepts:",
        f"     {url}",
        "  2. Immediately restrict the app to the function mailboxes (mail-enabled security group):",
        f"     New-ApplicationAccessPolicy -AppId {target.client_id} -PolicyScopeGroupId <group> "
        "-AccessRight RestrictAccess -Description 'graph_dpg'",
        f"     Test-ApplicationAccessPolicy -AppId {target.client_id} -Identity <mailbox>",
        "",
        "Check afterwards with: graph-dpg doctor",
    ]
    return "\n".join(lines) + "\n"


def register(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "consent-url",
        "print the admin-consent URL and the Graph permissions graph_dpg needs",
        __doc__,
    )
    parser.add_argument("--tenant", help="tenant GUID or domain (default: GRAPH_DPG_TENANT_ID)")
    parser.add_argument("--client-id", help="application (client) id (default: GRAPH_DPG_CLIENT_ID)")
    parser.add_argument(
        "--redirect-uri",
        default=DEFAULT_REDIRECT_URI,
        help=f"a redirect URI registered on the app (default: {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument("--state", help="value echoed back on the redirect (default: random)")
    parser.add_argument("--url-only", action="store_true", help="print only the URL (for scripts)")
    parser.set_defaults(func=run_consent_url)


def run_consent_url(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        target = resolve_target(args.tenant, args.client_id)
        url = admin_consent_url(target.tenant, target.client_id, args.redirect_uri, args.state)
    except ConfigError as exc:
        print(f"graph-dpg consent-url: {exc}", file=err)
        for problem in exc.problems:
            if problem != str(exc):
                print(f"  - {problem}", file=err)
        return EXIT_USAGE
    out.write(url + "\n" if args.url_only else render_guidance(target, url))
    return EXIT_OK
