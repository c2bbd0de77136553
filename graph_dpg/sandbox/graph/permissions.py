"""Which application permission each emulated endpoint needs, and what the app was granted.

Each endpoint kind (as in the request log) lists the application permissions that allow it, from the
"Permissions" table of its page in microsoftgraph/microsoft-graph-docs-contrib (path given per entry, under
api-reference/v1.0/api/). A ReadWrite permission includes its Read (concepts/permissions-reference.md:
"Allows the app to create, read, update, and delete ..."), so it is listed wherever the Read one is.

Not modelled: that Mail.ReadBasic(.All) hides body, attachments and extended properties of a message
(it is accepted where the docs list it, and then sees everything).

A grant (:class:`AppGrant`) is what Exchange evaluates on every call for one app: its application roles and
the management scope that limits them to some mailboxes (RBAC for Applications,
learn.microsoft.com/exchange/permissions-exo/application-rbac). The emulator's token is opaque and names a
grant; the roles are not read from a JWT.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_READ_MAIL = ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite")
_READ_MAIL_CONTENT = ("Mail.Read", "Mail.ReadWrite")
_WRITE_MAIL = ("Mail.ReadWrite",)
_SEND = ("Mail.Send",)
_READ_SETTINGS = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
_WRITE_SETTINGS = ("MailboxSettings.ReadWrite",)
_READ_CONTACTS = ("Contacts.Read", "Contacts.ReadWrite")
_READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")

#: endpoint kind -> (docs page, permissions of which any one allows the call).
ENDPOINT_PERMISSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "users.list": ("user-list.md", _READ_USERS),
    "users.get": ("user-get.md", _READ_USERS),
    "mailFolders.list": ("user-list-mailfolders.md", _READ_MAIL),
    "mailFolders.get": ("mailfolder-get.md", _READ_MAIL),
    "mailFolders.create": ("user-post-mailfolders.md", _WRITE_MAIL),
    "mailFolders.update": ("mailfolder-update.md", _WRITE_MAIL),
    "mailFolders.delete": ("mailfolder-delete.md", _WRITE_MAIL),
    "childFolders.list": ("mailfolder-list-childfolders.md", _READ_MAIL),
    "childFolders.create": ("mailfolder-post-childfolders.md", _WRITE_MAIL),
    "messages.list": ("user-list-messages.md", _READ_MAIL),
    "messages.delta": ("message-delta.md", _READ_MAIL),
    "messages.get": ("message-get.md", _READ_MAIL),
    # $value is the MIME content: the body, which Mail.ReadBasic does not include (message-get.md,
    # "Get MIME content").
    "messages.value": ("message-get.md", _READ_MAIL_CONTENT),
    "messages.create": ("user-post-messages.md", _WRITE_MAIL),
    "messages.update": ("message-update.md", _WRITE_MAIL),
    "messages.delete": ("message-delete.md", _WRITE_MAIL),
    "messages.move": ("message-move.md", _WRITE_MAIL),
    "messages.copy": ("message-copy.md", _WRITE_MAIL),
    "messages.createReply": ("message-createreply.md", _WRITE_MAIL),
    "messages.createReplyAll": ("message-createreplyall.md", _WRITE_MAIL),
    "messages.send": ("message-send.md", _SEND),
    "messages.reply": ("message-reply.md", _SEND),
    "messages.replyAll": ("message-replyall.md", _SEND),
    "sendMail": ("user-sendmail.md", _SEND),
    "attachments.list": ("message-list-attachments.md", _READ_MAIL_CONTENT),
    "attachments.get": ("attachment-get.md", _READ_MAIL_CONTENT),
    "attachments.value": ("attachment-get.md", _READ_MAIL_CONTENT),
    "attachments.create": ("message-post-attachments.md", _WRITE_MAIL),
    "attachments.delete": ("attachment-delete.md", _WRITE_MAIL),
    # The page's table also names Calendars.ReadWrite, which is for event attachments; for a message's
    # attachment only Mail.ReadWrite is accepted here (inference).
    "attachments.createUploadSession": ("attachment-createuploadsession.md", _WRITE_MAIL),
    "contacts.list": ("user-list-contacts.md", _READ_CONTACTS),
    # with $expand=multiValueExtendedProperties: multivaluelegacyextendedproperty-get.md (contact row).
    "contacts.get": ("contact-get.md", _READ_CONTACTS),
    "messageRules.list": ("mailfolder-list-messagerules.md", _READ_SETTINGS),
    "masterCategories.list": ("outlookuser-list-mastercategories.md", _READ_SETTINGS),
    "masterCategories.get": ("outlookcategory-get.md", _READ_SETTINGS),
    "masterCategories.create": ("outlookuser-post-mastercategories.md", _WRITE_SETTINGS),
    "masterCategories.update": ("outlookcategory-update.md", _WRITE_SETTINGS),
    "masterCategories.delete": ("outlookcategory-delete.md", _WRITE_SETTINGS),
    # subscription-post-subscriptions.md (message row) and includes/outlook-subscription-notes.md: a read
    # permission on the subscribed messages. Get/update/delete/list need the same (subscription-*.md).
    "subscriptions.create": ("subscription-post-subscriptions.md", _READ_MAIL),
    "subscriptions.list": ("subscription-list.md", _READ_MAIL),
    "subscriptions.get": ("subscription-get.md", _READ_MAIL),
    "subscriptions.update": ("subscription-update.md", _READ_MAIL),
    "subscriptions.delete": ("subscription-delete.md", _READ_MAIL),
}

#: Every permission some endpoint accepts: a grant of these allows every emulated call.
ALL_ROLES: frozenset[str] = frozenset(p for _, perms in ENDPOINT_PERMISSIONS.values() for p in perms)

#: What the sandbox grants by default: the permissions graph_dpg's permission table marks as required
#: (graph_dpg/domain/permissions.py). Restated, not imported (the emulator imports nothing of the gateway);
#: tests/integration/graph_emulator/test_permissions.py checks that the two agree.
GATEWAY_ROLES: frozenset[str] = frozenset(
    {"Mail.ReadWrite", "MailboxSettings.ReadWrite", "Mail.Send", "Contacts.Read"}
)


@dataclass(frozen=True)
class AppGrant:
    """What one app may do: application ``roles``, within ``mailboxes`` (lower-case addresses or ids of
    the management scope; None: every mailbox of the tenant, as a tenant-wide Entra consent would)."""

    roles: frozenset[str]
    mailboxes: frozenset[str] | None = None
    app_id: str = "graph-dpg"

    @classmethod
    def of(
        cls, roles: Iterable[str], mailboxes: Iterable[str] | None = None, app_id: str = "graph-dpg"
    ) -> AppGrant:
        unknown = set(roles) - ALL_ROLES
        if unknown:
            raise ValueError(f"no emulated endpoint uses {sorted(unknown)}")
        scope = None if mailboxes is None else frozenset(m.lower() for m in mailboxes)
        return cls(frozenset(roles), scope, app_id)

    def allows(self, endpoint: str) -> bool:
        """True when some role of the grant is one the endpoint accepts (or the endpoint needs none)."""
        entry = ENDPOINT_PERMISSIONS.get(endpoint)
        return entry is None or not self.roles.isdisjoint(entry[1])

    def covers(self, keys: Iterable[str]) -> bool:
        """True when a mailbox known by ``keys`` (its id, address and aliases) is in the scope."""
        return self.mailboxes is None or any(k.lower() in self.mailboxes for k in keys)
