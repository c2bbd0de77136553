"""The mailbox port in memory: Exchange Online mailboxes as the Graph adapter presents them.

What it keeps of Graph's behaviour (the Graph emulator and ``docs/facts/graph.md`` are the witnesses):
immutable message ids that survive moves; opaque folder ids, with well-known names (``inbox``,
``sentitems``, ...) and display-name paths (``Inbox/Digital Post``, compared case-insensitively) resolving
to them; delta rounds that return the messages created in or moved into a folder since their link (the
adapter asks Graph for ``changeType=created``: a category set on a message does not bring it back) and
start over (``resynced``) when their link has expired; an Internet Message-ID given to every created
message that has none; named extended properties to find a message again; and the errors of
``graph_dpg.core.errors`` with ``service="graph"``. Delta rounds carry no body, headers or attachment
content, and report no removals (no service reads them).
``tests/integration/graph/test_mailbox_fake_contract.py`` holds the fake to the adapter on the emulator.

Faults: ``fail_next(method, error)`` makes the next call raise before it does anything;
``fail_after_create`` runs after a message was created (e.g. a process killed between the remote write
and recording it); a mailbox in ``refused`` answers ``AuthError`` (outside the app's access policy); one
in ``full`` answers ``MailboxFullError`` (507 ErrorQuotaExceeded) to whatever would add to it: creating a
message or a folder, sending.

Size: every mailbox has a maximum message size (``set_max_message_size``; 35 MB unless set, the TIP in
api-reference/v1.0/api/attachment-createuploadsession.md). A message bigger than it, counted as the Graph
emulator counts (``graph_dpg.sandbox.graph.tenant.counted_size``: body and subject as UTF-8 plus every
attachment base64-encoded), is refused with ``MessageTooLargeError`` (Graph's 400 ErrorMessageSizeExceeded
as the adapter translates it), and nothing is created.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage

from graph_dpg.core.errors import AuthError, MailboxFullError, MessageTooLargeError, NotFoundError
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.ports.mailbox import DEFAULT_DELTA_SELECT, DeltaRound
from graph_dpg.sandbox.graph.tenant import DEFAULT_MAX_MESSAGE_SIZE, encoded_length

#: Well-known folder names and their display names at the top of every mailbox.
WELL_KNOWN_FOLDERS: dict[str, str] = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "outbox": "Outbox",
    "junkemail": "Junk Email",
    "archive": "Archive",
}


@dataclass
class Folder:
    id: str
    name: str
    parent: str | None  # None: top level
    well_known: str | None = None


@dataclass
class Stored:
    mailbox: str
    folder: str  # folder id
    message: MailMessage
    properties: dict[str, str]
    arrived: int = 0  # when it was created in or moved into its folder (what delta rounds return)


@dataclass
class FakeMailbox:
    """Every call of ``MailboxPort`` on mailboxes kept in memory (see the module docstring)."""

    messages: dict[str, Stored] = field(default_factory=dict)
    master_categories: dict[str, dict[str, str]] = field(default_factory=dict)  # mailbox → name → colour
    sent: list[tuple[str, MailMessage]] = field(default_factory=list)  # (mailbox, message) of send_mail
    sent_mime: list[tuple[str, bytes]] = field(default_factory=list)  # (mailbox, MIME) of send_mime
    refused: set[str] = field(default_factory=set)
    full: set[str] = field(default_factory=set)
    max_message_size: dict[str, int] = field(default_factory=dict)  # mailbox (lower case) → bytes
    fail_after_create: Callable[[], None] | None = None
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    _folders: dict[str, dict[str, Folder]] = field(default_factory=dict)  # mailbox → id → folder
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _arrivals: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_arrival: int = 0
    _generation: int = 0

    # ------------------------------------------------------------------ test helpers

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        if not callable(getattr(self, method, None)):
            raise AttributeError(f"the mailbox port has no method {method!r}")
        self.failures.setdefault(method, []).extend([error] * times)

    def set_max_message_size(self, mailbox: str, size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        """The mailbox's maximum message size in bytes (Set-Mailbox -MaxReceiveSize; default 35 MB)."""
        self.max_message_size[mailbox.lower()] = size

    def expire_delta_links(self) -> None:
        """Every delta link handed out so far is expired: the next round with one starts over."""
        self._generation += 1

    def put(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        properties: Mapping[str, str] | None = None,
        draft: bool = False,
    ) -> str:
        """Put ``message`` into ``folder`` as Exchange would have it there (sent, or received); its id."""
        return self._create(mailbox, folder, message, received=not draft, properties=dict(properties or {}))

    def put_sent(self, mailbox: str, subject: str, to: Sequence[str], body: str = "<p>Hej</p>") -> str:
        """A mail the function mailbox sent, in its Sent Items as Outlook leaves it; its id."""
        message = MailMessage(
            subject=subject,
            body=body,
            sender=EmailAddress(mailbox),
            to=[EmailAddress(a) for a in to],
            sent_at=datetime.now(UTC),
        )
        return self.put(mailbox, "sentitems", message)

    def in_folder(self, mailbox: str, folder: str) -> list[Stored]:
        """What ``folder`` (a folder id, a well-known name or a path) holds, oldest first."""
        known = self._mailbox_folders(mailbox)
        folder_id = folder if folder in known else self._walk(mailbox, folder, create=False)
        return [m for m in self.messages.values() if _same(m.mailbox, mailbox) and m.folder == folder_id]

    def stored(self, message_id: str) -> Stored:
        return self.messages[message_id]

    # ------------------------------------------------------------------ the port

    async def read_delta(
        self,
        mailbox: str,
        folder: str,
        delta_link: str | None,
        *,
        select: Sequence[str] = DEFAULT_DELTA_SELECT,
        page_size: int = 50,
    ) -> DeltaRound:
        self._enter("read_delta", mailbox)
        folder_id = self._resolve(mailbox, folder)
        since, resynced = 0, False
        if delta_link is not None:
            generation, _, arrival = delta_link.removeprefix("fakedelta:").partition(":")
            if generation == str(self._generation) and arrival.isdigit():
                since = int(arrival)
            else:
                resynced = True
        changed = sorted(
            (
                (mid, s)
                for mid, s in self.messages.items()
                if _same(s.mailbox, mailbox) and s.folder == folder_id and s.arrived > since
            ),
            key=lambda item: item[1].arrived,
        )
        summaries = [
            replace(
                self._view(mid, s),
                body="",
                headers=[],
                attachments=[],
                has_attachments=bool(s.message.attachments),
            )
            for mid, s in changed
        ]
        link = f"fakedelta:{self._generation}:{self._last_arrival}"
        return DeltaRound(messages=summaries, delta_link=link, resynced=resynced)

    async def get_message(self, mailbox: str, message_id: str) -> MailMessage:
        self._enter("get_message", mailbox)
        return self._view(message_id, self._find(mailbox, message_id))

    async def get_categories(self, mailbox: str, message_id: str) -> list[str]:
        self._enter("get_categories", mailbox)
        return list(self._find(mailbox, message_id).message.categories)

    async def get_mime(self, mailbox: str, message_id: str) -> bytes:
        self._enter("get_mime", mailbox)
        msg = self._view(message_id, self._find(mailbox, message_id))
        mime = EmailMessage()
        mime["Subject"] = msg.subject
        if msg.sender is not None:
            mime["From"] = msg.sender.address
        for header, addresses in (("To", msg.to), ("Cc", msg.cc)):
            if addresses:
                mime[header] = ", ".join(a.address for a in addresses)
        if msg.internet_message_id:
            mime["Message-ID"] = msg.internet_message_id
        mime.set_content(msg.body, subtype="html" if msg.body_type == "html" else "plain")
        for a in msg.attachments:
            maintype, _, subtype = a.content_type.partition("/")
            mime.add_attachment(
                a.content or b"", maintype=maintype, subtype=subtype or "octet-stream", filename=a.name
            )
        return mime.as_bytes()

    async def create_message(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        received: bool = True,
        extended_properties: Mapping[str, str] = {},
    ) -> str:
        self._enter("create_message", mailbox)
        self._room_for(mailbox)
        self._fits(mailbox, message)
        message_id = self._create(
            mailbox, folder, message, received=received, properties=dict(extended_properties)
        )
        if self.fail_after_create is not None:
            self.fail_after_create()
        return message_id

    async def send_mail(self, mailbox: str, message: MailMessage, *, save_to_sent_items: bool = True) -> None:
        self._enter("send_mail", mailbox)
        self._room_for(mailbox)
        self._fits(mailbox, message)
        sent = replace(copy.deepcopy(message), sender=EmailAddress(mailbox), sent_at=datetime.now(UTC))
        self.sent.append((mailbox, sent))
        if save_to_sent_items:
            self._create(mailbox, "sentitems", sent, received=True, properties={})

    async def send_mime(self, mailbox: str, mime: bytes) -> None:
        self._enter("send_mime", mailbox)
        self.sent_mime.append((mailbox, mime))

    async def set_categories(self, mailbox: str, message_id: str, categories: Sequence[str]) -> None:
        self._enter("set_categories", mailbox)
        stored = self._find(mailbox, message_id)
        stored.message.categories = list(dict.fromkeys(categories))

    async def get_master_categories(self, mailbox: str) -> dict[str, str]:
        self._enter("get_master_categories", mailbox)
        return dict(self.master_categories.get(mailbox.casefold(), {}))

    async def ensure_master_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        self._enter("ensure_master_categories", mailbox)
        have = self.master_categories.setdefault(mailbox.casefold(), {})
        created = [name for name in wanted if name not in have]
        have.update(wanted)
        return created

    async def set_extended_property(self, mailbox: str, message_id: str, name: str, value: str) -> None:
        self._enter("set_extended_property", mailbox)
        stored = self._find(mailbox, message_id)
        stored.properties[name] = value

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        self._enter("find_by_extended_property", mailbox)
        return [mid for mid, m in self._in(mailbox, folder) if m.properties.get(name) == value]

    async def find_by_internet_message_id(
        self, mailbox: str, folder: str, internet_message_id: str
    ) -> list[str]:
        self._enter("find_by_internet_message_id", mailbox)
        return [
            mid
            for mid, m in self._in(mailbox, folder)
            if m.message.internet_message_id == internet_message_id
        ]

    async def move(self, mailbox: str, message_id: str, destination_folder: str) -> str:
        self._enter("move", mailbox)
        stored = self._find(mailbox, message_id)
        stored.folder = self._resolve(mailbox, destination_folder)
        self._arrive(stored)
        return message_id  # immutable ids survive a move

    async def ensure_folder(self, mailbox: str, path: str) -> str:
        self._enter("ensure_folder", mailbox)
        folder_id = self._walk(mailbox, path, create=True)
        assert folder_id is not None
        return folder_id

    async def check_mailbox(self, mailbox: str) -> None:
        self._enter("check_mailbox", mailbox)

    # ------------------------------------------------------------------ inside

    def _enter(self, method: str, mailbox: str) -> None:
        queued = self.failures.get(method)
        if queued:
            raise queued.pop(0)
        if mailbox.casefold() in {m.casefold() for m in self.refused}:
            raise AuthError(f"access to {mailbox} denied", "graph", 403, "ErrorAccessDenied")

    def _room_for(self, mailbox: str) -> None:
        if mailbox.casefold() in {m.casefold() for m in self.full}:
            raise MailboxFullError(
                "Mailbox has exceeded maximum mailbox size.", "graph", 507, "ErrorQuotaExceeded"
            )

    def _fits(self, mailbox: str, message: MailMessage) -> None:
        """The Graph emulator's counting rule (``counted_size``): body and subject as UTF-8, attachments
        base64-encoded, against the mailbox's maximum message size."""
        limit = self.max_message_size.get(mailbox.lower(), DEFAULT_MAX_MESSAGE_SIZE)
        text = (message.body or "") + (message.subject or "")
        size = len(text.encode("utf-8")) + sum(encoded_length(len(a.content)) for a in message.attachments)
        if size > limit:
            raise MessageTooLargeError(
                f"message of {size} bytes over the maximum message size of {mailbox} ({limit})",
                "graph",
                400,
                "ErrorMessageSizeExceeded",
            )

    def _mailbox_folders(self, mailbox: str) -> dict[str, Folder]:
        folders = self._folders.get(mailbox.casefold())
        if folders is None:
            folders = {}
            for name, display in WELL_KNOWN_FOLDERS.items():
                folder = Folder(_opaque("AAMkF"), display, None, name)
                folders[folder.id] = folder
            self._folders[mailbox.casefold()] = folders
        return folders

    def _walk(self, mailbox: str, path: str, *, create: bool) -> str | None:
        """``"Inbox/Digital Post"``: a well-known name or top-level folder, then child folders by display
        name (case-insensitive), created when missing if ``create``."""
        parts = [p.strip() for p in path.strip("/").split("/") if p.strip()]
        if not parts:
            raise ValueError("empty folder path")
        folders = self._mailbox_folders(mailbox)
        first = parts[0].casefold()
        parent: str | None
        if first in WELL_KNOWN_FOLDERS:
            parent = next(f.id for f in folders.values() if f.well_known == first)
        else:
            parent = self._child(mailbox, None, parts[0], create=create)
        for part in parts[1:]:
            if parent is None:
                return None
            parent = self._child(mailbox, parent, part, create=create)
        return parent

    def _child(self, mailbox: str, parent: str | None, name: str, *, create: bool) -> str | None:
        folders = self._mailbox_folders(mailbox)
        for f in folders.values():
            if f.parent == parent and f.name.casefold() == name.casefold():
                return f.id
        if not create:
            return None
        self._room_for(mailbox)
        folder = Folder(_opaque("AAMkF"), name, parent)
        folders[folder.id] = folder
        return folder.id

    def _resolve(self, mailbox: str, folder: str) -> str:
        """A folder id or well-known name → the folder's id (``NotFoundError`` for neither)."""
        folders = self._mailbox_folders(mailbox)
        if folder in folders:
            return folder
        wanted = folder.casefold()
        found = next((f.id for f in folders.values() if f.well_known == wanted), None)
        if found is None:
            raise NotFoundError(
                f"folder {folder!r} not found in {mailbox}", "graph", 404, "ErrorItemNotFound"
            )
        return found

    def _create(
        self, mailbox: str, folder: str, message: MailMessage, *, received: bool, properties: dict[str, str]
    ) -> str:
        folder_id = self._resolve(mailbox, folder)
        message_id = f"AAMk-{next(self._ids)}"
        domain = mailbox.rsplit("@", 1)[-1]
        kept = replace(
            copy.deepcopy(message),
            id=None,
            mailbox=None,
            folder_id=None,
            is_draft=not received,
            internet_message_id=message.internet_message_id or f"<{uuid.uuid4().hex.upper()}@{domain}>",
            received_at=message.received_at or (datetime.now(UTC) if received else None),
        )
        stored = Stored(mailbox, folder_id, kept, properties)
        self._arrive(stored)
        self.messages[message_id] = stored
        return message_id

    def _arrive(self, stored: Stored) -> None:
        stored.arrived = self._last_arrival = next(self._arrivals)

    def _find(self, mailbox: str, message_id: str) -> Stored:
        stored = self.messages.get(message_id)
        if stored is None or not _same(stored.mailbox, mailbox):
            raise NotFoundError(
                f"message {message_id} not found in {mailbox}", "graph", 404, "ErrorItemNotFound"
            )
        return stored

    def _in(self, mailbox: str, folder: str) -> list[tuple[str, Stored]]:
        folder_id = self._resolve(mailbox, folder)
        return [
            (mid, m)
            for mid, m in self.messages.items()
            if _same(m.mailbox, mailbox) and m.folder == folder_id
        ]

    @staticmethod
    def _view(message_id: str, stored: Stored) -> MailMessage:
        return replace(
            copy.deepcopy(stored.message), id=message_id, mailbox=stored.mailbox, folder_id=stored.folder
        )


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _opaque(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
