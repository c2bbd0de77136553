"""``graph-dpg doctor``: is this installation ready to run? Every check says what is wrong and how to fix it.

The checks, in the order they run, and what each one needs first::

    settings (.env) ──► gateway file ─┬─► graph token ──► mailbox <address> ──► categories <function mailbox>
                                      │                                     └─► permissions <address>
                                      ├─► ngdp certificate ──► ngdp (mTLS + API token) ──► contact points
                                      ├─► database (reachable, migrated to the newest revision)
                                      ├─► smime certificates (files + Key Vault; which one signs), when set
                                      └─► ngdp push (REST PUSH only: NgDP identified by certificate/address)

A check whose prerequisite failed is reported as ``skip`` (it would only repeat the same failure). Each check
is an async method of :class:`Doctor` returning one :class:`CheckResult`; :func:`load_configuration` runs the
first two, which decide whether anything else can run at all.

Statuses: ``ok``; ``warn`` (works, but should be looked at: a certificate expiring within 30 days, an app
token with tenant-wide roles, wrong category colours); ``fail`` (the gateway will not work as configured);
``skip``. :func:`exit_code`: 0 without failures (warnings allowed), 1 with a failure, 2 when the settings or
the gateway file are unusable.

Nothing is changed unless ``fix=True``: then missing folders are created (``ensure_folder``), master
categories created and their colours corrected (``ensure_master_categories``) and the database created
and migrated. Mailboxes, permissions, certificates and contact points are never changed: their fixes are
for an administrator.

Graph permissions: with Exchange RBAC for Applications (the recommended set-up, infra/README.md §2.1) the
app token carries no ``roles`` claim, because the grants live in Exchange and are checked per mailbox on
every call (learn.microsoft.com/exchange/permissions-exo/application-rbac). So roles are not required;
access is proven per mailbox, and roles that *are* present mean Entra admin consent, which opens every
mailbox in the tenant unless an Application Access Policy restricts it (legacy set-up, §2.2): a warning.
Graph answers 401 ``InvalidAuthenticationToken`` for a token it does not accept and 403
``ErrorAccessDenied`` for a mailbox outside the app's scope (learn.microsoft.com/graph/errors,
learn.microsoft.com/graph/auth-limit-mailbox-access).

``permissions <address>``: every permission the one table (graph_dpg/domain/permissions.py) marks as
required is probed on every configured mailbox with a harmless call that needs exactly it (its ``Probe``);
a 403 names the missing permission, its Exchange role and the fix. When every probe is refused with
"Access to OData is disabled." the mailbox is outside the app's management scope instead.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graph_dpg.adapters.digital_post.tls import load_certificate_file
from graph_dpg.adapters.graph import GraphMailbox
from graph_dpg.adapters.smime.keyvault import KeyVaultCertificates, access_fix
from graph_dpg.adapters.store import (
    SqlStore,
    create_store,
    known_revisions,
    redacted_url,
    schema_heads,
    sqlite_file,
)
from graph_dpg.bootstrap import (
    make_graph_mailbox,
    make_keyvault_certificates,
    make_ngdp_client,
    make_push_auth,
    organisation_keyring,
)
from graph_dpg.bootstrap.console import console_options, console_problems
from graph_dpg.config import GatewayConfig, Settings, load_gateway_file, load_settings
from graph_dpg.core.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RemoteError,
    StoreError,
    TransientError,
)
from graph_dpg.domain.inbox_rules import why_not
from graph_dpg.domain.permissions import GraphPermission, Probe, permission, required_permissions
from graph_dpg.ports.digital_post import ContactPointInfo, DigitalPostPort

if TYPE_CHECKING:
    import httpx  # only the type of the transport a test hands to the composition root

log = logging.getLogger(__name__)

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "CheckResult",
    "Doctor",
    "MailboxPlan",
    "Status",
    "diagnose",
    "exit_code",
    "load_configuration",
    "mailbox_plan",
    "summary_counts",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: A certificate expiring within this many days is a warning.
CERTIFICATE_WARN_DAYS = 30
#: Upper bound for one check; a remote that never answers must not hang the doctor.
CHECK_TIMEOUT_S = 30.0

_RBAC_FIX = (
    "give the app access with Exchange RBAC for Applications: add the mailbox to the mail-enabled security "
    "group of the management scope (infra/README.md §3, infra/exchange/Grant-GraphDpgMailboxAccess.ps1; "
    "rerunning it is safe) and check with Test-ServicePrincipalAuthorization; role changes can take up to "
    "about two hours to reach the token"
)


_SETTINGS = permission("MailboxSettings.ReadWrite")
_OUT_OF_SCOPE = "Access to OData is disabled."


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report. ``fix`` says what to do when the status is not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def exit_code(results: Sequence[CheckResult], *, unusable: bool = False) -> int:
    if unusable:
        return EXIT_CONFIG
    return EXIT_FAILED if any(r.status is Status.FAIL for r in results) else EXIT_OK


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.OK, detail)


def _warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def _skip(name: str, why: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, why)


def _problems(exc: ConfigError, limit: int = 12) -> str:
    shown = exc.problems[:limit]
    more = f"\n(+{len(exc.problems) - limit} more)" if len(exc.problems) > limit else ""
    return "\n".join(shown) + more


def _remote(exc: RemoteError) -> str:
    """``403 ErrorAccessDenied: Access to OData is disabled.`` - status, code and message, no prefix."""
    head = " ".join(str(x) for x in (exc.status, exc.code) if x)
    # Graph's own words when the error body had them (the adapter's message is prefixed with its context).
    body = exc.details.get("error") if isinstance(exc.details, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if message else exc.message
    return f"{head}: {text}" if head else text


# =====================================================================================================
# Settings and the gateway file
# =====================================================================================================


def load_configuration(
    env_file: Path | None = Path(".env"),
    gateway_file: Path | None = None,
    *,
    env_file_required: bool = False,
) -> tuple[list[CheckResult], Settings | None, GatewayConfig | None]:
    """The ``settings`` and ``gateway file`` checks. Settings or config is None when unusable (exit 2).

    ``gateway_file`` overrides ``GRAPH_DPG_GATEWAY_FILE``; ``env_file_required``: the admin named the file,
    so its absence is an error rather than "settings come from the environment only".
    """
    results: list[CheckResult] = []
    settings: Settings | None = None
    if env_file is not None and env_file_required and not env_file.is_file():
        results.append(
            _fail(
                "settings",
                f"{env_file}: file not found",
                "give the path of the settings file (.env.example documents every setting)",
            )
        )
    else:
        source = str(env_file) if env_file is not None and env_file.is_file() else "the environment"
        try:
            settings = load_settings(env_file)
        except ConfigError as exc:
            results.append(
                _fail(
                    "settings",
                    f"{len(exc.problems)} problem(s) in {source}:\n{_problems(exc)}",
                    "correct these GRAPH_DPG_* settings (every setting is documented in .env.example); "
                    "graph-dpg check-config shows them all",
                )
            )
        else:
            results.append(_settings_result(settings, source))

    path = gateway_file or (settings.gateway_file if settings is not None else None)
    if path is None:
        results.append(_skip("gateway file", "the settings are unusable and --gateway-file was not given"))
        return results, settings, None
    try:
        config = load_gateway_file(path)
    except ConfigError as exc:
        results.append(
            _fail(
                "gateway file",
                f"{len(exc.problems)} problem(s):\n{_problems(exc)}",
                f"edit {path} at the lines shown (examples/gateway.yaml is a commented example); "
                "graph-dpg check-config re-checks it",
            )
        )
        return results, settings, None
    results.append(
        _ok(
            "gateway file",
            f"{path}: {config.organisation.name} (CVR {config.organisation.cvr}), "
            f"{len(config.function_mailboxes)} function mailbox(es), {len(config.contact_points)} contact "
            f"point(s), {len(config.rules)} rule(s)",
        )
    )
    return results, settings, config


def _settings_result(settings: Settings, source: str) -> CheckResult:
    db = redacted_url(settings.database_url)
    detail = (
        f"valid ({source}): credential {settings.credential_kind}, Graph {settings.graph_base_url}, "
        f"NgDP {settings.ngdp_base_url}, database {db}"
    )
    if settings.is_sandbox and urlsplit(settings.graph_base_url).hostname not in _LOOPBACK:
        return _warn(
            "settings",
            detail,
            "GRAPH_DPG_CREDENTIAL_KIND=sandbox only works with the emulators: for a real tenant set "
            "certificate, client_secret or managed_identity (or run graph-dpg doctor --sandbox)",
        )
    return _ok("settings", detail)


# =====================================================================================================
# The checks that talk to Graph, NgDP and the database
# =====================================================================================================


@dataclass(frozen=True)
class MailboxPlan:
    """A configured mailbox: its roles in the gateway file and the folders the gateway polls in it."""

    address: str
    roles: tuple[str, ...]
    folders: tuple[str, ...]


def mailbox_plan(config: GatewayConfig) -> list[MailboxPlan]:
    """Every configured mailbox with its roles and the folders the gateway polls in it, in file order."""
    roles: dict[str, list[str]] = {}

    def add(address: str | None, role: str) -> None:
        if address:
            roles.setdefault(address, [])
            if role not in roles[address]:
                roles[address].append(role)

    add(config.main_mailbox, "main")
    add(config.monitoring_mailbox, "monitoring")
    add(config.archive_mailbox, "archive")
    for box in config.function_mailboxes:
        add(box.address, "function")
    folders: dict[str, list[str]] = {address: [] for address in roles}
    for address, folder in [*config.outgoing_sources(), *config.inbox_sources()]:
        if folder.casefold() not in (f.casefold() for f in folders[address]):
            folders[address].append(folder)
    return [MailboxPlan(a, tuple(r), tuple(folders[a])) for a, r in roles.items()]


class Doctor:
    """The checks against the remote sides, for one ``Settings`` + ``GatewayConfig``.

    Adapters are built the way the composition root builds them (``graph_dpg.bootstrap``); tests inject
    ``graph`` (a GraphMailbox), ``graph_transport`` (an httpx transport to the Graph emulator) or ``ngdp``.
    Use :meth:`run` for all checks in order, or call single checks (they fill the state later checks use:
    the NgDP contact points, the reachable mailboxes). Close with :meth:`aclose`.
    """

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig,
        *,
        fix: bool = False,
        graph: GraphMailbox | None = None,
        graph_transport: httpx.AsyncBaseTransport | None = None,
        ngdp: DigitalPostPort | None = None,
        keyvault: KeyVaultCertificates | None = None,
        warn_days: int = CERTIFICATE_WARN_DAYS,
        timeout: float = CHECK_TIMEOUT_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.config = config
        self.fix = fix
        self.warn_days = warn_days
        self.timeout = timeout
        self._now = now
        self._graph = graph
        self._graph_transport = graph_transport
        self._ngdp = ngdp
        self._keyvault = keyvault
        self._closers: list[Any] = []
        self._graph_error: str | None = None
        self._token_ok = False
        self.reachable: set[str] = set()
        #: Mailboxes that answered 403 to the mailbox check (the permissions check says why).
        self.forbidden: set[str] = set()
        self.contact_points: list[ContactPointInfo] | None = None
        self.certificate_expired = False

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            try:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:  # one failing close must not keep the others open
                log.warning("closing %r failed: %s", closer, exc)
        self._closers.clear()

    # ------------------------------------------------------------------ running

    async def run(self, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
        """Every check in the documented order; ``on_result`` sees each result as soon as it is known."""
        results: list[CheckResult] = []

        def emit(result: CheckResult) -> None:
            results.append(result)
            if on_result is not None:
                on_result(result)

        emit(await self._guard("graph token", self.check_graph_token()))
        plans = mailbox_plan(self.config)
        # Mailboxes are independent: check them concurrently, report them in file order.
        for result in await asyncio.gather(
            *(self._guard(f"mailbox {p.address}", self.check_mailbox(p.address)) for p in plans)
        ):
            emit(result)
        for result in await asyncio.gather(
            *(self._guard(f"permissions {p.address}", self.check_permissions(p.address)) for p in plans)
        ):
            emit(result)
        function_boxes = [box.address for box in self.config.function_mailboxes]
        for result in await asyncio.gather(
            *(self._guard(f"categories {a}", self.check_categories(a)) for a in function_boxes)
        ):
            emit(result)
        for result in await asyncio.gather(
            *(self._guard(f"inbox rules {p.address}", self.check_inbox_rules(p.address)) for p in plans)
        ):
            emit(result)
        emit(await self._guard("ngdp certificate", self.check_certificate()))
        emit(await self._guard("ngdp", self.check_ngdp()))
        emit(await self._guard("contact points", self.check_contact_points()))
        emit(await self._guard("database", self.check_database()))
        s = self.settings
        if s.smime_certificates or (s.keyvault_url and s.smime_keyvault_certificates):
            emit(await self._guard("smime certificates", self.check_smime_certificates()))
        if self.settings.push_enabled:
            emit(await self._guard("ngdp push", self.check_push()))
        if console_problems(s) or console_options(s) is not None:
            emit(await self._guard("console", self.check_console()))
        return results

    async def _guard(self, name: str, check: Awaitable[CheckResult]) -> CheckResult:
        """A check that hangs or breaks unexpectedly becomes a failed line, never a crashed doctor."""
        try:
            return await asyncio.wait_for(check, self.timeout)
        except TimeoutError:
            return _fail(
                name,
                f"no answer within {self.timeout:g} s",
                "check the network path (DNS, proxy, firewall) to the service named above",
            )
        except Exception as exc:
            log.debug("doctor check %s crashed", name, exc_info=True)
            return _fail(name, f"unexpected error: {type(exc).__name__}: {exc}", "see the log for details")

    # ------------------------------------------------------------------ Graph

    def _mailbox_adapter(self) -> GraphMailbox:
        if self._graph is None:
            # make_graph_mailbox registers the credential's and its HTTP client's close in _closers.
            self._graph = make_graph_mailbox(self.settings, self._closers, transport=self._graph_transport)
            self._closers.append(self._graph.aclose)
        return self._graph

    def _credential_fix(self) -> str:
        kind = self.settings.credential_kind
        if kind == "client_secret":
            return (
                "check GRAPH_DPG_TENANT_ID, GRAPH_DPG_CLIENT_ID and GRAPH_DPG_CLIENT_SECRET: the secret "
                "may be wrong or expired (Entra admin center → App registrations → Certificates & secrets "
                "→ new client secret); prefer a certificate (infra/README.md §1)"
            )
        if kind == "certificate":
            return (
                "check GRAPH_DPG_TENANT_ID, GRAPH_DPG_CLIENT_ID and GRAPH_DPG_CLIENT_CERTIFICATE_PATH: the "
                "certificate must be uploaded to the app registration (Certificates & secrets), unexpired, "
                "and the file must hold its private key (GRAPH_DPG_CLIENT_CERTIFICATE_PASSWORD if encrypted)"
            )
        if kind == "managed_identity":
            return (
                "check that the managed identity is assigned to this host (container app → Identity) and "
                "that GRAPH_DPG_MANAGED_IDENTITY_CLIENT_ID names it (empty for the system-assigned identity)"
            )
        return "the Graph emulator accepts only its own token (sandbox-token); run graph-dpg doctor --sandbox"

    async def check_graph_token(self) -> CheckResult:
        """A token can be obtained and Graph accepts it (probed on the main mailbox); roles → warning."""
        name = "graph token"
        try:
            graph = self._mailbox_adapter()
        except ConfigError as exc:
            self._graph_error = "the Graph credential cannot be built"
            return _fail(
                name, f"cannot build the Graph credential:\n{_problems(exc)}", self._credential_fix()
            )
        try:
            roles = await graph.token_roles()
        except AuthError as exc:
            self._graph_error = "no Graph token"
            return _fail(name, exc.message, self._credential_fix())
        except TransientError as exc:
            self._graph_error = "no Graph token"
            return _fail(
                name,
                exc.message,
                "allow outbound HTTPS to login.microsoftonline.com (proxy, firewall, DNS)",
            )
        probe = self.config.main_mailbox
        try:
            await graph.check_mailbox(probe)
        except AuthError as exc:
            if exc.status == 401:
                self._graph_error = "Graph refused the token"
                return _fail(
                    name,
                    f"a token was issued but Graph refused it ({_remote(exc)})",
                    self._credential_fix(),
                )
            # 403 etc.: the token is good; the mailbox check says what is wrong with that mailbox.
        except TransientError as exc:
            self._graph_error = "Graph is unreachable"
            return _fail(
                name,
                f"Graph at {self.settings.graph_base_url} is unreachable: {_remote(exc)}",
                "check GRAPH_DPG_GRAPH_BASE_URL and outbound HTTPS to graph.microsoft.com",
            )
        except RemoteError:
            pass  # reported per mailbox
        self._token_ok = True
        if roles:
            return _warn(
                name,
                f"token accepted, but it carries tenant-wide application roles: {', '.join(sorted(roles))}. "
                "Admin consent in Entra ID opens EVERY mailbox of the tenant to this app",
                "remove the Graph application permissions from the app registration (API permissions → "
                "remove, revoke admin consent) and grant access with Exchange RBAC for Applications, scoped "
                "to the function mailboxes (infra/README.md §2.1); if you deliberately use the legacy model, "
                "verify the Application Access Policy with Test-ApplicationAccessPolicy",
            )
        return _ok(
            name,
            f"token obtained ({self.settings.credential_kind}) and accepted by Graph; no tenant-wide roles "
            "(access is granted per mailbox)",
        )

    async def check_mailbox(self, address: str) -> CheckResult:
        """The mailbox answers, and every folder the gateway polls in it exists (created with ``fix``)."""
        plan = next((p for p in mailbox_plan(self.config) if p.address == address), None)
        roles = ", ".join(plan.roles) if plan else "not in the gateway file"
        folders = plan.folders if plan else ()
        name = f"mailbox {address}"
        if not self._token_ok:
            return _skip(name, self._graph_error or "the Graph token check has not passed")
        graph = self._mailbox_adapter()
        try:
            await graph.check_mailbox(address)
            missing: list[str] = []
            created: list[str] = []
            for folder in folders:
                if await graph.find_folder(address, folder) is not None:
                    continue
                if self.fix:
                    await graph.ensure_folder(address, folder)
                    created.append(folder)
                else:
                    missing.append(folder)
        except RemoteError as exc:
            if isinstance(exc, AuthError) and exc.status != 401:
                self.forbidden.add(address)
            return self._graph_failure(name, address, roles, exc)
        self.reachable.add(address)
        polled = f"; polled folders: {', '.join(folders)}" if folders else ""
        if missing:
            return _fail(
                name,
                f"{roles}: reachable, but folder(s) not found: {', '.join(missing)}",
                f"create the folder(s) in {address} (Outlook, or graph-dpg doctor --fix), or correct "
                "outgoing_folder / inbox_folders in the gateway file",
            )
        done = f"; created: {', '.join(created)}" if created else ""
        return _ok(name, f"{roles}: reachable{polled}{done}")

    def _graph_failure(self, name: str, address: str, roles: str, exc: RemoteError) -> CheckResult:
        if isinstance(exc, AuthError) and exc.status == 401:
            return _fail(name, f"{roles}: Graph refused the token ({_remote(exc)})", self._credential_fix())
        if isinstance(exc, AuthError):
            return _fail(name, f"{roles}: the app may not access this mailbox ({_remote(exc)})", _RBAC_FIX)
        if isinstance(exc, NotFoundError):
            return _fail(
                name,
                f"{roles}: no such mailbox in the tenant ({_remote(exc)})",
                "correct the address in the gateway file, or create the shared mailbox in Exchange "
                "(and add it to the app's mailbox group)",
            )
        if isinstance(exc, TransientError):
            return _fail(
                name,
                f"{roles}: Graph did not answer ({_remote(exc)})",
                "try again; if it persists check Graph service health and the network path",
            )
        return _fail(name, f"{roles}: {_remote(exc)}", "see the Graph error above")

    async def check_permissions(self, address: str) -> CheckResult:
        """Each required permission of the table, probed on ``address`` (see the module docstring)."""
        name = f"permissions {address}"
        if address not in self.reachable and address not in self.forbidden:
            return _skip(name, "the mailbox is not reachable")
        graph = self._mailbox_adapter()
        present: list[str] = []
        missing: list[tuple[GraphPermission, AuthError]] = []
        notes: list[str] = []
        for row in required_permissions():
            try:
                if row.probe is Probe.MAIL_WRITE:
                    await graph.probe_mail_write(address)
                elif row.probe is Probe.CONTACTS_READ:
                    await graph.probe_contacts_read(address)
                elif row.probe is Probe.CATEGORIES_WRITE:
                    if not await graph.probe_categories_write(address):
                        notes.append(f"{row.name}: only reading checked (no category to rewrite)")
                else:
                    notes.append(f"{row.name}: no harmless call needs it, not checked")
                    continue
            except AuthError as exc:
                if exc.status == 401:
                    return _fail(name, f"Graph refused the token ({_remote(exc)})", self._credential_fix())
                missing.append((row, exc))
                continue
            except RemoteError as exc:
                return self._graph_failure(name, address, "permissions", exc)
            present.append(row.name)
        extra = f" ({'; '.join(notes)})" if notes else ""
        if not missing:
            return _ok(name, f"{', '.join(present)} granted on this mailbox{extra}")
        if not present and all(_OUT_OF_SCOPE in _remote(exc) for _, exc in missing):
            return _fail(
                name,
                "the mailbox is outside the app's management scope: every call is refused "
                f"({_remote(missing[0][1])})",
                _RBAC_FIX,
            )
        lines = [f"{row.name} missing: needed to {row.reason} ({_remote(exc)})" for row, exc in missing]
        roles = ", ".join(f"'{row.exchange_role}'" for row, _ in missing)
        return _fail(
            name,
            "\n".join(lines) + (f"\ngranted: {', '.join(present)}" if present else "") + extra,
            f"assign the Exchange role(s) {roles} to the app over the function mailboxes' management scope: "
            "rerun infra/exchange/Grant-GraphDpgMailboxAccess.ps1 (it assigns every role graph_dpg needs; "
            "rerunning is safe) and check with Test-ServicePrincipalAuthorization; in the legacy model "
            "(Application Access Policy) graph-dpg consent-url lists the permissions to consent. Role "
            "changes can take up to about two hours to reach the token",
        )

    async def check_categories(self, address: str) -> CheckResult:
        """The master category list of a function mailbox holds the gateway's categories and colours."""
        name = f"categories {address}"
        if address not in self.reachable:
            return _skip(name, "the mailbox is not reachable")
        wanted = {spec.name: spec.color for _, spec in self.config.categories.items()}
        graph = self._mailbox_adapter()
        try:
            present = await graph.get_master_categories(address)
            by_name = {n.casefold(): (n, c) for n, c in present.items()}
            missing = [n for n in wanted if n.casefold() not in by_name]
            wrong = [
                f"{n} is {by_name[n.casefold()][1]}, configured {c}"
                for n, c in wanted.items()
                if n.casefold() in by_name and by_name[n.casefold()][1] != c
            ]
            if self.fix and (missing or wrong):
                await graph.ensure_master_categories(address, wanted)
                changed = [
                    f"created {', '.join(missing)}" if missing else "",
                    "colours corrected" if wrong else "",
                ]
                return _ok(name, f"{len(wanted)} categories present; " + "; ".join(c for c in changed if c))
        except RemoteError as exc:
            if isinstance(exc, AuthError) and exc.status != 401:
                return _fail(
                    name,
                    f"the master category list cannot be read ({_remote(exc)})",
                    f"the app needs {_SETTINGS.name} on this mailbox (Exchange role assignment "
                    f"'{_SETTINGS.exchange_role}', infra/exchange/Grant-GraphDpgMailboxAccess.ps1)",
                )
            return self._graph_failure(name, address, "categories", exc)
        if missing:
            return _fail(
                name,
                f"missing from the master category list: {', '.join(missing)}",
                "graph-dpg doctor --fix creates them with the configured colours (graph-dpg run also "
                "creates them when it starts)",
            )
        if wrong:
            return _warn(
                name,
                "colours differ from the gateway file: " + "; ".join(wrong),
                "graph-dpg doctor --fix sets the configured colours (or change them in the gateway file)",
            )
        return _ok(name, f"all {len(wanted)} categories present with the configured colours")

    async def check_inbox_rules(self, address: str) -> CheckResult:
        """The mailbox owner's Outlook inbox rules: the gateway applies them to delivered post when it can
        honour every condition and action (domain/inbox_rules.py); the others are listed with why."""
        name = f"inbox rules {address}"
        if address not in self.reachable:
            return _skip(name, "the mailbox is not reachable")
        try:
            rules = await self._mailbox_adapter().list_inbox_rules(address)
        except RemoteError as exc:
            return _warn(
                name,
                f"the inbox rules cannot be read ({_remote(exc)}); post is delivered without them",
                f"the app needs {_SETTINGS.name} on this mailbox (Exchange role assignment "
                f"'{_SETTINGS.exchange_role}')",
            )
        enabled = [r for r in rules if r.enabled]
        ignored = [(r, why_not(r)) for r in sorted(enabled, key=lambda r: r.sequence)]
        ignored = [(r, why) for r, why in ignored if why]
        if not enabled:
            return _ok(name, "no enabled inbox rules")
        if not ignored:
            return _ok(name, f"{len(enabled)} enabled rule(s), all applied to delivered post when they match")
        listed = "; ".join(f"'{r.name}': {', '.join(why)}" for r, why in ignored)
        return _warn(
            name,
            f"{len(ignored)} of {len(enabled)} enabled rule(s) cannot be honoured and are not applied to "
            f"delivered post: {listed}",
            "the gateway applies rules that only use sender, subject, body and importance conditions and "
            "move, categorise, mark importance, mark as read and stop actions; change the rule in Outlook "
            "or accept that it does not act on Digital Post",
        )

    # ------------------------------------------------------------------ NgDP

    async def check_certificate(self) -> CheckResult:
        """The OCES3 certificate loads with its key and is valid now, and for more than ``warn_days``."""
        name = "ngdp certificate"
        path = self.settings.ngdp_certificate_path
        if path is None:
            return _fail(
                name,
                "no OCES3 certificate configured: NgDP requires mutual TLS",
                "set GRAPH_DPG_NGDP_CERTIFICATE_PATH (PEM or PKCS#12 with the private key) and, if it is "
                "encrypted, GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD",
            )
        password = self.settings.ngdp_certificate_password
        try:
            identity = await asyncio.to_thread(
                load_certificate_file, path, password.get_secret_value() if password else None
            )
        except ConfigError as exc:
            return _fail(
                name,
                str(exc),
                "check GRAPH_DPG_NGDP_CERTIFICATE_PATH and GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD (PKCS#12 from "
                "MitID Erhverv, or PEM with certificate and key)",
            )
        now = self._now()
        cert = identity.certificate
        subject = identity.subject()
        not_after = identity.not_valid_after
        renew = (
            "renew the OCES3 certificate in MitID Erhverv, register the new one for the system in NgDP "
            "administration, and replace the file (Key Vault: infra/README.md §7, Rotation)"
        )
        if cert.not_valid_before_utc > now:
            return _fail(
                name,
                f"{subject} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                "check the clock of this host, or wait until the certificate is valid",
            )
        if not_after <= now:
            self.certificate_expired = True
            return _fail(
                name, f"{subject} expired on {not_after:%Y-%m-%d} ({(now - not_after).days} days ago)", renew
            )
        days = identity.days_left(now)
        detail = f"{subject}, valid until {not_after:%Y-%m-%d} ({days} days left)"
        if days < self.warn_days:
            return _warn(name, detail, renew + f" before {not_after:%Y-%m-%d}")
        return _ok(name, detail)

    # ------------------------------------------------------------------ S/MIME

    async def check_smime_certificates(self) -> CheckResult:
        """The organisation's S/MIME certificates load (files and Key Vault), one line each, and which one
        signs now (valid, latest notAfter). Key Vault refusing access names the role to grant."""
        name = "smime certificates"
        try:
            ring = await asyncio.to_thread(organisation_keyring, self.settings)
        except ConfigError as exc:
            return _fail(
                name,
                str(exc),
                "check GRAPH_DPG_SMIME_CERTIFICATES and GRAPH_DPG_SMIME_CERTIFICATE_PASSWORD",
            )
        source = self._keyvault
        if source is None and ring.vault_configured:
            source = make_keyvault_certificates(self.settings, self._closers)
        if source is not None:
            try:
                ring.replace_vault(await source.load())
            except AuthError as exc:
                return _fail(name, exc.message, str(exc.details.get("fix") or access_fix(source.vault_url)))
            except ConfigError as exc:
                return _fail(
                    name,
                    f"{exc}:\n{_problems(exc)}",
                    "check GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES against the vault's certificates (the "
                    "certificate's key must be exportable)",
                )
            except TransientError as exc:
                return _fail(
                    name,
                    exc.message,
                    f"check GRAPH_DPG_KEYVAULT_URL and outbound HTTPS to {source.vault_url}",
                )
        now = self._now()
        chosen = ring.signing_certificate(now)
        lines = []
        for cert in ring.certificates:
            where = (
                "Key Vault " + cert.source.removeprefix("keyvault:")
                if cert.source.startswith("keyvault:")
                else cert.source
            )
            state = "expired" if cert.not_after <= now else ("not yet valid" if cert.not_before > now else "")
            signs = "; signs" if cert is chosen else ""
            lines.append(
                f"{where}: found, {cert.subject()}, valid until {cert.not_after:%Y-%m-%d}"
                + (f" ({state})" if state else "")
                + signs
            )
        detail = "\n".join(lines) or "none loaded"
        if chosen is None:
            return _fail(
                name,
                detail + "\nno certificate is valid now: secure mail cannot be signed (and is not sent)",
                "renew the organisation's OCES3 certificate in MitID Erhverv and import it into Key Vault "
                "(or replace the file)",
            )
        days = (chosen.not_after - now).days
        if days < self.warn_days:
            return _warn(
                name,
                detail,
                f"the signing certificate expires in {days} days: renew it and import the new one (the "
                "gateway switches to it by itself)",
            )
        return _ok(name, detail)

    def _ngdp_adapter(self) -> DigitalPostPort:
        if self._ngdp is None:
            client = make_ngdp_client(self.settings)
            self._closers.append(client.aclose)
            self._ngdp = client
        return self._ngdp

    async def check_ngdp(self) -> CheckResult:
        """NgDP answers a cheap authenticated request (the contact point list) over mutual TLS."""
        name = "ngdp"
        url = self.settings.ngdp_base_url
        try:
            ngdp = self._ngdp_adapter()
        except ConfigError as exc:
            return _fail(
                name,
                f"the NgDP client cannot be built:\n{_problems(exc)}",
                "set GRAPH_DPG_NGDP_SYSTEM_ID and GRAPH_DPG_NGDP_API_TOKEN (NgDP administration → the "
                "system) and a loadable GRAPH_DPG_NGDP_CERTIFICATE_PATH",
            )
        expired = " The certificate has expired (see 'ngdp certificate')." if self.certificate_expired else ""
        try:
            points = await ngdp.list_contact_points()
        except AuthError as exc:
            if exc.status in (401, 403):
                fix = (
                    "check GRAPH_DPG_NGDP_SYSTEM_ID and GRAPH_DPG_NGDP_API_TOKEN against the system in NgDP "
                    "administration (admin.digitalpost.dk), and that the system may act for the organisation"
                )
            else:
                fix = (
                    "the TLS handshake failed: use the OCES3 certificate registered for the system in NgDP "
                    "administration (unexpired, with its key); GRAPH_DPG_NGDP_CA_BUNDLE only for test set-ups"
                )
            return _fail(name, f"{url}: {exc.message}.{expired}", fix)
        except TransientError as exc:
            fix = (
                "check GRAPH_DPG_NGDP_BASE_URL (test: https://api.test.digitalpost.dk/apis/v1) and outbound "
                "HTTPS from this host; a refused client certificate can also look like a dropped connection"
            )
            return _fail(name, f"{url}: {exc.message}.{expired}", fix)
        except RemoteError as exc:
            return _fail(name, f"{url}: {_remote(exc)}", "see the NgDP error above")
        self.contact_points = points
        return _ok(
            name,
            f"{url}: mutual TLS and API token accepted; {len(points)} contact point(s) of the organisation",
        )

    async def check_contact_points(self) -> CheckResult:
        """Every active NgDP contact point is mapped (or unmapped on purpose); every configured one exists."""
        name = "contact points"
        if self.contact_points is None:
            return _skip(name, "NgDP is not reachable")
        at_ngdp = {p.id.lower(): p for p in self.contact_points}
        mapped = {cp.id: cp for cp in self.config.contact_points}
        senders = {
            cp: box.address for box in self.config.function_mailboxes for cp in box.sender_contact_points
        }
        unmapped = [p for key, p in at_ngdp.items() if key not in mapped and p.active]
        unknown = [f"{cp.id} ({cp.name})" for cp in self.config.contact_points if cp.id not in at_ngdp]
        unknown += [
            f"{cp} (sender contact point of {box})"
            for cp, box in senders.items()
            if cp not in at_ngdp and cp not in mapped
        ]
        inactive = [
            f"{cp.id} ({cp.name})"
            for cp in self.config.contact_points
            if cp.id in at_ngdp and not at_ngdp[cp.id].active
        ]
        problems: list[str] = []
        fixes: list[str] = []
        if unmapped:
            problems.append(
                "in NgDP but not in the gateway file: " + ", ".join(f"{p.id} ({p.name})" for p in unmapped)
            )
            snippet = "".join(
                f"\n  - id: {p.id}\n    name: {p.name}\n    mailbox: <mailbox address>   # or null"
                for p in unmapped
            )
            fixes.append(
                "map each under contact_points: in the gateway file, or set mailbox: null to leave it "
                "unmapped on purpose (its post then goes to the main mailbox with a warning banner):"
                + snippet
            )
        if unknown:
            problems.append("in the gateway file but not in NgDP: " + ", ".join(unknown))
            fixes.append(
                "correct the id (copy it from NgDP administration → contact points) or remove the entry"
            )
        if problems:
            return _fail(name, "; ".join(problems), "\n".join(fixes))
        explicit = sum(1 for cp in self.config.contact_points if cp.mailbox is None)
        detail = f"{len(at_ngdp)} in NgDP, {len(mapped) - explicit} mapped, {explicit} unmapped on purpose"
        if inactive:
            return _warn(
                name,
                f"{detail}; inactive in NgDP: {', '.join(inactive)}",
                "remove contact points NgDP has deactivated from the gateway file",
            )
        return _ok(name, detail)

    # ------------------------------------------------------------------ database

    async def check_push(self) -> CheckResult:
        """REST PUSH: is NgDP identified by something it actually presents (certificate and/or address)?"""
        name = "ngdp push"
        if not self.settings.push_enabled:
            return _skip(name, "push not configured (REST PULL)")  # run() does not even list it then
        try:
            auth = make_push_auth(self.settings)
        except ConfigError as exc:
            return _fail(
                name, _problems(exc), "fix GRAPH_DPG_PUSH_CLIENT_CA_FILE (a PEM file of CA certificates)"
            )
        problems = auth.problems()
        if problems:
            return _fail(
                name,
                "push is enabled but the endpoints will not be served: " + "; ".join(problems),
                "NgDP presents no token on push (its MailSystem has no field for one). Set NgDP's client "
                "certificate (GRAPH_DPG_PUSH_CLIENT_THUMBPRINTS, or GRAPH_DPG_PUSH_CLIENT_CA_FILE with "
                "GRAPH_DPG_PUSH_CLIENT_SUBJECT, and GRAPH_DPG_PUSH_FORWARDED_CLIENT_CERT=true behind "
                "Container Apps' ingress with clientCertificateMode accept) and/or NgDP's addresses "
                "(GRAPH_DPG_PUSH_ALLOWED_IPS, GRAPH_DPG_PUSH_PROXY_HOPS=1 behind the ingress); "
                "see infra/README.md §6",
            )
        if not auth.networks and auth.checks_certificate:
            return _warn(
                name,
                f"push accepted on: {auth.describe()}",
                "also set GRAPH_DPG_PUSH_ALLOWED_IPS to NgDP's addresses: whether the ingress replaces an "
                "X-Forwarded-Client-Cert header sent by the client is not documented",
            )
        return _ok(name, f"push accepted on: {auth.describe()}")

    async def check_console(self) -> CheckResult:
        """The admin console's sign-in: complete settings, and the authority's OpenID configuration
        document answers with the issuer msal compares the ID tokens with (docs/facts/console-sign-in.md)."""
        import httpx

        name = "console"
        problems = console_problems(self.settings)
        options = console_options(self.settings)
        if problems or options is None:
            return _fail(
                name,
                "the admin console will not be served: " + "; ".join(problems or ["not configured"]),
                "set all five GRAPH_DPG_CONSOLE_* settings (infra/README.md §6.3), or none",
            )
        url = f"{options.authority}/v2.0/.well-known/openid-configuration"
        verify: Any = ssl.create_default_context(cafile=str(options.ca_bundle)) if options.ca_bundle else True
        try:
            async with httpx.AsyncClient(timeout=10, verify=verify) as client:
                response = await client.get(url)
            document = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            return _fail(name, f"the authority did not answer: {type(exc).__name__}", f"check {url}")
        issuer = document.get("issuer") if isinstance(document, dict) else None
        if not issuer:
            return _fail(
                name,
                f"no OpenID configuration at {url} (HTTP {response.status_code})",
                "GRAPH_DPG_CONSOLE_AUTHORITY is https://login.microsoftonline.com/<your tenant id>",
            )
        return _ok(name, f"sign-in at {options.authority} (issuer {issuer}); redirect {options.redirect_uri}")

    async def check_database(self) -> CheckResult:
        """The database answers and is at the newest schema revision (created/migrated with ``fix``)."""
        return await asyncio.to_thread(self._check_database)

    def _check_database(self) -> CheckResult:
        name = "database"
        url = self.settings.database_url
        shown = redacted_url(url)
        migrate_fix = (
            "graph-dpg doctor --fix migrates it (graph-dpg run also migrates when it starts; with PostgreSQL "
            "the database role needs CREATE on its schema)"
        )
        database_file = sqlite_file(url)
        if database_file is not None and not database_file.exists() and not self.fix:
            return _fail(name, f"{shown}: the database file {database_file} does not exist", migrate_fix)
        store: SqlStore | None = None
        try:
            store = create_store(url, replica="doctor", migrate=False)
            store.ping()
            revision = store.schema_revision()
            heads = schema_heads()
            if revision not in heads and self.fix and (revision is None or revision in known_revisions()):
                store.migrate()
                return _ok(name, f"{shown}: migrated to revision {', '.join(heads)}")
        except StoreError as exc:
            return _fail(
                name,
                f"{shown}: not reachable ({' '.join(str(exc).split())})",
                "check GRAPH_DPG_DATABASE_URL (host, port, database, user, password, sslmode) and that "
                "the server runs and accepts connections from this host",
            )
        finally:
            if store is not None:
                store.close()
        if revision is None:
            return _fail(name, f"{shown}: reachable, but not migrated (no schema)", migrate_fix)
        if revision not in heads:
            if revision in known_revisions():
                return _fail(
                    name,
                    f"{shown}: at revision {revision}, the newest is {', '.join(heads)}",
                    migrate_fix,
                )
            return _fail(
                name,
                f"{shown}: at revision {revision}, which this version of graph_dpg does not know",
                "a newer graph_dpg migrated this database: run that version (or restore a backup)",
            )
        return _ok(name, f"{shown}: reachable, schema at the newest revision ({revision})")


async def diagnose(
    settings: Settings,
    config: GatewayConfig,
    *,
    fix: bool = False,
    on_result: Callable[[CheckResult], None] | None = None,
    **adapters: Any,
) -> list[CheckResult]:
    """Every check after the configuration ones (see :class:`Doctor` for the injectable ``adapters``)."""
    doctor = Doctor(settings, config, fix=fix, **adapters)
    try:
        return await doctor.run(on_result)
    finally:
        await doctor.aclose()


def summary_counts(results: Sequence[CheckResult]) -> Mapping[Status, int]:
    counts = dict.fromkeys(Status, 0)
    for result in results:
        counts[result.status] += 1
    return counts
