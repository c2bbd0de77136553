"""The composition root: the one place that turns settings + the gateway file into running objects.

    settings (.env) ─┐                      ┌─ SqlStore (StatePort, leases, push sink)
                     ├─ build_gateway() ────┼─ GraphMailbox (MailboxPort) ── msgraph-sdk ── Graph / emulator
    gateway file ────┘                      ├─ NgdpClient (DigitalPostPort) ── mTLS ── NgDP / emulator
                                            └─ OutboundService / InboundService (use cases on the ports)

Entry points (``graph-dpg run``, ``graph-dpg sandbox``, tests, benchmarks) call :func:`build_gateway` and
then hand the :class:`Gateway` to :class:`graph_dpg.runtime.Runtime`; nothing else constructs adapters.
Tests inject ``graph_transport`` (an httpx transport to the Graph emulator), an ``ngdp_client`` and/or a
``store`` instead of patching.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.adapters.digital_post.push_auth import PushAuth, normalise_thumbprint, parse_subject
from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential, credential_from
from graph_dpg.adapters.graph.budget import GraphBudget, limits_from
from graph_dpg.adapters.http import network_transport
from graph_dpg.adapters.smime import (
    OrganisationKeyring,
    SmimeOpener,
    SmimeSealer,
    load_organisation_certificates,
    load_trust_anchors,
)
from graph_dpg.adapters.smime.contacts import ContactCertificates
from graph_dpg.adapters.smime.directory import CertificateDirectory
from graph_dpg.adapters.smime.keyvault import KeyVaultCertificates
from graph_dpg.adapters.smime.ldap import LdapCertificates
from graph_dpg.adapters.smime.sources import CertificateSources, Source, blocking_source, mailbox_source
from graph_dpg.adapters.store import SqlStore, create_store
from graph_dpg.bootstrap.names import make_name_service
from graph_dpg.bootstrap.rules import inbound_settings
from graph_dpg.config import GatewayConfig, Settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.domain.addresses import Channel
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.graph_budget import BudgetLedger
from graph_dpg.ports.mailbox import InboxRulesPort, MailboxPort
from graph_dpg.ports.secure_send import ContactCertificateReader
from graph_dpg.services.alerts import AlertService
from graph_dpg.services.boundary import ItemFailures
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.inbound.forwarded import forwarded_opening
from graph_dpg.services.inbound.secure import SecureMailOpening
from graph_dpg.services.inbox_rules import InboxRuleCache
from graph_dpg.services.names import NameService
from graph_dpg.services.notifications import NotificationInbox, NotificationSettings, SubscriptionKeeper
from graph_dpg.services.outbound import FunctionMailbox, OutboundService, OutboundSettings, SecureSender

log = logging.getLogger(__name__)

#: The bearer token the Graph emulator accepts by default (``GraphTenant("sandbox-token")``).
SANDBOX_GRAPH_TOKEN = "sandbox-token"  # noqa: S105 - a well-known fake token of the emulator
#: Request header naming the replica; sent only to a Graph endpoint on loopback (the emulator).
REPLICA_HEADER = "X-Graph-Dpg-Replica"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class Gateway:
    """Everything one gateway process runs on. Close it with :meth:`aclose`."""

    settings: Settings
    config: GatewayConfig
    store: SqlStore
    mailbox: GraphMailbox
    ngdp: DigitalPostPort
    outbound: OutboundService
    inbound: InboundService | None  # None: this process does not receive (tests of outbound alone)
    replica: str
    failures: ItemFailures = field(default_factory=ItemFailures)  # items given up, shared by the services
    # The organisation's S/MIME certificates (files + Key Vault); the runtime refreshes ``keyvault`` into it.
    keyring: OrganisationKeyring | None = None
    keyvault: KeyVaultCertificates | None = None
    # Graph change notifications (None: off, GRAPH_DPG_NOTIFICATIONS_URL empty).
    subscriptions: SubscriptionKeeper | None = None
    notifications: NotificationInbox | None = None
    _closers: list[Any] = field(default_factory=list, repr=False)

    async def aclose(self) -> None:
        """Close what this gateway created (injected objects are the caller's to close)."""
        for closer in reversed(self._closers):
            try:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
            except Exception as exc:  # closing must go on: one failing close must not leak the others
                log.warning("closing %r failed: %s", closer, exc)
        self._closers.clear()


def outbound_settings(settings: Settings, config: GatewayConfig) -> OutboundSettings:
    """GatewayConfig (what admins edit) + Settings (how this process runs) → the outbound use case's view."""
    mailboxes = tuple(
        FunctionMailbox(
            address=box.address,
            cvrs=frozenset(box.cvrs),
            sender_contact_points=frozenset(box.sender_contact_points),
            outgoing_folder=box.outgoing_folder,
        )
        for box in config.function_mailboxes
        if box.may_send
    )
    # Mail to the organisation's own mailboxes is internal: the MemoHeader leak guard allows it.
    internal = frozenset(address.rsplit("@", 1)[-1].lower() for address in config.mailboxes)
    return OutboundSettings(
        organisation_cvr=config.organisation.cvr,
        organisation_name=config.organisation.name,
        mailboxes=mailboxes,
        policies={channel: config.channel_policy(channel) for channel in Channel},
        categories={state: (spec.name, spec.color) for state, spec in config.categories.items()},
        gateway_domain=config.gateway_domain,
        internal_domains=internal,
        language=settings.receipt_language,
        memo_version=settings.memo_version,
        mandatory_allowed=config.organisation.mandatory_allowed,
        legal_notification_allowed=config.organisation.legal_notification_allowed,
        send_concurrency=settings.send_concurrency,
        max_attempts=settings.retry_max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=float(settings.max_backoff_seconds),
        give_up_after_seconds=float(settings.give_up_after_seconds),
        recipient_precheck=settings.recipient_precheck,
    )


def azure_credential(settings: Settings) -> Any:
    """The gateway's Azure identity (GRAPH_DPG_CREDENTIAL_KIND): Graph and Key Vault use the same one; each
    caller closes the instance it got. The sandbox's fixed token otherwise."""
    if settings.is_sandbox:
        return StaticTokenCredential(SANDBOX_GRAPH_TOKEN)
    return credential_from(
        settings.credential_kind,
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        certificate_path=str(settings.client_certificate_path) if settings.client_certificate_path else None,
        certificate_password=_secret(settings.client_certificate_password),
        client_secret=_secret(settings.client_secret),
        managed_identity_client_id=settings.managed_identity_client_id,
    )


def make_keyvault_certificates(
    settings: Settings, closers: list[Any], *, connection_verify: str | None = None
) -> KeyVaultCertificates | None:
    """The Key Vault source of the organisation's S/MIME certificates (None when none are configured).
    ``connection_verify``: a CA file for the emulator's test certificate (tests only)."""
    if not settings.keyvault_url or not settings.smime_keyvault_certificates:
        return None
    credential = azure_credential(settings)
    source = KeyVaultCertificates(
        settings.keyvault_url,
        credential,
        settings.smime_keyvault_certificates,
        older_versions=settings.smime_keyvault_older_versions,
        connection_verify=connection_verify,
    )
    closers.append(source.aclose)
    credential_close = getattr(credential, "close", None)
    if credential_close is not None:
        closers.append(credential_close)
    return source


def organisation_keyring(settings: Settings) -> OrganisationKeyring:
    """The organisation's S/MIME certificates from files now; Key Vault's arrive with the first refresh."""
    files = load_organisation_certificates(
        settings.smime_certificates, _secret(settings.smime_certificate_password)
    )
    vault = bool(settings.keyvault_url and settings.smime_keyvault_certificates)
    return OrganisationKeyring(files, vault_configured=vault)


def make_graph_mailbox(
    settings: Settings,
    closers: list[Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_concurrency_per_mailbox: int | None = None,
    max_concurrency: int | None = None,
    retry: RetryPolicy | None = None,
    ledger: BudgetLedger | None = None,
) -> GraphMailbox:
    """The Graph adapter from settings. ``max_concurrency_per_mailbox``, ``max_concurrency`` and ``retry``
    override the settings' (``graph-dpg doctor --probe-concurrency`` sends N parallel reads without
    retries, past the gateway's own caps, to see where Graph's limit is). ``ledger``: where the replicas
    count their Graph requests together (the store on PostgreSQL); None: this process alone."""
    credential = azure_credential(settings)
    if transport is None:
        # The network transport under the SDK's middleware (httpx's default verification context): ours on
        # aiohttp unless GRAPH_DPG_HTTP_TRANSPORT=httpx. Tests inject theirs (ASGI, canned). Closed here,
        # last: msgraph-core's AsyncGraphTransport wraps it without passing aclose() on, so closing the httpx
        # client would leave aiohttp's session open.
        transport = network_transport(settings.http_transport)
        closers.append(transport.aclose)
    http_client = None
    if urlsplit(settings.graph_base_url).hostname in _LOOPBACK:
        # Emulator only: lets a test tell replicas apart in the emulator's request log (scale-out test).
        http_client = httpx.AsyncClient(
            transport=transport,
            headers={REPLICA_HEADER: settings.replica_id},
            timeout=httpx.Timeout(100.0, connect=30.0),
        )
    per_mailbox = max_concurrency_per_mailbox or settings.graph_max_concurrency_per_mailbox
    app_cap = max_concurrency or settings.graph_max_concurrency or None
    limits = limits_from(
        mailbox_concurrency=per_mailbox,
        app_concurrency=app_cap,
        mailbox_requests_per_10_minutes=settings.graph_mailbox_requests_per_10_minutes,
        app_requests_per_10_minutes=settings.graph_app_requests_per_10_minutes,
    )
    mailbox = GraphMailbox(
        credential,
        settings.graph_base_url,
        http_client=http_client,
        transport=None if http_client is not None else transport,
        max_concurrency_per_mailbox=per_mailbox,
        max_concurrency=app_cap,
        budget=GraphBudget(limits, ledger=ledger),
        # Against the emulators nothing is gained by waiting seconds between retries.
        retry=retry or (RetryPolicy.fast() if settings.is_sandbox else None),
    )
    if http_client is not None:
        # GraphMailbox does not close a client it was given.
        closers.append(http_client.aclose)
    credential_close = getattr(credential, "close", None)
    if credential_close is not None:
        # azure-identity's async credentials hold an HTTP session of their own; unclosed, it is reported
        # as an error when the process exits.
        closers.append(credential_close)
    return mailbox


def budget_ledger(store: SqlStore) -> BudgetLedger | None:
    """Where the replicas count their Graph requests: the database on PostgreSQL (several replicas); on
    SQLite, which runs one replica, this process's memory (no write per block on the one writer lock)."""
    return store if store.dialect == "postgresql" else None


def make_ngdp_client(settings: Settings) -> NgdpClient:
    """The NgDP client from settings: Basic system credentials + the OCES3 certificate (PEM or PKCS#12)."""
    system_id = settings.ngdp_system_id
    token = _secret(settings.ngdp_api_token)
    if not system_id or not token:
        raise ConfigError(
            "NgDP system id and API token are not set",
            ["GRAPH_DPG_NGDP_SYSTEM_ID and GRAPH_DPG_NGDP_API_TOKEN are required to talk to NgDP"],
        )
    return NgdpClient(
        settings.ngdp_base_url,
        system_id,
        token,
        certificate_file=settings.ngdp_certificate_path,
        certificate_password=_secret(settings.ngdp_certificate_password),
        ca_bundle=settings.ngdp_ca_bundle,
        read_timeout=settings.ngdp_timeout_seconds,
        write_timeout=settings.ngdp_timeout_seconds,
        http_transport=settings.http_transport,
    )


def make_push_auth(settings: Settings) -> PushAuth:
    """Who may push (NgDP's certificate and/or address, optional secret) from the settings.

    Raises ConfigError when the CA file cannot be read. Whether the policy identifies NgDP at all is
    ``PushAuth.problems()`` (the runtime refuses to serve push then; the doctor says why).
    """
    anchors: tuple[Any, ...] = ()
    path = settings.push_client_ca_file
    if path is not None:
        from cryptography import x509

        try:
            anchors = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "push client CA file unreadable",
                [f"GRAPH_DPG_PUSH_CLIENT_CA_FILE: {path} is not a readable PEM certificate file ({exc})"],
            ) from exc
    token = _secret(settings.push_token)
    return PushAuth(
        thumbprints=frozenset(
            normalise_thumbprint(t) for t in (settings.push_client_thumbprints or "").split(",") if t.strip()
        ),
        trust_anchors=anchors,
        subject=parse_subject(settings.push_client_subject) if settings.push_client_subject else (),
        forwarded_cert=settings.push_forwarded_client_cert,
        networks=tuple(
            ipaddress.ip_network(n.strip(), strict=False)
            for n in (settings.push_allowed_ips or "").split(",")
            if n.strip()
        ),
        proxy_hops=settings.push_proxy_hops,
        token=token.encode() if token else None,
        token_only_allowed=settings.is_sandbox,
    )


def build_gateway(
    settings: Settings,
    gateway_config: GatewayConfig,
    *,
    graph_transport: httpx.AsyncBaseTransport | None = None,
    ngdp_client: DigitalPostPort | None = None,
    store: SqlStore | None = None,
    keyvault_connection_verify: str | None = None,
) -> Gateway:
    """Wire adapters and services for one process (see the module docstring)."""
    closers: list[Any] = []
    if store is None:
        store = create_store(settings.database_url, replica=settings.replica_id)
        closers.append(store.close)
    mailbox = make_graph_mailbox(settings, closers, transport=graph_transport, ledger=budget_ledger(store))
    closers.append(mailbox.aclose)
    if ngdp_client is None:
        client = make_ngdp_client(settings)
        closers.append(client.aclose)
        ngdp: DigitalPostPort = client
    else:
        ngdp = ngdp_client
    failures = ItemFailures()
    inbound_config = inbound_settings(gateway_config, settings)
    keyring = organisation_keyring(settings)
    keyvault = make_keyvault_certificates(settings, closers, connection_verify=keyvault_connection_verify)
    opening = secure_mail_opening(settings, mailbox, inbound_config.language, keyring)
    names = name_service(settings, closers)
    outbound = OutboundService(
        mailbox,
        ngdp,
        store,
        outbound_settings(settings, gateway_config),
        failures=failures,
        secure=opening.opener,  # a case worker's signed mail is unwrapped before conversion
        secure_send=secure_sender(settings, mailbox, keyring),
        names=names,
        # A recipient certificate source that fails is alerted once a day (services.alerts).
        alerts=AlertService(
            mailbox,
            store,
            monitoring_mailbox=gateway_config.monitoring_mailbox,
            language=settings.receipt_language,
            failures=failures,
        ),
    )
    # A mailbox that is NgDP's SMTP recipient system opens its S/MIME mail as forwarded Digital Post.
    open_mail = forwarded_opening(opening, store, inbound_config.forwarded_mailboxes, inbound_config.language)
    # The owners' Outlook inbox rules, applied to the memos and secure mail the gateway delivers (read
    # with MailboxSettings.ReadWrite), read again after inbox_rules_ttl_seconds.
    inbox_rules = (
        InboxRuleCache(mailbox, ttl_seconds=settings.inbox_rules_ttl_seconds)
        if isinstance(mailbox, InboxRulesPort)
        else None
    )
    inbound = InboundService(
        mailbox,
        ngdp,
        store,
        inbound_config,
        failures=failures,
        open_mail=open_mail,
        inbox_rules=inbox_rules,
        names=names,
        # Any replica delivers the memos it claims (issue 18); a claim outlives two missed renewals.
        claim_owner=settings.replica_id,
        claim_s=2.0 * settings.lease_seconds,
    )
    subscriptions, notifications = notification_services(settings, mailbox, store)
    return Gateway(
        settings=settings,
        config=gateway_config,
        store=store,
        mailbox=mailbox,
        ngdp=ngdp,
        outbound=outbound,
        inbound=inbound,
        replica=settings.replica_id,
        failures=failures,
        keyring=keyring,
        keyvault=keyvault,
        subscriptions=subscriptions,
        notifications=notifications,
        _closers=closers,
    )


def notification_services(
    settings: Settings, mailbox: GraphMailbox, store: SqlStore
) -> tuple[SubscriptionKeeper | None, NotificationInbox | None]:
    """The subscription keeper and the notification inbox, when GRAPH_DPG_NOTIFICATIONS_URL is set."""
    if not settings.notifications_url:
        return None, None
    keeper = SubscriptionKeeper(mailbox, store, NotificationSettings.from_base(settings.notifications_url))
    return keeper, NotificationInbox(store)


def name_service(settings: Settings, closers: list[Any]) -> NameService | None:
    """CPR/CVR names for receipts (issue 20), when a register is configured; else None."""
    if not (settings.cpr_lookup_enabled or settings.cvr_lookup_enabled):
        return None
    service = make_name_service(settings)
    closers.append(service.aclose)
    return service


def secure_mail_opening(
    settings: Settings, mailbox: MailboxPort, language: str, keyring: OrganisationKeyring | None = None
) -> SecureMailOpening:
    """The inbound opening step for secure mail with the configured certificates (GRAPH_DPG_SMIME_*, files
    and Key Vault through ``keyring``). Wired even with none configured: encrypted mail then gets the
    "no key" banner, signatures count as untrusted, and nothing is routed unreadable."""
    ring = keyring if keyring is not None else organisation_keyring(settings)
    anchors = load_trust_anchors(settings.smime_trust_anchors)
    opener = SmimeOpener(ring, anchors, organisation_only=settings.smime_organisation_only)
    return SecureMailOpening(mailbox, opener, language)


def secure_sender(
    settings: Settings,
    contacts: ContactCertificateReader | None = None,
    keyring: OrganisationKeyring | None = None,
) -> SecureSender | None:
    """Secure mail to external recipients: signed with the organisation certificate valid at sending time
    with the latest expiry (files and Key Vault alike; ``OrganisationKeyring.signer``), encrypted to
    certificates from the configured sources (recipient_sources). None without a signing certificate or
    without any source: such mail then gets an error receipt, and nothing is sent."""
    signer = keyring if keyring is not None else organisation_keyring(settings)
    if not (signer.certificates or signer.vault_configured):
        return None
    sources = recipient_sources(settings, contacts)
    if not sources.sources:
        return None
    return SecureSender(sources, SmimeSealer(signer))


def recipient_sources(settings: Settings, contacts: ContactCertificateReader | None) -> CertificateSources:
    """The recipient certificate sources in order: GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR, the sending mailbox's
    contacts (GRAPH_DPG_SMIME_RECIPIENT_CONTACTS), GRAPH_DPG_SMIME_LDAP_URL; cached
    (adapters.smime.sources)."""
    chain: list[Source] = []
    if settings.smime_recipient_cert_dir is not None:
        chain.append(blocking_source(CertificateDirectory(settings.smime_recipient_cert_dir), "file"))
    if settings.smime_recipient_contacts and contacts is not None:
        chain.append(mailbox_source(ContactCertificates(contacts), "contacts"))
    if settings.smime_ldap_url:
        ldap = LdapCertificates.from_url(
            settings.smime_ldap_url,
            settings.smime_ldap_base_dn,
            user=settings.smime_ldap_bind_dn,
            password=_secret(settings.smime_ldap_password),
            timeout=settings.smime_ldap_timeout_seconds,
            search_attributes=settings.smime_ldap_search_attributes,
            certificate_attribute=settings.smime_ldap_certificate_attribute,
            size_limit=settings.smime_ldap_size_limit,
        )
        chain.append(blocking_source(ldap, "ldap"))
    return CertificateSources(
        chain,
        ttl_seconds=settings.smime_certificate_cache_seconds,
        negative_ttl_seconds=settings.smime_certificate_negative_cache_seconds,
        organisation_only=settings.smime_organisation_only,
    )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
