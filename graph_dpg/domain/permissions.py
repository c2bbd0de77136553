"""The one table of Microsoft Graph application permissions graph_dpg uses (least privilege).

Everything that names a permission derives from :data:`PERMISSIONS` or is checked against it:
``graph-dpg consent-url`` prints the required rows, ``graph-dpg doctor`` probes each required row on every
mailbox, and ``infra/exchange/Grant-GraphDpgMailboxAccess.ps1`` assigns exactly the required rows' Exchange
roles (tests/unit/infra/test_infra_powershell.py parses the script and compares). To start using a
permission, add (or switch on) one row.

What each row is needed for was read off the calls in ``graph_dpg/adapters/graph/mailbox.py`` and the
"Permissions" table of each API's page in microsoftgraph/microsoft-graph-docs-contrib (the paths below);
docs/facts/graph.md, "Permissions", has the facts with their sources. Ids: the Microsoft Graph permissions
reference (concepts/permissions-reference.md); Exchange role names: RBAC for Applications
(learn.microsoft.com/exchange/permissions-exo/application-rbac).

Not in the table because no code calls them: ``GET /users/{id}`` (User.Read.All) - every call addresses the
mailbox by its address in the path and never reads the directory.

Mail.Send is required because S/MIME secure mail to external recipients can only be sent as MIME through
``sendMail`` (concepts/outlook-send-mime-message.md); no harmless call needs it, so the doctor does not
probe it (``Probe.NONE``) and says so.

Contacts.Read is required because the recipient certificates of secure mail are also looked for where Outlook
keeps them, on the function mailbox's contacts (PidTagUserX509Certificate; docs/facts/smime.md). It is
required, not optional, like Mail.Send: a static table cannot follow a setting, and the grant is read-only
and limited by the RBAC scope to the function mailboxes. With GRAPH_DPG_SMIME_RECIPIENT_CONTACTS=false the
gateway never makes the call, and the role may be left out (doctor then reports it missing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: appId of the Microsoft Graph service principal whose app roles these are.
GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"


class Probe(enum.StrEnum):
    """A harmless call that succeeds only with the permission (``graph-dpg doctor`` runs it per mailbox).

    Authorization is checked before the body is read, so a 403 means the permission is missing and any
    other answer means it is present (the emulator does the same; for Graph this order is an inference)."""

    #: ``PATCH /users/{m}/mailFolders/inbox`` with an empty body: mailfolder-update needs Mail.ReadWrite and
    #: an empty PATCH changes nothing.
    MAIL_WRITE = "mail_write"
    #: ``PATCH`` one existing master category with its own colour: outlookcategory-update needs
    #: MailboxSettings.ReadWrite and the colour stays what it was (a read only, when the list is empty).
    CATEGORIES_WRITE = "categories_write"
    #: ``GET /users/{m}/contacts?$top=1``: user-list-contacts needs Contacts.Read and only reads.
    CONTACTS_READ = "contacts_read"
    #: No harmless call needs Mail.Send (every call that does sends a mail): not probed.
    NONE = "none"


@dataclass(frozen=True)
class GraphPermission:
    """One Graph application permission: its app role, its Exchange role, why and whether it is needed."""

    name: str
    app_role_id: str
    exchange_role: str
    reason: str
    #: The Graph calls that need it, with the docs page that says so (api-reference/v1.0/api/<page>.md).
    calls: tuple[str, ...]
    required: bool
    probe: Probe


PERMISSIONS: tuple[GraphPermission, ...] = (
    GraphPermission(
        name="Mail.ReadWrite",
        app_role_id="e2a3a72e-5f79-4c64-b1b1-878b674786c9",
        exchange_role="Application Mail.ReadWrite",
        reason=(
            "read the outgoing folders and inboxes (delta), deliver Digital Post into folders, move and "
            "mark mails (categories, extended properties), attachments and upload sessions, create folders"
        ),
        calls=(
            "GET mailFolders/{id}/messages/delta (message-delta)",
            "GET messages, messages/{id}, $value, attachments (user-list-messages, message-get, "
            "attachment-get)",
            "POST messages, attachments, createUploadSession (user-post-messages, message-post-attachments, "
            "attachment-createuploadsession)",
            "PATCH messages/{id} - categories, extended properties (message-update)",
            "POST messages/{id}/move, DELETE messages/{id} (message-move, message-delete)",
            "GET/POST mailFolders, childFolders (user-list-mailfolders, mailfolder-get, "
            "mailfolder-post-childfolders)",
        ),
        required=True,
        probe=Probe.MAIL_WRITE,
    ),
    GraphPermission(
        name="MailboxSettings.ReadWrite",
        app_role_id="6931bccd-447a-43d1-b442-00a195474933",
        exchange_role="Application MailboxSettings.ReadWrite",
        reason="create the Digital Post categories in the master category list and correct their colours",
        calls=(
            "GET outlook/masterCategories (outlookuser-list-mastercategories: MailboxSettings.Read)",
            "POST outlook/masterCategories (outlookuser-post-mastercategories: MailboxSettings.ReadWrite)",
            "PATCH outlook/masterCategories/{id} (outlookcategory-update: MailboxSettings.ReadWrite)",
            "GET mailFolders/inbox/messageRules (mailfolder-list-messagerules: MailboxSettings.Read), to "
            "apply the owner's Outlook inbox rules to delivered post",
        ),
        required=True,
        probe=Probe.CATEGORIES_WRITE,
    ),
    GraphPermission(
        name="Mail.Send",
        app_role_id="b633e1c5-b582-4048-a93e-9f11b44c7e96",
        exchange_role="Application Mail.Send",
        reason=(
            "send S/MIME secure mail to external recipients from the function mailbox: S/MIME can only be "
            "sent as MIME through sendMail (concepts/outlook-send-mime-message.md)"
        ),
        calls=("POST sendMail with a base64 MIME body (user-sendmail, outlook-send-mime-message)",),
        required=True,
        probe=Probe.NONE,
    ),
    GraphPermission(
        name="Contacts.Read",
        app_role_id="089fe4d0-434a-44c5-8827-41ba8a0b17f5",
        exchange_role="Application Contacts.Read",
        reason=(
            "find external recipients' S/MIME certificates where Outlook keeps them, on the function "
            "mailbox's contacts (secure mail is only sent encrypted to the recipient's certificate)"
        ),
        calls=(
            "GET contacts?$filter=emailAddresses/any(...) (user-list-contacts: Contacts.Read)",
            "GET contacts/{id}?$expand=multiValueExtendedProperties (multivaluelegacyextendedproperty-get: "
            "Contacts.Read)",
        ),
        required=True,
        probe=Probe.CONTACTS_READ,
    ),
)


def required_permissions() -> tuple[GraphPermission, ...]:
    """The rows the gateway needs today, in table order."""
    return tuple(p for p in PERMISSIONS if p.required)


def permission(name: str) -> GraphPermission:
    """The row called ``name`` (KeyError if there is none)."""
    for row in PERMISSIONS:
        if row.name == name:
            return row
    raise KeyError(name)
