"""Inbound: Digital Post (NgDP pull and push) and secure mail → the right mailbox, readable, nothing lost."""

from graph_dpg.services.alerts import ALERT_PROPERTY
from graph_dpg.services.inbound.memos import (
    ARCHIVE_PROPERTY,
    MEMO_PROPERTY,
    ROUTED_PROPERTY,
    ContactPointRoute,
    InboundService,
    InboundSettings,
    InboundStats,
)

__all__ = [
    "ALERT_PROPERTY",
    "ARCHIVE_PROPERTY",
    "MEMO_PROPERTY",
    "ROUTED_PROPERTY",
    "ContactPointRoute",
    "InboundService",
    "InboundSettings",
    "InboundStats",
]
