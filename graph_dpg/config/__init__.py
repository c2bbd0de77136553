"""Settings (environment, ``GRAPH_DPG_*``) and the gateway file (YAML the admins edit), validated up front.

Two sources, two kinds of content:

* :class:`Settings` - how this process connects and runs: credentials, URLs, database, poll intervals, HTTP,
  logging. Read from the environment and ``.env`` (prefix ``GRAPH_DPG_``); every field is documented in
  ``.env.example``. Secrets are :class:`~pydantic.SecretStr` and print as ``**********``.
* :class:`GatewayConfig` - what the gateway does for this organisation: its CVR, the mailboxes, which CVR or
  sender contact point each function mailbox may send as, where each recipient contact point is delivered,
  category names and colours, channel policy overrides and routing rules. Read from the gateway file
  (``examples/gateway.yaml`` is a complete, commented example).

Both loaders report *every* problem at once as a :class:`~graph_dpg.core.errors.ConfigError`, whose
``problems`` are precise strings: ``GRAPH_DPG_NAME: what is wrong`` for settings and
``FILE:LINE: field.path: what is wrong`` for the gateway file. Line numbers come from ruamel.yaml's
round-trip loader, which remembers where each key and list item was; pydantic's error locations are walked
through that tree. Consistency checks that span sections (every referenced mailbox is configured, sender
contact points belong to one mailbox, names are unique) run on the raw tree, so they are reported even when
other parts of the file fail validation.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import types
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from graph_dpg.core.errors import ConfigError, IdentifierError
from graph_dpg.domain.addresses import DEFAULT_GATEWAY_DOMAIN, Channel
from graph_dpg.domain.identifiers import validate_cvr
from graph_dpg.domain.policies import DEFAULT_POLICIES, ChannelPolicy
from graph_dpg.domain.rules import MAIL_FIELDS, MEMO_FIELDS

__all__ = [
    "CATEGORY_STATES",
    "COLOR_NAMES",
    "CONDITION_FIELDS",
    "ENV_PREFIX",
    "MEMO_CONDITION_FIELDS",
    "Categories",
    "CategorySpec",
    "ChannelOverride",
    "Condition",
    "ContactPoint",
    "DeliverTo",
    "FunctionMailbox",
    "GatewayConfig",
    "Organisation",
    "Rule",
    "RuleActions",
    "Settings",
    "load_gateway_file",
    "load_gateway_text",
    "load_settings",
]

ENV_PREFIX = "GRAPH_DPG_"
SECRET_MASK = "**********"  # noqa: S105 - the mask shown instead of a secret
NOT_SET = "(not set)"

# =====================================================================================================
# Settings
# =====================================================================================================

CredentialKind = Literal["certificate", "client_secret", "managed_identity", "sandbox"]
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}[a-z0-9]")


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
        4, ge=1, le=4, description="Graph requests in flight per mailbox (Graph allows at most 4)."
    )
    rule_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="A routing rule whose evaluation takes longer is disabled automatically.",
    )

    # --- HTTP server (health, metrics, NgDP push) ------------------------------------------------------
    http_host: str = Field(
        "127.0.0.1", description="Interface the HTTP server listens on (0.0.0.0 in a container)."
    )
    http_port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP server.")
    push_token: SecretStr | None = Field(
        None,
        description="Bearer token NgDP presents on the push endpoints; push is refused while it is unset.",
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
        "push_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `GRAPH_DPG_CLIENT_SECRET=` in .env means "not set", as the .env.example template leaves it.
        if isinstance(value, str) and not value.strip():
            return None
        return value

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

    @field_validator("graph_base_url", "ngdp_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if not parts.hostname:
            raise ValueError(f"must be an absolute https:// URL, got {value!r}")
        # Plain http only for the emulators on loopback: credentials and CPR numbers travel on these links.
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
            raise ValueError(f"must use https:// (plain http only on 127.0.0.1/localhost), got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query or fragment")
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
        for name in ("client_certificate_path", "ngdp_certificate_path", "ngdp_ca_bundle"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                yield f"{env_name(name)}: file {str(path)!r} does not exist or is not a file"

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
        problems += _unknown_dotenv_keys(Path(env_file))
    settings: Settings | None = None
    try:
        settings = Settings(_env_file=env_file, **valid_overrides)
    except ValidationError as exc:
        problems += _settings_problems(exc)
        problems += _cross_field_problems_despite(exc, env_file, valid_overrides)
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


_DOTENV_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _unknown_dotenv_keys(path: Path) -> list[str]:
    """Typos in ``GRAPH_DPG_*`` keys would otherwise be ignored silently and a default used instead."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read the settings file: {exc}"]
    known = {env_name(n) for n in Settings.model_fields}
    problems = []
    for number, line in enumerate(lines, start=1):
        match = _DOTENV_KEY.match(line)
        if match is None:
            continue
        key = match.group(1)
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            problems.append(f"{path}:{number}: {key}: not a known setting{_did_you_mean(key.upper(), known)}")
    return problems


