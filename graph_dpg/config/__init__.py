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
``FILE:LINE: field.path: what is wrong`` for the gateway file.

Modules: ``settings`` (:class:`Settings`, :func:`load_settings`), ``gateway`` (the gateway file's model),
``loader`` (the YAML loader with line numbers). This package re-exports their public names.
"""

from graph_dpg.config.gateway import (
    CATEGORY_STATES,
    COLOR_NAMES,
    CONDITION_FIELDS,
    DEFAULT_CATEGORIES,
    MEMO_CONDITION_FIELDS,
    Categories,
    CategorySpec,
    ChannelOverride,
    Condition,
    ContactPoint,
    DeliverTo,
    GatewayConfig,
    MailboxEntry,
    Organisation,
    Rule,
    RuleActions,
)
from graph_dpg.config.loader import load_gateway_file, load_gateway_text
from graph_dpg.config.settings import (
    ENV_PREFIX,
    NOT_SET,
    SECRET_MASK,
    CredentialKind,
    Settings,
    env_name,
    load_settings,
)

__all__ = [
    "CATEGORY_STATES",
    "COLOR_NAMES",
    "CONDITION_FIELDS",
    "DEFAULT_CATEGORIES",
    "ENV_PREFIX",
    "MEMO_CONDITION_FIELDS",
    "NOT_SET",
    "SECRET_MASK",
    "Categories",
    "CategorySpec",
    "ChannelOverride",
    "Condition",
    "ContactPoint",
    "CredentialKind",
    "DeliverTo",
    "GatewayConfig",
    "MailboxEntry",
    "Organisation",
    "Rule",
    "RuleActions",
    "Settings",
    "env_name",
    "load_gateway_file",
    "load_gateway_text",
    "load_settings",
]
