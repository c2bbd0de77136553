"""Settings: how this process connects and runs (environment variables ``GRAPH_DPG_*`` and ``.env``).

Credentials, URLs, database, poll intervals, HTTP, logging. Every field is documented in ``.env.example``.
Secrets are :class:`~pydantic.SecretStr` and print as ``**********``. :func:`load_settings` reports every
problem at once as a :class:`~graph_dpg.core.errors.ConfigError` whose ``problems`` read
``GRAPH_DPG_NAME: what is wrong``.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv.parser import Binding, parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from graph_dpg.config._common import _DOMAIN, _clean_message, _did_you_mean, _got
from graph_dpg.core.errors import ConfigError

ENV_PREFIX = "GRAPH_DPG_"
SECRET_MASK = "**********"  # noqa: S105 - the mask shown instead of a secret
NOT_SET = "(not set)"

CredentialKind = Literal["certificate", "client_secret", "managed_identity", "sandbox"]
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: Subject attributes GRAPH_DPG_PUSH_CLIENT_SUBJECT may name (the push adapter maps them to OIDs).
_SUBJECT_ATTRIBUTES = frozenset({"CN", "O", "OU", "C", "L", "SERIALNUMBER", "ORGANIZATIONIDENTIFIER"})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def env_name(field_name: str) -> str:
    """``tenant_id`` → ``GRAPH_DPG_TENANT_ID``."""
    return ENV_PREFIX + field_name.upper()


class Settings(BaseSettings):
    """How this process connects and runs. Environment variables ``GRAPH_DPG_<FIELD>`` and ``.env``.

    The default is the embedded sandbox (emulated Graph and NgDP, SQLite), so an empty environment is valid.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        # `GRAPH_DPG_X=` (as left in the .env.example template) means "not set": the default applies.
        env_ignore_empty=True,
        # Unknown GRAPH_DPG_* keys in the .env file are reported by load_settings (with a suggestion);
        # unrelated variables in a shared .env are not our business.
        extra="ignore",
    )

    # --- Microsoft Graph / Entra ID -----------------------------------------------------------------
    tenant_id: str | None = Field(
        None, description="Entra ID tenant: its GUID or a verified domain such as contoso.onmicrosoft.com."
    )
    client_id: str | None = Field(None, description="Application (client) id of the app registration (GUID).")
    credential_kind: CredentialKind = Field(
        "sandbox",
        description=(
            "How the app authenticates to Graph: certificate (recommended), client_secret, managed_identity "
            "(when hosted in Azure), or sandbox (the embedded emulators; no tenant needed)."
        ),
    )
    client_certificate_path: Path | None = Field(
        None, description="App certificate with private key (PEM or PKCS#12) for credential_kind=certificate."
    )
    client_certificate_password: SecretStr | None = Field(
        None, description="Password of the app certificate's private key, if it has one."
    )
    client_secret: SecretStr | None = Field(
        None, description="Client secret for credential_kind=client_secret."
    )
    managed_identity_client_id: str | None = Field(
        None,
        description="Client id of a user-assigned managed identity; empty for the system-assigned identity.",
    )
    graph_base_url: str = Field(
        "https://graph.microsoft.com/v1.0", description="Microsoft Graph endpoint including the API version."
    )

    # --- NgDP (Digital Post) ---------------------------------------------------------------------------
    ngdp_base_url: str = Field(
        "https://api.test.digitalpost.dk/apis/v1",
        description=(
            "NgDP REST API base URL. Test: https://api.test.digitalpost.dk/apis/v1, "
            "production: https://api.digitalpost.dk/apis/v1."
        ),
    )
    ngdp_system_id: str | None = Field(
        None, description="The NgDP system id of this gateway (user part of the Basic authorization)."
    )
    ngdp_api_token: SecretStr | None = Field(
        None, description="The NgDP API token of the system (password part of the Basic authorization)."
    )
    ngdp_certificate_path: Path | None = Field(
        None,
        description="The organisation's OCES3 certificate with private key for mutual TLS (PEM or PKCS#12).",
    )
    ngdp_certificate_password: SecretStr | None = Field(
        None, description="Password of the OCES3 certificate / PKCS#12 file, if it has one."
    )
    ngdp_ca_bundle: Path | None = Field(
        None,
        description="PEM bundle of CAs to trust for NgDP instead of the system store (test, sandbox).",
    )
    ngdp_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Timeout of one NgDP request (uploads of large MeMo messages included).",
    )
    http_transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description=(
            "What carries the Graph and NgDP requests: aiohttp (default; httpx requests over aiohttp's "
            "client, about 1 ms less CPU per request, bench/http_transport_bench.py) or httpx (httpx's own "
            "transport, httpcore; the fallback). Same TLS, timeouts and error handling either way."
        ),
    )

    # --- Names for numbers (CPR via Datafordeler, CVR via the CVR distribution search; optional) -------
    datafordeler_token_url: str | None = Field(
        None,
        description=(
            "Datafordeler's OAuth token endpoint (client credentials, the client authenticated by the OCES3 "
            "certificate over mutual TLS). Set with the client id to turn CPR name lookups on."
        ),
    )
    datafordeler_graphql_url: str = Field(
        "https://graphql.datafordeler.dk",
        description="Datafordeler's GraphQL root; the CPR custom service path is appended.",
    )
    datafordeler_client_id: str | None = Field(
        None, description="The client id of the IT system in Datafordeler Administration."
    )
    datafordeler_certificate_path: Path | None = Field(
        None,
        description=(
            "OCES3 certificate with private key registered on the IT system (PEM or PKCS#12); "
            "default: the NgDP certificate."
        ),
    )
    datafordeler_certificate_password: SecretStr | None = Field(
        None, description="Password of the Datafordeler certificate (default: the NgDP certificate's)."
    )
    datafordeler_ca_bundle: Path | None = Field(
        None, description="PEM bundle of CAs trusted for Datafordeler instead of the system store (sandbox)."
    )
    datafordeler_sector: Literal["public", "private"] = Field(
        "public",
        description=(
            "Which CPR service: public (authorities, CPRCustom_PublicSectorPerson) or private (companies, "
            "CPRCustom_PrivateSectorPerson)."
        ),
    )
    cvr_base_url: str | None = Field(
        None,
        description="The CVR distribution search root (system-to-system access). Set to turn CVR lookups on.",
    )
    cvr_username: str | None = Field(None, description="User name of the CVR system-to-system access.")
    cvr_password: SecretStr | None = Field(None, description="Password of the CVR system-to-system access.")
    cvr_ca_bundle: Path | None = Field(
        None,
        description="PEM bundle of CAs trusted for the CVR search instead of the system store (sandbox).",
    )
    name_cache_ttl_seconds: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="How long a looked-up name is kept in memory (never on disk); 0 turns the cache off.",
    )
    name_lookup_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Timeout of one CPR or CVR name lookup."
    )
    recipient_precheck: bool = Field(
        False,
        description=(
            "Before a mass delivery, ask NgDP's contact registry about every recipient and report the exempt "
            "and unknown ones up front (one contacts/ request per recipient)."
        ),
    )

    # --- Database ------------------------------------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./graph-dpg.db",
        description=(
            "SQLAlchemy URL of the state store: sqlite:///path (one replica) or "
            "postgresql+psycopg://user:password@host:5432/db (one or more replicas)."
        ),
    )

    # --- Gateway file --------------------------------------------------------------------------------
    gateway_file: Path = Field(
        Path("gateway.yaml"), description="Path of the gateway file (mailboxes, contact points, rules)."
    )

    # --- Polling -------------------------------------------------------------------------------------
    outbound_poll_seconds: int = Field(30, ge=1, description="How often outgoing folders are read.")
    inbound_poll_seconds: int = Field(60, ge=1, description="How often NgDP memos and inboxes are read.")
    receipts_poll_seconds: int = Field(300, ge=1, description="How often NgDP business receipts are pulled.")
    contact_points_refresh_seconds: int = Field(
        3600, ge=60, description="How often NgDP contact points (and their limits) are refreshed."
    )
    inbox_rules_ttl_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="How long a mailbox's Outlook inbox rules are used before they are read again through "
        "Graph (a rule changed in Outlook acts on delivered mail within this time; 0: read for every mail).",
    )
    poll_jitter_seconds: float = Field(
        5.0,
        ge=0,
        description="Random delay added to each poll so replicas and mailboxes do not move in step.",
    )
    max_backoff_seconds: int = Field(
        900, ge=1, description="Upper bound of the exponential backoff of a failing mailbox or NgDP queue."
    )
    send_concurrency: int = Field(8, ge=1, le=256, description="MeMo messages sent to NgDP in parallel.")
    graph_max_concurrency_per_mailbox: int = Field(
        4,
        ge=1,
        le=4,
        description=(
            "Graph requests in flight per mailbox, all replicas together (Graph allows at most 4): the "
            "replica holding the mailbox's lease runs limit - (replicas - 1), at least 1, every other 1."
        ),
    )
    graph_max_concurrency: int = Field(
        0,
        ge=0,
        le=64,
        description=(
            "Graph requests in flight for the whole app, all mailboxes and all replicas together (each "
            "replica runs floor(cap / live replicas), at least 1); 0: no app-wide cap. Off by default: "
            "Exchange enforces the 4 concurrent requests per mailbox (its 429 says 'MailboxConcurrency'; "
            "docs/facts/graph.md, 'Throttling'); set 4 if `graph-dpg doctor --probe-concurrency` finds "
            "the limit shared by the app."
        ),
    )
    graph_mailbox_requests_per_10_minutes: int = Field(
        9_900,
        ge=0,
        le=10_000,
        description=(
            "Graph requests per mailbox per 10 minutes, all replicas together (Graph allows 10,000): counted "
            "in the database in windows of one minute of at most a 11th of it (900), so no 10 minutes can "
            "see more; a request past it waits for the next minute. 0: not counted."
        ),
    )
    graph_app_requests_per_10_minutes: int = Field(
        0,
        ge=0,
        description=(
            "Graph requests per 10 minutes for the whole app, all mailboxes and replicas together, counted "
            "like the per-mailbox budget (windows of one minute of at most a 11th of it). 0: no cap."
        ),
    )
    rule_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="A routing rule whose evaluation takes longer is disabled automatically.",
    )

    # --- Retries of one item (a mail, a MeMo, a memo) --------------------------------------------------
    retry_base_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="First wait before a mail or MeMo is tried again after a transient failure; doubled "
        "each time, up to max_backoff_seconds.",
    )
    retry_max_attempts: int = Field(
        8,
        ge=1,
        le=100,
        description="Transient failures (Graph or NgDP busy or unreachable) of one mail or MeMo before it "
        "is given up with an error receipt.",
    )
    give_up_after_seconds: int = Field(
        6 * 3600,
        ge=60,
        description="A mail or MeMo still failing transiently this long after it came is given up with an "
        "error receipt, attempts left or not.",
    )
    inbound_fallback_seconds: int = Field(
        3600,
        ge=0,
        description="A memo whose target mailbox keeps failing (full, unreachable) this long after it came "
        "is delivered to the main mailbox instead, with a banner saying why; a secure mail whose routing "
        "keeps failing that long stays in the inbox it came to.",
    )
    routed_original: Literal["move", "mark"] = Field(
        "move",
        description="A mail in a routed inbox that a rule sends to another mailbox is copied there; the "
        "original is moved to routed_folder (move: out of the inbox, so it is not handled twice) or stays "
        "in the inbox (mark). Either way it gets the category saying where it went.",
    )
    routed_folder: str = Field(
        "Videresendt",
        min_length=1,
        max_length=255,
        description="Folder (in the mailbox the mail came to) for originals of mail routed to another "
        "mailbox, with routed_original=move; created when missing.",
    )

    # --- Secure mail (S/MIME) -------------------------------------------------------------------------
    smime_certificates: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="The organisation's S/MIME (OCES3) certificates with private keys, PKCS#12 or PEM, "
        "comma-separated; several at once during a rollover (mail encrypted to any of them opens).",
    )
    smime_certificate_password: SecretStr | None = Field(
        None, description="Password of the S/MIME certificate files (one for all of them), if they have one."
    )
    keyvault_url: str | None = Field(
        None,
        description="Azure Key Vault holding the organisation's S/MIME certificates, e.g. "
        "https://kv-dpg-prod.vault.azure.net (read with the gateway's Graph identity, which needs the role "
        "'Key Vault Secrets User' on the vault).",
    )
    smime_keyvault_certificates: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Names of the organisation's S/MIME certificates in GRAPH_DPG_KEYVAULT_URL, "
        "comma-separated (name/version pins one version); each is read with its private key as the secret "
        "of the same name. Signing uses the one valid now with the latest expiry.",
    )
    smime_keyvault_refresh_seconds: int = Field(
        6 * 3600,
        ge=60,
        description="How often the Key Vault certificates are read again, so a renewed certificate is used "
        "without a restart; the last good set is kept when Key Vault cannot be read.",
    )
    smime_keyvault_older_versions: int = Field(
        2,
        ge=0,
        le=10,
        description="Older enabled versions of each Key Vault certificate loaded for decryption (mail "
        "encrypted to last year's certificate still opens).",
    )
    smime_trust_anchors: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="PEM files of the CA certificates a signer's chain must end in (the OCES3 roots), "
        "comma-separated; with none, every signature counts as untrusted.",
    )

    smime_organisation_only: bool = Field(
        False,
        description="Accept only organisation (virksomheds-/system-) certificates for S/MIME signatures: a "
        "signature by a personal or employee certificate (MOCES, MitID Erhverv user; OCES3 serialNumber "
        "UI:DK-E / UI:DK-P) is shown as not accepted, with the reason (seed 001).",
    )

    smime_recipient_cert_dir: Path | None = Field(
        None,
        description="Directory of external recipients' S/MIME certificates (PEM, DER or .cer files; in Azure "
        "a Key Vault mount), found by the recipient's e-mail address for secure mail sent through "
        "<name>=<domain>@sikkermail.<gateway-domain>; expired certificates are ignored.",
    )

    smime_recipient_contacts: bool = Field(
        True,
        description="Also look for a recipient's certificate on the sending function mailbox's contacts, "
        "where Outlook keeps them (needs the Graph permission Contacts.Read).",
    )
    smime_ldap_url: str | None = Field(
        None,
        description="LDAP certificate directory for recipients' certificates (ldap:// or ldaps://), asked "
        "after the certificate directory and the contacts; empty: not used.",
    )
    smime_ldap_base_dn: str = Field("", description="Base DN searched in the LDAP certificate directory.")
    smime_ldap_search_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["mail"],
        description="LDAP attributes compared with the recipient's address, comma-separated.",
    )
    smime_ldap_certificate_attribute: str = Field(
        "userCertificate;binary",
        description="LDAP attribute holding the certificates: userCertificate;binary (DER) or "
        "userSMIMECertificate (PKCS#7).",
    )
    smime_ldap_bind_dn: str | None = Field(None, description="DN to bind with; empty: anonymous bind.")
    smime_ldap_password: SecretStr | None = Field(None, description="Password of the LDAP bind DN.")
    smime_ldap_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Seconds an LDAP connection and search may take."
    )
    smime_ldap_size_limit: int = Field(10, ge=1, le=1000, description="Most LDAP entries read per search.")
    smime_certificate_cache_seconds: int = Field(
        3600,
        ge=0,
        description="How long a recipient certificate found is remembered (never past its expiry).",
    )
    smime_certificate_negative_cache_seconds: int = Field(
        300, ge=0, description='How long "no certificate for this address" is remembered.'
    )

    @field_validator("smime_ldap_search_attributes", mode="before")
    @classmethod
    def _name_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()] or ["mail"]
        return value

    @field_validator(
        "smime_certificates", "smime_trust_anchors", "smime_keyvault_certificates", mode="before"
    )
    @classmethod
    def _path_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    max_message_mb: int = Field(
        35,
        ge=1,
        le=150,
        description="The largest mail (in MB, as Exchange counts them) the gateway writes into a mailbox: "
        "Exchange Online's default maximum message size is 35 MB, an admin can raise it to 150 MB. A memo "
        "bigger than that is delivered as several mails; a mailbox in the gateway file may set its own "
        "(max_message_mb), and a mailbox that refuses a mail as too big is assumed to take less.",
    )

    # --- HTTP server (health, metrics, NgDP push) ------------------------------------------------------
    http_host: str = Field(
        "127.0.0.1", description="Interface the HTTP server listens on (0.0.0.0 in a container)."
    )
    http_port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP server.")
    notifications_url: str = Field(
        "",
        description="Public HTTPS base URL of this gateway's HTTP server as Graph reaches it (the Container "
        "Apps ingress); Graph change notifications are POSTed to <url>/graph/notifications and "
        "<url>/graph/lifecycle. Empty: no subscriptions, polling only.",
    )
    poll_interval_with_notifications_seconds: int = Field(
        300,
        ge=1,
        description="How often outgoing folders are read while change notifications are on (the safety net "
        "for a lost notification; a notification wakes the folder's poll at once).",
    )
    push_token: SecretStr | None = Field(
        None,
        description="Optional shared secret required on the push endpoints (Bearer, or Basic password). "
        "NgDP itself presents none (its MailSystem has no field for one): alone it only serves the sandbox.",
    )
    push_client_thumbprints: str | None = Field(
        None,
        description="SHA-256 thumbprints (hex, comma-separated) of the TLS client certificates NgDP pushes "
        "with, read from X-Forwarded-Client-Cert (needs push_forwarded_client_cert).",
    )
    push_client_ca_file: Path | None = Field(
        None,
        description="PEM file with the CA certificate(s) that issue NgDP's push client certificate; "
        "used with push_client_subject (needs push_forwarded_client_cert).",
    )
    push_client_subject: str | None = Field(
        None,
        description="Subject attributes NgDP's push certificate must carry, e.g. "
        "'O=Digitaliseringsstyrelsen, serialNumber=CVR:34051178-FID:...' (all must match).",
    )
    push_forwarded_client_cert: bool = Field(
        False,
        description="The app sits behind Azure Container Apps' ingress (clientCertificateMode accept), "
        "which forwards the client certificate in X-Forwarded-Client-Cert; only then is that header read.",
    )
    push_allowed_ips: str | None = Field(
        None,
        description="Addresses NgDP may push from: IPs or CIDRs, comma-separated.",
    )
    push_proxy_hops: int = Field(
        0,
        ge=0,
        le=5,
        description="Proxies in front of the app appending to X-Forwarded-For (Container Apps' ingress: 1); "
        "0 uses the connection's peer address.",
    )

    # --- Admin console (/console/, signed in with Entra ID) ---------------------------------------------
    console_authority: str | None = Field(
        None,
        description="Entra ID authority the console signs in with: "
        "https://login.microsoftonline.com/<tenant id>. "
        "The console is served only when this, console_client_id, console_client_secret, "
        "console_redirect_uri and console_session_secret are set.",
    )
    console_client_id: str | None = Field(
        None, description="Application (client) id of the console's app registration (infra/README.md)."
    )
    console_client_secret: SecretStr | None = Field(
        None, description="Client secret of the console's app registration (a Key Vault reference in Azure)."
    )
    console_redirect_uri: str | None = Field(
        None,
        description="The redirect URI registered for the console: "
        "https://<gateway host>/console/auth/callback.",
    )
    console_session_secret: SecretStr | None = Field(
        None,
        description="Random secret (32+ characters) that encrypts the console's session cookies; the same on "
        "every replica. Changing it signs everybody out.",
    )
    console_ca_bundle: Path | None = Field(
        None,
        description="PEM CA bundle for the authority's TLS (sandbox only: the emulated identity provider); "
        "empty: the system's trust store.",
    )

    # --- Replicas ------------------------------------------------------------------------------------
    replica_id: str = Field(
        default_factory=_default_replica_id,
        min_length=1,
        description="Name of this replica in lease rows and logs (default: hostname-pid).",
    )
    lease_seconds: int = Field(
        60,
        ge=10,
        le=3600,
        description="How long a replica's claim on a mailbox or queue lasts without heartbeat.",
    )

    # --- Behaviour -----------------------------------------------------------------------------------
    receipt_language: Literal["da", "en"] = Field("da", description="Language of the receipt mails.")
    memo_version: Literal["1.2", "1.1"] = Field("1.2", description="MeMo version of outgoing messages.")

    # --- Logging -------------------------------------------------------------------------------------
    log_format: Literal["console", "json"] = Field(
        "console", description="console (readable) or json (one object per line, for Log Analytics)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "tenant_id",
        "client_id",
        "managed_identity_client_id",
        "ngdp_system_id",
        "client_certificate_path",
        "ngdp_certificate_path",
        "ngdp_ca_bundle",
        "client_certificate_password",
        "client_secret",
        "ngdp_api_token",
        "ngdp_certificate_password",
        "datafordeler_token_url",
        "datafordeler_client_id",
        "datafordeler_certificate_path",
        "datafordeler_certificate_password",
        "datafordeler_ca_bundle",
        "cvr_base_url",
        "cvr_username",
        "cvr_password",
        "cvr_ca_bundle",
        "push_token",
        "smime_certificate_password",
        "smime_ldap_url",
        "smime_ldap_bind_dn",
        "smime_ldap_password",
        "push_client_thumbprints",
        "push_client_ca_file",
        "push_client_subject",
        "push_allowed_ips",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `GRAPH_DPG_CLIENT_SECRET=` in .env means "not set", as the .env.example template leaves it.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("push_client_thumbprints")
    @classmethod
    def _thumbprints(cls, value: str | None) -> str | None:
        if value is None:
            return None
        prints = [re.sub(r"[\s:]", "", part).lower() for part in value.split(",") if part.strip()]
        bad = [p for p in prints if not _SHA256_HEX.fullmatch(p)]
        if bad or not prints:
            raise ValueError("must be SHA-256 thumbprints, 64 hexadecimal digits each, comma-separated")
        return ",".join(prints)

    @field_validator("push_allowed_ips")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR (e.g. 203.0.113.0/28)") from None
        return ",".join(parts)

    @field_validator("push_client_subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for part in (p.strip() for p in value.split(",") if p.strip()):
            name, sep, text = part.partition("=")
            if not sep or not text.strip() or name.strip().upper() not in _SUBJECT_ATTRIBUTES:
                raise ValueError(
                    f"{part!r}: use ATTRIBUTE=value with one of {', '.join(sorted(_SUBJECT_ATTRIBUTES))}"
                )
        return value.strip()

    @field_validator("client_id", "managed_identity_client_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is not None and not _GUID.fullmatch(value.strip()):
            raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000")
        return value.strip().lower() if value is not None else None

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().lower()
        if not (_GUID.fullmatch(text) or _DOMAIN.fullmatch(text)):
            raise ValueError("must be the tenant's GUID or a verified domain such as contoso.onmicrosoft.com")
        return text

    @field_validator(
        "graph_base_url",
        "ngdp_base_url",
        "datafordeler_token_url",
        "datafordeler_graphql_url",
        "cvr_base_url",
    )
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if not parts.hostname:
            raise ValueError(f"must be an absolute https:// URL, got {value!r}")
        # Plain http only for the emulators on loopback: credentials and CPR numbers travel on these links.
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
            raise ValueError(f"must use https:// (plain http only on 127.0.0.1/localhost), got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("notifications_url")
    @classmethod
    def _notifications_url(cls, value: str) -> str:
        text = value.strip()
        if not text:
            return ""
        parts = urlsplit(text)
        # Graph requires HTTPS (api-reference/v1.0/resources/subscription.md, notificationUrl); plain http
        # only for the sandbox's emulator on loopback.
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
        ):
            raise ValueError(
                f"must be an absolute https:// URL (http only on 127.0.0.1/localhost), got {value!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query or fragment")
        return text.rstrip("/")

    @field_validator("keyvault_url")
    @classmethod
    def _keyvault_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        # The Azure SDK sends bearer tokens over https only (the emulator serves https on loopback too).
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"must be the https:// URL of the vault (NAME.vault.azure.net), got {value!r}")
        return value.strip().rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme = value.strip().split("://", 1)[0].lower()
        if "://" not in value or not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError(
                "must be sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/database"
            )
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = list(self._cross_field_problems())
        if problems:
            raise PydanticCustomError(
                "settings_inconsistent",
                "{summary}",
                {"summary": "; ".join(problems), "problems": problems},
            )
        return self

    def _cross_field_problems(self) -> Iterator[str]:
        kind = self.credential_kind
        needs: list[tuple[str, str]] = []
        if kind in ("certificate", "client_secret"):
            needs += [("tenant_id", "the Entra tenant"), ("client_id", "the app registration's client id")]
        if kind == "certificate":
            needs.append(("client_certificate_path", "the app certificate (PEM or PKCS#12)"))
        if kind == "client_secret":
            needs.append(("client_secret", "the app's client secret"))
        if kind != "sandbox":
            # Real NgDP (test or production) always needs system credentials and the OCES3 certificate.
            needs += [
                ("ngdp_system_id", "the NgDP system id"),
                ("ngdp_api_token", "the NgDP API token"),
                ("ngdp_certificate_path", "the OCES3 certificate for mutual TLS"),
            ]
        for name, what in needs:
            if getattr(self, name) is None:
                yield (f"{env_name(name)}: required when {env_name('credential_kind')}={kind} ({what})")
        yield from self._push_problems()
        yield from self._name_lookup_problems()
        for name in (
            "client_certificate_path",
            "ngdp_certificate_path",
            "ngdp_ca_bundle",
            "datafordeler_certificate_path",
            "datafordeler_ca_bundle",
            "cvr_ca_bundle",
            "push_client_ca_file",
        ):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                yield f"{env_name(name)}: file {str(path)!r} does not exist or is not a file"
        if self.smime_recipient_cert_dir is not None and not self.smime_recipient_cert_dir.is_dir():
            yield (
                f"{env_name('smime_recipient_cert_dir')}: {str(self.smime_recipient_cert_dir)!r} "
                "does not exist or is not a directory"
            )
        if self.smime_keyvault_certificates and not self.keyvault_url:
            yield (
                f"{env_name('smime_keyvault_certificates')}: needs {env_name('keyvault_url')} "
                "(the vault holding the certificates)"
            )
        for name in ("smime_certificates", "smime_trust_anchors"):
            for listed in getattr(self, name):
                if not listed.is_file():
                    yield f"{env_name(name)}: file {str(listed)!r} does not exist or is not a file"

    def _name_lookup_problems(self) -> Iterator[str]:
        """Name lookups are off unless configured; half a configuration is a mistake worth naming."""
        cpr = ("datafordeler_token_url", "datafordeler_client_id")
        if any(getattr(self, n) is not None for n in cpr):
            for name in cpr:
                if getattr(self, name) is None:
                    yield f"{env_name(name)}: required for CPR name lookups (set both or neither of " + (
                        f"{env_name(cpr[0])}, {env_name(cpr[1])})"
                    )
            if self.datafordeler_certificate_path is None and self.ngdp_certificate_path is None:
                yield (
                    f"{env_name('datafordeler_certificate_path')}: required for CPR name lookups (the OCES3 "
                    f"certificate; {env_name('ngdp_certificate_path')} is used when set)"
                )
        cvr = ("cvr_base_url", "cvr_username", "cvr_password")
        if any(getattr(self, n) is not None for n in cvr) and not all(
            getattr(self, n) is not None for n in cvr
        ):
            missing = [env_name(n) for n in cvr if getattr(self, n) is None]
            yield f"{', '.join(missing)}: required for CVR name lookups (set all of them or none)"

    @property
    def cpr_lookup_enabled(self) -> bool:
        return self.datafordeler_token_url is not None and self.datafordeler_client_id is not None

    @property
    def cvr_lookup_enabled(self) -> bool:
        return (
            self.cvr_base_url is not None and self.cvr_username is not None and self.cvr_password is not None
        )

    def _push_problems(self) -> Iterator[str]:
        """Push settings that contradict each other (the push adapter re-checks the policy it builds)."""
        cert = self.push_client_thumbprints is not None or self.push_client_ca_file is not None
        if cert and not self.push_forwarded_client_cert:
            yield (
                f"{env_name('push_forwarded_client_cert')}: must be true when a push client certificate is "
                "configured: the gateway sees NgDP's certificate only in X-Forwarded-Client-Cert from "
                "Container Apps' ingress"
            )
        if self.push_client_ca_file is not None and self.push_client_subject is None:
            yield (
                f"{env_name('push_client_subject')}: required with {env_name('push_client_ca_file')} "
                "(every certificate of that CA would be accepted otherwise)"
            )
        if self.push_client_subject is not None and self.push_client_ca_file is None:
            yield (
                f"{env_name('push_client_ca_file')}: required with {env_name('push_client_subject')} "
                "(a subject is only trusted from a known issuer)"
            )

    @property
    def push_enabled(self) -> bool:
        """Any push setting is set: the push endpoints are served (if the policy identifies NgDP)."""
        return any(
            value is not None
            for value in (
                self.push_token,
                self.push_client_thumbprints,
                self.push_client_ca_file,
                self.push_allowed_ips,
            )
        )

    def summary(self) -> list[tuple[str, str]]:
        """Every setting as ``(GRAPH_DPG_NAME, display value)``; secrets show as ``**********``."""
        rows: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                shown = NOT_SET
            elif isinstance(value, SecretStr):
                shown = SECRET_MASK
            else:
                shown = str(value)
            rows.append((env_name(name), shown))
        return rows

    @property
    def is_sandbox(self) -> bool:
        return self.credential_kind == "sandbox"


_SECRET_FIELDS = frozenset(
    name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
)


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Settings from the environment, ``env_file`` (None: none) and ``overrides`` (highest priority).

    Raises :class:`ConfigError` listing every problem (``GRAPH_DPG_NAME: what is wrong``); secret values
    never appear in the messages.
    """
    problems: list[str] = []
    known = Settings.model_fields
    for key in sorted(set(overrides) - set(known)):
        problems.append(f"{key}: not a known setting{_did_you_mean(key, known)}")
    valid_overrides = {k: v for k, v in overrides.items() if k in known}
    if env_file is not None:
        unreadable = _unreadable_env_file(Path(env_file))
        if unreadable is not None:
            # pydantic-settings would fail on it with a decoder traceback, or read gigabytes.
            raise ConfigError(unreadable, [*problems, unreadable])
        problems += _unknown_dotenv_keys(Path(env_file))
    settings: Settings | None = None
    try:
        settings = Settings(_env_file=env_file, **valid_overrides)
    except ValidationError as exc:
        found = _settings_problems(exc) + _cross_field_problems_despite(exc, env_file, valid_overrides)
        problems += _located(found, Path(env_file), set(valid_overrides)) if env_file is not None else found
    if problems or settings is None:
        raise ConfigError(f"{len(problems)} problem(s) in the settings", problems)
    return settings


def _settings_problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "settings_inconsistent":
            problems += [str(p) for p in ctx.get("problems", [])]
            continue
        name = str(err["loc"][0]) if err["loc"] else ""
        message = _clean_message(err)
        if name and name not in _SECRET_FIELDS and err["type"] not in ("missing",):
            message += _got(err.get("input"))
        problems.append(f"{env_name(name) if name else 'settings'}: {message}")
    return problems


def _cross_field_problems_despite(
    exc: ValidationError, env_file: str | Path | None, overrides: Mapping[str, Any]
) -> list[str]:
    """pydantic skips the consistency check when a field fails; run it again with those fields at their
    defaults so the admin sees e.g. the missing certificate path and the bad port in the same run."""
    errors = exc.errors(include_url=False)
    if any(err["type"] == "settings_inconsistent" for err in errors):
        return []
    fields = Settings.model_fields
    failing = {str(err["loc"][0]) for err in errors if err["loc"] and str(err["loc"][0]) in fields}
    patched = {**overrides, **{name: fields[name].get_default(call_default_factory=True) for name in failing}}
    try:
        Settings(_env_file=env_file, **patched)
    except ValidationError as again:
        return [
            str(problem)
            for err in again.errors(include_url=False)
            if err["type"] == "settings_inconsistent"
            for problem in (err.get("ctx") or {}).get("problems", [])
        ]
    return []


#: A settings file holds a few dozen lines; reading stops beyond this.
MAX_ENV_FILE_BYTES = 1_000_000


def _unreadable_env_file(path: Path) -> str | None:
    """Why the settings file cannot be used (too big, binary, not UTF-8, not a file), or None. A missing
    file is not a problem here: the default ``.env`` is optional (``check-config`` names a missing one)."""
    try:
        if path.stat().st_size > MAX_ENV_FILE_BYTES:
            return f"{path}: the settings file is too big: at most {MAX_ENV_FILE_BYTES:,} bytes are read"
        with path.open("rb") as handle:
            data = handle.read(MAX_ENV_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return f"{path}: is a directory, not a settings file"
    except OSError as exc:
        return f"{path}: cannot read the settings file: {exc.strerror or exc}"
    if len(data) > MAX_ENV_FILE_BYTES:
        return f"{path}: the settings file is too big: at most {MAX_ENV_FILE_BYTES:,} bytes are read"
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return f"{path}:{line}: binary content (a NUL byte): not a settings file (KEY=value lines)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the settings file as UTF-8"
    return None


def _dotenv_bindings(path: Path) -> list[Binding]:
    """The settings file as python-dotenv's parser (the one pydantic-settings reads it with) sees it: one
    binding per assignment, comment or unparsable line, with its 1-based line. Read after
    :func:`_unreadable_env_file`, so the file is bounded and UTF-8."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return list(parse_stream(io.StringIO(text)))


def _dotenv_lines(path: Path) -> dict[str, int]:
    """``GRAPH_DPG_NAME`` → the line of its (last, effective) assignment in the settings file."""
    return {b.key.upper(): _line_of(b) for b in _dotenv_bindings(path) if b.key is not None}


def _line_of(binding: Binding) -> int:
    """The line the binding's text starts on (python-dotenv counts blank lines before it as its own)."""
    text = binding.original.string
    return binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")


def _located(problems: list[str], path: Path, overridden: set[str]) -> list[str]:
    """``GRAPH_DPG_NAME: ...`` → ``.env:LINE: GRAPH_DPG_NAME: ...`` when the value came from the settings
    file: not when the process environment or an override set it (they win over the file)."""
    lines = _dotenv_lines(path)
    if not lines:
        return problems
    located = []
    for problem in problems:
        key = problem.split(":", 1)[0]
        line = lines.get(key)
        field = key.lower()[len(ENV_PREFIX) :]
        from_file = line is not None and key not in os.environ and field not in overridden
        located.append(f"{path}:{line}: {problem}" if from_file else problem)
    return located


def _unknown_dotenv_keys(path: Path) -> list[str]:
    """Typos in ``GRAPH_DPG_*`` keys would otherwise be ignored silently and a default used instead; lines
    that are no assignment at all are ignored silently by python-dotenv too."""
    if not path.is_file():
        return []
    known = {env_name(n) for n in Settings.model_fields}
    problems = []
    for binding in _dotenv_bindings(path):
        number = _line_of(binding)
        if binding.error:
            # The line's text is not shown: it may hold a secret with a typo in it.
            problems.append(f"{path}:{number}: not a KEY=value line (python-dotenv would ignore it)")
            continue
        key = binding.key
        if key is not None and key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            problems.append(f"{path}:{number}: {key}: not a known setting{_did_you_mean(key.upper(), known)}")
    return problems