# =====================================================================================================
# The gateway file: models
# =====================================================================================================

CATEGORY_STATES: tuple[str, ...] = ("queued", "sent", "receipted", "failed", "inbound", "warning")

# Outlook's rendering of the preset colours (Graph outlookCategory resource; graph-facts.md §1.10).
COLOR_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "none": "no colour",
        "preset0": "red",
        "preset1": "orange",
        "preset2": "brown",
        "preset3": "yellow",
        "preset4": "green",
        "preset5": "teal",
        "preset6": "olive",
        "preset7": "blue",
        "preset8": "purple",
        "preset9": "cranberry",
        "preset10": "steel",
        "preset11": "dark steel",
        "preset12": "gray",
        "preset13": "dark gray",
        "preset14": "black",
        "preset15": "dark red",
        "preset16": "dark orange",
        "preset17": "dark brown",
        "preset18": "dark yellow",
        "preset19": "dark green",
        "preset20": "dark teal",
        "preset21": "dark olive",
        "preset22": "dark blue",
        "preset23": "dark purple",
        "preset24": "dark cranberry",
    }
)

# The defaults are Danish because the users are; admins rename them in the gateway file.
DEFAULT_CATEGORIES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "queued": ("Digital Post: I kø", "preset3"),
        "sent": ("Digital Post: Sendt", "preset7"),
        "receipted": ("Digital Post: Kvitteret", "preset4"),
        "failed": ("Digital Post: Fejlet", "preset0"),
        "inbound": ("Digital Post: Modtaget", "preset5"),
        "warning": ("Digital Post: Advarsel", "preset1"),
    }
)

# The fields a rule may test are the rule engine's; one list, so config and engine cannot drift.
MEMO_CONDITION_FIELDS: frozenset[str] = MEMO_FIELDS
CONDITION_FIELDS: frozenset[str] = MAIL_FIELDS
# RFC 5322 §3.6.8: a header field name is printable US-ASCII except the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_MAILBOX = re.compile(r"[^@\s]+@([a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z0-9]")
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _require_str(value: object) -> str:
    # Non-text scalars are refused rather than converted: YAML turns 0101... into a number and 27.00 into
    # 27.0, so a silent str() would change what the admin wrote.
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"must be text; put it in quotes so YAML keeps it as written (got {value!r})")
    return value


def _text(value: object) -> str:
    text = _require_str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _cvr(value: object) -> str:
    # An unquoted CVR is an int in YAML; CVR numbers never start with 0, so converting loses nothing
    # (and a too short result is reported as such by validate_cvr).
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return validate_cvr(_text(value))
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def _uuid_text(value: object) -> str:
    text = _text(value)
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise ValueError(f"must be a UUID like dfebd0ca-e211-47e4-af3a-f0d3344f018e, got {text!r}") from None
    if str(parsed) != text.lower():  # uuid.UUID also accepts braces, urn: and no dashes
        raise ValueError(f"must be a UUID in the form 8-4-4-4-12 hex digits, got {text!r}")
    return str(parsed)


def _mailbox(value: object) -> str:
    text = _text(value).lower()
    if not _MAILBOX.fullmatch(text):
        raise ValueError(f"must be a mailbox address like post@kommune.dk, got {text!r}")
    return text


