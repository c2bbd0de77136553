"""The mailbox port: everything the services need from an Exchange Online mailbox, nothing more.

Implemented by :class:`graph_dpg.adapters.graph.GraphMailbox` (Microsoft Graph). Services and tests may
implement it with a fake. All methods raise only :mod:`graph_dpg.core.errors` types
(``TransientError``/``ThrottledError`` → retry later, ``AuthError`` → alert, ``NotFoundError``,
``RejectedError``/``PermanentError`` → do not retry the same request).

Identifiers are Graph *immutable* ids (they survive moves between folders of the same mailbox), so
they can be stored. ``mailbox`` is the mailbox's UPN / primary SMTP address; ``folder`` is a folder id
or a well-known name (``inbox``, ``sentitems``, ``outbox``, ``drafts``, ``deleteditems``, ``archive``...).

Delta state machine (one per mailbox + folder)::

    delta_link=None ──read_delta──► full sync (all pages) ──► DeltaRound(delta_link=L1, resynced=False)
    delta_link=L1   ──read_delta──► changes since L1      ──► DeltaRound(delta_link=L2)
    delta_link=Lx expired (410 / syncStateNotFound)
                    ──read_delta──► full sync again       ──► DeltaRound(delta_link=L', resynced=True)

A round is only complete when its ``delta_link`` is returned; callers persist it *after* they have
recorded the round's messages, so a crash mid-round replays the round (handlers must be idempotent,
keyed by mailbox + immutable id / internetMessageId). A resync replays every message of the folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from graph_dpg.domain.inbox_rules import InboxRule
from graph_dpg.domain.mail import MailMessage

#: What a delta round returns per message by default: enough to decide whether a message concerns the
#: gateway (recipients, sender, ids), without body, headers or attachment content.
DEFAULT_DELTA_SELECT: tuple[str, ...] = (
    "id",
    "subject",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "internetMessageId",
    "conversationId",
    "parentFolderId",
    "receivedDateTime",
    "sentDateTime",
    "categories",
    "isRead",
    "isDraft",
    "hasAttachments",
)


@dataclass
class DeltaRound:
    """The result of one delta round over one folder (all pages up to the deltaLink)."""

    messages: list[MailMessage] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    delta_link: str = ""
    resynced: bool = False


@runtime_checkable
class MailboxPort(Protocol):
    """Async access to function mailboxes (see the module docstring for ids and errors)."""

    async def read_delta(
        self,
        mailbox: str,
        folder: str,
        delta_link: str | None,
        *,
        select: Sequence[str] = DEFAULT_DELTA_SELECT,
        page_size: int = 50,
    ) -> DeltaRound:
        """New messages in ``folder`` since ``delta_link`` (None: full sync). Restarts a full sync by
        itself when the link has expired (``resynced=True``). Messages carry no attachment content."""
        ...

    async def get_message(self, mailbox: str, message_id: str) -> MailMessage:
        """The whole message: HTML body, internet headers, attachments with their content."""
        ...

    async def get_categories(self, mailbox: str, message_id: str) -> list[str]:
        """The message's categories only (cheap: no body, no attachments)."""
        ...

    async def get_mime(self, mailbox: str, message_id: str) -> bytes:
        """The message as MIME (RFC 5322) bytes."""
        ...

    async def create_message(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        received: bool = True,
        extended_properties: Mapping[str, str] = {},
    ) -> str:
        """Put ``message`` into ``folder`` (as a received, non-draft item unless ``received=False``),
        with attachments of any size; returns its immutable id."""
        ...

    async def send_mail(self, mailbox: str, message: MailMessage, *, save_to_sent_items: bool = True) -> None:
        """Send ``message`` from ``mailbox`` (attachments of any size)."""
        ...

    async def send_mime(self, mailbox: str, mime: bytes) -> None:
        """Send a whole MIME message (e.g. S/MIME) from ``mailbox``; Exchange keeps a copy in Sent Items."""
        ...

    async def set_categories(self, mailbox: str, message_id: str, categories: Sequence[str]) -> None:
        """Replace the message's categories with ``categories``."""
        ...

    async def get_master_categories(self, mailbox: str) -> dict[str, str]:
        """The mailbox's master category list, read only: name → colour (``presetN`` or ``none``)."""
        ...

    async def ensure_master_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        """Make the mailbox's master category list hold ``wanted`` (name → ``presetN`` colour):
        create missing ones, fix wrong colours. Returns the names created."""
        ...

    async def set_extended_property(self, mailbox: str, message_id: str, name: str, value: str) -> None:
        """Set the project's named string property ``name`` on the message."""
        ...

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        """Ids of the messages in ``folder`` whose project property ``name`` equals ``value``."""
        ...

    async def find_by_internet_message_id(
        self, mailbox: str, folder: str, internet_message_id: str
    ) -> list[str]:
        """Ids of the messages in ``folder`` with this Internet Message-ID."""
        ...

    async def move(self, mailbox: str, message_id: str, destination_folder: str) -> str:
        """Move the message; returns its id in the destination (unchanged for immutable ids)."""
        ...

    async def ensure_folder(self, mailbox: str, path: str) -> str:
        """Folder id of ``path`` (e.g. ``"Inbox/Digital Post"``), creating missing folders."""
        ...

    async def check_mailbox(self, mailbox: str) -> None:
        """Raise ``AuthError``/``NotFoundError`` unless the mailbox is reachable with our credentials."""
        ...


@runtime_checkable
class InboxRulesPort(Protocol):
    """The mailbox owner's Outlook inbox rules, read only (mailfolder-list-messagerules.md)."""

    async def list_inbox_rules(self, mailbox: str) -> list[InboxRule]:
        """Every rule of the mailbox's Inbox, in any order (``AuthError`` without MailboxSettings.Read)."""
        ...