def _domain(value: object) -> str:
    text = _text(value).lower().rstrip(".")
    if not _DOMAIN.fullmatch(text):
        raise ValueError(f"must be a domain name like digital-post.dk, got {text!r}")
    return text


def _color(value: object) -> str:
    text = _text(value).lower()
    if text not in COLOR_NAMES:
        raise ValueError(f"must be one of preset0 ... preset24 or none (Outlook's colours), got {text!r}")
    return text


def _condition_field(value: object) -> str:
    text = _text(value)
    prefix, colon, rest = text.partition(":")
    prefix = prefix.strip().lower()
    if not colon:
        if prefix in CONDITION_FIELDS:
            return prefix
        raise ValueError(
            f"unknown field {text!r}; use one of {', '.join(sorted(CONDITION_FIELDS))}, "
            f"header:<Name> or memo:<field>{_did_you_mean(prefix, CONDITION_FIELDS)}"
        )
    rest = rest.strip()
    if prefix == "header":
        if not _HEADER_NAME.fullmatch(rest):
            raise ValueError(
                f"header:<Name> needs a mail header name such as header:X-Priority, got {text!r}"
            )
        return f"header:{rest}"
    if prefix == "memo":
        name = rest.lower()
        if name not in MEMO_CONDITION_FIELDS:
            raise ValueError(
                f"unknown MeMo field {rest!r}; use one of {', '.join(sorted(MEMO_CONDITION_FIELDS))}"
                f"{_did_you_mean(name, MEMO_CONDITION_FIELDS)}"
            )
        return f"memo:{name}"
    raise ValueError(f"unknown field prefix {prefix!r} in {text!r}; only header: and memo: take a name")


Text = Annotated[str, BeforeValidator(_text)]
Cvr = Annotated[str, BeforeValidator(_cvr)]
UuidText = Annotated[str, BeforeValidator(_uuid_text)]
MailboxAddress = Annotated[str, BeforeValidator(_mailbox)]
Color = Annotated[str, BeforeValidator(_color)]


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in the gateway file must be an error, not a silently ignored line.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Organisation(_Frozen):
    """The sending organisation (its name is the MeMo sender name when sending as its CVR)."""

    cvr: Cvr = Field(description="The organisation's CVR number (8 digits, modulus 11).")
    name: Text = Field(description="The organisation's name as recipients see it.")
    mandatory_allowed: bool = Field(False, description="May send MeMo mandatory=true (obligatorisk post).")
    legal_notification_allowed: bool = Field(
        False, description="May send MeMo legalNotification=true (retsvirkning)."
    )


class FunctionMailbox(_Frozen):
    """A function (shared) mailbox: what it may send as and which folders the gateway reads."""

    address: MailboxAddress = Field(description="SMTP address / UPN of the mailbox.")
    cvrs: tuple[Cvr, ...] = Field((), description="CVR numbers the mailbox may send as.")
    sender_contact_points: tuple[UuidText, ...] = Field(
        (), description="Sender contact points (UUIDs) the mailbox may send as; each belongs to one mailbox."
    )
    outgoing_folder: Text = Field(
        "sentitems", description="Folder read for outgoing Digital Post (well-known name or folder path)."
    )
    inbox_folders: tuple[Text, ...] = Field(
        (), description="Folders of this mailbox whose mail is routed by the rules (secure mail)."
    )

    @property
    def may_send(self) -> bool:
        return bool(self.cvrs or self.sender_contact_points)


class ContactPoint(_Frozen):
    """A recipient contact point of the organisation and where its inbound Digital Post is delivered."""

    id: UuidText = Field(description="The contact point's UUID in NgDP.")
    name: Text = Field(description="A name for people (shown in summaries and warning banners).")
    mailbox: MailboxAddress | None = Field(
        description="Target mailbox; null = unmapped on purpose (goes to the main mailbox, with a warning)."
    )
    folder: Text | None = Field(None, description="Folder in the target mailbox (default: its inbox).")


class CategorySpec(_Frozen):
    """An Outlook category: display name and preset colour."""

    name: Text = Field(
        description="Display name in Outlook (created in the mailbox's master list on first use)."
    )
    color: Color = Field(description="preset0 ... preset24 or none.")


def _category(state: str) -> Any:
    name, color = DEFAULT_CATEGORIES[state]
    return Field(default_factory=lambda: CategorySpec(name=name, color=color), description=f"{state}: {name}")


class Categories(_Frozen):
    """The Outlook categories the gateway sets, by meaning. Give only what differs from the defaults."""

    queued: CategorySpec = _category("queued")
    sent: CategorySpec = _category("sent")
    receipted: CategorySpec = _category("receipted")
    failed: CategorySpec = _category("failed")
    inbound: CategorySpec = _category("inbound")
    warning: CategorySpec = _category("warning")

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        # Lets an admin change only the colour (or only the name) of one state.
        if not isinstance(data, Mapping):
            return data
        merged: dict[str, Any] = dict(data)
        for state, value in data.items():
            if state in DEFAULT_CATEGORIES and isinstance(value, Mapping):
                name, color = DEFAULT_CATEGORIES[state]
                merged[state] = {"name": name, "color": color, **value}
        return merged

    def get(self, state: str) -> CategorySpec:
        """The category of a semantic state (``queued``, ``sent``, ...; a JobCategory works too)."""
        if state not in CATEGORY_STATES:
            raise KeyError(state)
        spec: CategorySpec = getattr(self, str(state))
        return spec

    def items(self) -> list[tuple[str, CategorySpec]]:
        return [(state, self.get(state)) for state in CATEGORY_STATES]


class ChannelOverride(_Frozen):
    """Per-channel changes to the attachment policy defaults (graph_dpg.domain.policies)."""

    max_attachments: int | None = Field(
        None,
        ge=1,
        le=10,
        description="At most this many attachments (NgDP, mit.dk and e-Boks refuse more than 10).",
    )
    allowed_types: dict[str, tuple[str, ...]] | None = Field(
        None,
        description=(
            "Replaces the default list: extension (no dot) → MIME types its content may be sniffed as."
        ),
    )
    max_message_mb: float | None = Field(
        None, gt=0, le=99.5, description="Largest message in MB (10^6 bytes); public senders may send 99.5."
    )

    @field_validator("allowed_types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        result: dict[str, tuple[str, ...]] = {}
        for raw_ext, raw_mimes in value.items():
            ext = _text(raw_ext).lower().lstrip(".")
            if not _EXTENSION.fullmatch(ext):
                raise ValueError(f"{raw_ext!r} is not a file extension (letters and digits, e.g. pdf)")
            mimes = [raw_mimes] if isinstance(raw_mimes, str) else raw_mimes
            if not isinstance(mimes, Sequence) or not mimes:
                raise ValueError(f"{ext}: give a list of MIME types, e.g. [application/pdf]")
            clean: list[str] = []
            for mime in mimes:
                text = _text(mime).lower()
                if not _MIME.fullmatch(text):
                    raise ValueError(f"{ext}: {text!r} is not a MIME type like application/pdf")
                clean.append(text)
            result[ext] = tuple(clean)
        return result


class Condition(_Frozen):
    """One test of a routing rule: ``field`` ``op`` ``value``."""

    field: Annotated[str, BeforeValidator(_condition_field)] = Field(
        description="from, original_from, to, recipients, subject, body, header:<Name>, attachment_name, "
        "attachment_content or memo:<field>."
    )
    op: Literal["equals", "contains", "regex", "exists"] = Field(description="How value is compared.")
    value: str | None = Field(
        None,
        validate_default=True,
        description="Text to compare with (not for exists); a regex for op=regex.",
    )
    case_sensitive: bool = Field(False, description="Compare case-sensitively (default: ignore case).")

    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op == "exists":
            if value is not None:
                raise ValueError("op 'exists' takes no value; remove it")
            return None
        if value is None:
            if op is None:
                return None  # op itself is wrong and reported
            raise ValueError(f"op {op!r} needs a value")
        # Not stripped: leading/trailing spaces can matter in a comparison or a regular expression.
        text = _require_str(value)
        if not text:
            raise ValueError("must not be empty")
        if op == "regex":
            flags = 0 if info.data.get("case_sensitive") else re.IGNORECASE
            try:
                re.compile(text, flags)
            except re.error as exc:
                raise ValueError(f"regular expression {text!r} does not compile: {exc}") from None
        return text

    @model_validator(mode="after")
    def _compile(self) -> Condition:
        if self.op == "regex" and self.value is not None:
            # The flag is known only now (case_sensitive comes after value in the file's field order).
            self._pattern = re.compile(self.value, 0 if self.case_sensitive else re.IGNORECASE)
        return self

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled regular expression for ``op: regex`` (compiled once, at load)."""
        return self._pattern


class DeliverTo(_Frozen):
    mailbox: MailboxAddress = Field(description="A configured mailbox.")
    folder: Text | None = Field(None, description="Folder in that mailbox (default: its inbox).")


class RuleActions(_Frozen):
    """What a matching rule does."""

    deliver_to: DeliverTo | None = Field(None, description="Deliver to this mailbox (and folder).")
    categories: tuple[Text, ...] = Field((), description="Outlook categories to add.")
    mark_read: bool = Field(False, description="Deliver as read.")
    archive_to: MailboxAddress | None = Field(None, description="Also file a copy in this (archive) mailbox.")
    stop: bool = Field(False, description="Evaluate no further rules after this one.")

    @model_validator(mode="after")
    def _does_something(self) -> RuleActions:
        if not (self.deliver_to or self.categories or self.mark_read or self.archive_to or self.stop):
            raise ValueError(
                "the rule does nothing: give deliver_to, categories, mark_read, archive_to or stop"
            )
        return self


class Rule(_Frozen):
    """A routing rule. Rules run by ascending ``priority`` (ties: file order)."""

    name: Text = Field(description="Unique name (logs, hit counts, automatic disabling refer to it).")
    priority: int = Field(100, description="Lower numbers run first.")
    enabled: bool = Field(True, description="Disabled rules are kept but not evaluated.")
    match: Literal["all", "any"] = Field("all", description="All conditions must hold, or any one.")
    conditions: tuple[Condition, ...] = Field(min_length=1, description="The tests (at least one).")
    exceptions: tuple[Condition, ...] = Field(
        (), description="If any of these holds, the rule does not match."
    )
    actions: RuleActions = Field(description="What happens when the rule matches.")


class GatewayConfig(_Frozen):
    """The gateway file. Build it with :func:`load_gateway_file` (precise errors) or ``model_validate``."""

    organisation: Organisation
    gateway_domain: Annotated[str, BeforeValidator(_domain)] = Field(
        DEFAULT_GATEWAY_DOMAIN,
        description="Domain of the gateway addresses (<local>@<sender>.<channel>.<domain>).",
    )
    main_mailbox: MailboxAddress = Field(
        description="The main secure mailbox: unrouted Digital Post lands here; its inbox is routed by rules."
    )
    monitoring_mailbox: MailboxAddress = Field(
        description="Receives alerts (disabled rules, expiring certificates)."
    )
    archive_mailbox: MailboxAddress | None = Field(None, description="Optional mailbox for archived copies.")
    function_mailboxes: tuple[FunctionMailbox, ...] = Field((), description="The function mailboxes.")
    contact_points: tuple[ContactPoint, ...] = Field((), description="Recipient contact point → mailbox.")
    categories: Categories = Field(default_factory=Categories, description="Outlook categories by state.")
    channels: dict[Channel, ChannelOverride] = Field(
        default_factory=dict, description="Attachment policy overrides per channel (ngdp, mitdk, eboks)."
    )
    rules: tuple[Rule, ...] = Field((), description="Routing rules for inbound Digital Post and secure mail.")

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_keys(cls, value: Any) -> Any:
        # Channels are lower-case in addresses; accept "NgDP:" as an admin may write it.
        if isinstance(value, Mapping):
            return {k.strip().lower() if isinstance(k, str) else k: v for k, v in value.items()}
        return value

    # --- look-ups --------------------------------------------------------------------------------------

    @property
    def mailboxes(self) -> list[str]:
        """Every configured mailbox address (main, monitoring, archive, function mailboxes), no duplicates."""
        seen: dict[str, None] = {self.main_mailbox: None, self.monitoring_mailbox: None}
        if self.archive_mailbox:
            seen[self.archive_mailbox] = None
        for box in self.function_mailboxes:
            seen[box.address] = None
        return list(seen)

    def function_mailbox(self, address: str) -> FunctionMailbox | None:
        wanted = address.strip().lower()
        return next((box for box in self.function_mailboxes if box.address == wanted), None)

    def mailbox_for_sender(self, sender_kind: str, sender_id: str) -> list[str]:
        """The function mailboxes that may send as a CVR (``"cvr"``) or sender contact point
        (``"contact_point"``), in file order; empty when none may."""
        kind = str(sender_kind).lower()
        ident = sender_id.strip().lower()
        if kind == "cvr":
            return [box.address for box in self.function_mailboxes if ident in box.cvrs]
        if kind == "contact_point":
            return [box.address for box in self.function_mailboxes if ident in box.sender_contact_points]
        raise ValueError(f"unknown sender kind {sender_kind!r} (expected 'cvr' or 'contact_point')")

    def may_send_as(self, mailbox: str, sender_kind: str, sender_id: str) -> bool:
        return mailbox.strip().lower() in self.mailbox_for_sender(sender_kind, sender_id)

    def contact_point(self, contact_point_id: str | uuid.UUID) -> ContactPoint | None:
        wanted = str(contact_point_id).strip().lower()
        return next((cp for cp in self.contact_points if cp.id == wanted), None)

    def mailbox_for_contact_point(self, contact_point_id: str | uuid.UUID) -> str | None:
        """The mailbox a recipient contact point is mapped to; None when unknown or explicitly unmapped
        (both go to the main mailbox with a warning banner; :meth:`contact_point` tells them apart)."""
        cp = self.contact_point(contact_point_id)
        return cp.mailbox if cp is not None else None

    def channel_policy(self, channel: Channel | str) -> ChannelPolicy:
        """The default policy of the channel with this file's overrides applied."""
        key = Channel(str(channel).lower())
        policy = DEFAULT_POLICIES[key]
        override = self.channels.get(key)
        if override is None:
            return policy
        changes: dict[str, Any] = {}
        if override.max_attachments is not None:
            changes["max_attachments"] = override.max_attachments
        if override.max_message_mb is not None:
            changes["max_message_bytes"] = round(override.max_message_mb * 1_000_000)
        if override.allowed_types is not None:
            changes["allowed_types"] = MappingProxyType(
                {ext: frozenset(mimes) for ext, mimes in override.allowed_types.items()}
            )
        return replace(policy, **changes)

    def ordered_rules(self, *, include_disabled: bool = False) -> list[Rule]:
        """Rules in evaluation order: ascending priority, then file order."""
        indexed = sorted(enumerate(self.rules), key=lambda pair: (pair[1].priority, pair[0]))
        return [rule for _, rule in indexed if include_disabled or rule.enabled]

    def outgoing_sources(self) -> list[tuple[str, str]]:
        """``(mailbox, folder)`` pairs read for outgoing Digital Post."""
        return [(box.address, box.outgoing_folder) for box in self.function_mailboxes if box.may_send]

    def inbox_sources(self) -> list[tuple[str, str]]:
        """``(mailbox, folder)`` pairs whose mail is routed as secure mail: the main inbox first."""
        pairs = [(self.main_mailbox, "inbox")]
        for box in self.function_mailboxes:
            pairs += [(box.address, folder) for folder in box.inbox_folders]
        return list(dict.fromkeys(pairs))


# =====================================================================================================
# The gateway file: loading with file:line messages
# =====================================================================================================


def load_gateway_file(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway file; :class:`ConfigError` lists every ``FILE:LINE: field: problem``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found", [f"{source}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read", [f"{source}: cannot read the file: {exc}"]) from None
    return load_gateway_text(text, source)


def load_gateway_text(text: str, source: str = "<gateway file>") -> GatewayConfig:
    """Like :func:`load_gateway_file`, from text already read (``source`` names it in messages)."""
    yaml = YAML(typ="rt", pure=True)
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise _config_error(source, [f"{source}:{line}: YAML syntax: {what}"]) from None
    except YAMLError as exc:
        raise _config_error(source, [f"{source}:1: YAML syntax: {exc}"]) from None
    if tree is None:
        raise _config_error(source, [f"{source}:1: the file is empty"])
    if not isinstance(tree, CommentedMap):
        raise _config_error(
            source, [f"{source}:1: the file must be a mapping (organisation:, main_mailbox: ...)"]
        )

    located: list[tuple[int, str, str]] = []  # (line, field path, message)
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(_plain(tree))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            message = _gateway_message(err)
            if message is not None:
                located.append((_line_of(tree, loc), _format_loc(loc), message))
    for loc, message in _cross_checks(tree):
        located.append((_line_of(tree, loc), _format_loc(loc), message))
    if located or config is None:
        located.sort(key=lambda item: item[0])
        unique = dict.fromkeys(
            f"{source}:{line}: {path}: {message}" if path else f"{source}:{line}: {message}"
            for line, path, message in located
        )
        raise _config_error(source, list(unique))
    return config


def _config_error(source: str, problems: list[str]) -> ConfigError:
    return ConfigError(f"{source}: {len(problems)} problem(s)", problems)


def _plain(node: Any) -> Any:
    """ruamel's round-trip types → plain dict/list/str/int/float/bool, so pydantic sees ordinary data."""
    if isinstance(node, Mapping):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _line_of(tree: Any, loc: Sequence[Any]) -> int:
    """1-based line of the deepest part of ``loc`` that exists in the file."""
    line = 0
    node = tree
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(node, CommentedMap) and seg in node:
            line = node.lc.key(seg)[0]
            node = node[seg]
        elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
            line = node.lc.item(seg)[0]
            node = node[seg]
        else:
            break
    return int(line) + 1


def _format_loc(loc: Sequence[Any]) -> str:
    out = ""
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


_FRIENDLY = {
    "dict_type": "must be a mapping (key: value lines)",
    "model_type": "must be a mapping (key: value lines)",
    "model_attributes_type": "must be a mapping (key: value lines)",
    "list_type": "must be a list (lines starting with '- ')",
    "tuple_type": "must be a list (lines starting with '- ')",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}


def _gateway_message(err: Mapping[str, Any]) -> str | None:
    """The admin-facing text of one pydantic error; None for an echo of errors reported elsewhere."""
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "missing":
        if len(loc) >= 2 and loc[0] == "contact_points" and loc[-1] == "mailbox":
            return (
                "is required: give the mailbox address, or null to leave the contact point unmapped on "
                "purpose (its post then goes to the main mailbox with a warning banner)"
            )
        return "is required"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = _did_you_mean(str(loc[-1]), allowed) if allowed else ""
        listing = f" (allowed here: {', '.join(allowed)})" if allowed and not hint else ""
        return f"unknown field{hint}{listing}"
    if kind == "too_short" and loc and loc[-1] == "conditions":
        if err.get("input"):
            return None  # pydantic's "0 items after validation": the items' own errors say why
        return "needs at least one condition (e.g. {field: from, op: exists} to match everything)"
    if kind in _FRIENDLY:
        return _FRIENDLY[kind] + _got(err.get("input"))
    message = _clean_message(err)
    if kind in ("value_error", "assertion_error"):
        return message
    return message + _got(err.get("input"))


def _clean_message(err: Mapping[str, Any]) -> str:
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _got(value: object) -> str:
    if isinstance(value, Mapping | list):
        return ""
    text = repr(value)
    return f" (got {text[:60] + '...' if len(text) > 60 else text})"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """The field names of the model at ``loc`` (for "did you mean" on unknown keys)."""
    tp: Any = GatewayConfig
    for seg in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(seg))
            if info is None:
                return []
            tp = info.annotation
            continue
        origin = get_origin(tp)
        args = get_args(tp)
        if origin in (tuple, list) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp
            tp = options[0]
        else:
            return tp


def _cross_checks(tree: CommentedMap) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Checks across sections, on the raw tree so they run even when other parts fail validation."""

    def seq(node: Any) -> list[tuple[int, Any]]:
        return list(enumerate(node)) if isinstance(node, list) else []

    def norm(value: Any) -> str | None:
        return value.strip().lower() if isinstance(value, str) and value.strip() else None

    boxes = seq(tree.get("function_mailboxes"))
    configured: dict[str, None] = {}
    for key in ("main_mailbox", "monitoring_mailbox", "archive_mailbox"):
        if (address := norm(tree.get(key))) is not None:
            configured[address] = None
    first_box: dict[str, int] = {}
    owner: dict[str, int] = {}
    for i, box in boxes:
        if not isinstance(box, Mapping):
            continue
        if (address := norm(box.get("address"))) is not None:
            configured[address] = None
            if address in first_box:
                yield (
                    ("function_mailboxes", i, "address"),
                    f"mailbox {address!r} is already listed as function_mailboxes[{first_box[address]}]; "
                    "merge the two entries",
                )
            else:
                first_box[address] = i
        for j, cp in seq(box.get("sender_contact_points")):
            if (cp_id := norm(cp)) is None:
                continue
            if cp_id in owner and owner[cp_id] != i:
                yield (
                    ("function_mailboxes", i, "sender_contact_points", j),
                    f"sender contact point {cp_id} is already assigned to function_mailboxes[{owner[cp_id]}] "
                    f"({norm(boxes[owner[cp_id]][1].get('address'))}); a sender contact point belongs to one "
                    "mailbox",
                )
            owner.setdefault(cp_id, i)

    known = ", ".join(configured) or "none"

    def check_mailbox(loc: tuple[Any, ...], value: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
        address = norm(value)
        if address is not None and address not in configured:
            yield (
                loc,
                f"mailbox {address!r} is not configured (configured: {known}); add it under "
                "function_mailboxes or correct the address",
            )

    seen_cp: dict[str, int] = {}
    for i, cp in seq(tree.get("contact_points")):
        if not isinstance(cp, Mapping):
            continue
        yield from check_mailbox(("contact_points", i, "mailbox"), cp.get("mailbox"))
        if (cp_id := norm(cp.get("id"))) is not None:
            if cp_id in seen_cp:
                yield (
                    ("contact_points", i, "id"),
                    f"contact point {cp_id} is already listed as contact_points[{seen_cp[cp_id]}]",
                )
            seen_cp.setdefault(cp_id, i)

    seen_rule: dict[str, int] = {}
    for i, rule in seq(tree.get("rules")):
        if not isinstance(rule, Mapping):
            continue
        if (name := norm(rule.get("name"))) is not None:
            if name in seen_rule:
                yield (
                    ("rules", i, "name"),
                    f"rule name {rule.get('name')!r} is already used by rules[{seen_rule[name]}]; "
                    "names must be unique (case-insensitive)",
                )
            seen_rule.setdefault(name, i)
        actions = rule.get("actions")
        if isinstance(actions, Mapping):
            deliver = actions.get("deliver_to")
            if isinstance(deliver, Mapping):
                yield from check_mailbox(
                    ("rules", i, "actions", "deliver_to", "mailbox"), deliver.get("mailbox")
                )
            yield from check_mailbox(("rules", i, "actions", "archive_to"), actions.get("archive_to"))

    categories = tree.get("categories")
    if isinstance(categories, Mapping):
        by_name: dict[str, list[tuple[str, bool]]] = {}
        for state in CATEGORY_STATES:
            spec = categories.get(state)
            raw_name = spec.get("name") if isinstance(spec, Mapping) else None
            name = norm(raw_name) or DEFAULT_CATEGORIES[state][0].lower()
            by_name.setdefault(name, []).append((state, raw_name is not None))
        for states in by_name.values():
            if len(states) < 2:
                continue
            explicit = [state for state, given in states if given] or [state for state, _ in states]
            listing = " and ".join(state for state, _ in states)
            for state in explicit:
                yield (
                    ("categories", state, "name"),
                    f"the same category name is used for {listing}; each state needs its own category",
                )
