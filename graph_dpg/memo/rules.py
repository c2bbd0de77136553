"""Business rules beyond the MeMo XSD (docs/facts/memo.md, "Business rules"), checked on the model.

Each finding names the rule (``RULE_*``) and the element path as libxml2 writes it (``[n]`` only where
siblings share a name), e.g. ``/Message/MessageBody/AdditionalDocument[2]/File/filename``.

* ``filename.forbidden-characters``: NgDP rejects file names containing ``FORBIDDEN_FILENAME_CHARS``
  (the canonical set lives in :mod:`graph_dpg.core.filenames`, whose sanitiser fixes names before build)
  (Test already; Production from 10 Sep 2025, digitaliser.dk "Øget validering af filnavne og URI i
  Actions", MeMo 1.1 and 1.2; docs/facts/ngdp.md, "File names").
* ``entrypoint.https``: ``EntryPoint/url`` must be an absolute ``https://`` URL (same announcement).
* ``notification.length``: at most ``NOTIFICATION_MAX_LENGTH`` (150) characters. The packaged 1.1 XSD allows
  160, but another copy of the official schema (python-serviceplatformen 2024) and its NemSMS docs say
  150; which one NgDP enforces is not public, so the stricter value keeps us from being rejected.
* ``notification.required`` (NEMSMS: the notification *is* the SMS text), ``body.required`` (DIGITALPOST:
  the main document is the letter).
* ``id.type``, ``id.cpr``, ``id.cvr``: sender/recipient/representative ``idType`` is ``CPR`` or ``CVR``
  and the id is 10 resp. 8 ASCII digits (DIGI MeMo 1.1 change list; SF1601 rejects anything else); also
  ``grd:cprNumber``/``grd:cvrNumber`` in ContentData.
* ``mandatory.not-allowed`` / ``legal-notification.not-allowed``: only organisations with
  ``mandatoryPostAllowed`` / ``legalNotificationAllowed`` may set them (docs/facts/ngdp.md, "Organisations").
* ``uuid.v4``: ``messageUUID`` is an RFC 4122 version 4 UUID (it is our idempotency key).
* ``notification.personal-data`` (warning): a CPR-like number in ``label``/``notification`` — SMS texts and
  subjects are not protected like the letter ("Afsendere skal derfor ikke sende personfølsomme data via
  sms", digst.dk).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from graph_dpg.core.errors import Finding
from graph_dpg.core.filenames import FORBIDDEN_FILENAME_CHARS
from graph_dpg.memo import model as m

RULE_FILENAME = "filename.forbidden-characters"
RULE_ENTRYPOINT_HTTPS = "entrypoint.https"
RULE_NOTIFICATION_LENGTH = "notification.length"
RULE_NOTIFICATION_REQUIRED = "notification.required"
RULE_NOTIFICATION_PERSONAL_DATA = "notification.personal-data"
RULE_BODY_REQUIRED = "body.required"
RULE_ID_TYPE = "id.type"
RULE_ID_CPR = "id.cpr"
RULE_ID_CVR = "id.cvr"
RULE_MANDATORY = "mandatory.not-allowed"
RULE_LEGAL_NOTIFICATION = "legal-notification.not-allowed"
RULE_UUID_V4 = "uuid.v4"

NOTIFICATION_MAX_LENGTH = 150

_FORBIDDEN_FILENAME = re.compile("[" + re.escape("".join(sorted(FORBIDDEN_FILENAME_CHARS))) + "]")
_DIGITS = {m.ID_TYPE_CPR: re.compile(r"[0-9]{10}"), m.ID_TYPE_CVR: re.compile(r"[0-9]{8}")}
_ID_RULE = {m.ID_TYPE_CPR: RULE_ID_CPR, m.ID_TYPE_CVR: RULE_ID_CVR}
_ID_LENGTH = {m.ID_TYPE_CPR: 10, m.ID_TYPE_CVR: 8}
_CPR_LIKE = re.compile(r"(?<![0-9])[0-3][0-9][01][0-9]{3}-?[0-9]{4}(?![0-9])")
_HTTPS_URL = re.compile(r"https://[^/?#\s]+", re.IGNORECASE)


def forbidden_filename_characters(name: str) -> list[str]:
    """The distinct forbidden characters in ``name``, in order of appearance."""
    return list(dict.fromkeys(_FORBIDDEN_FILENAME.findall(name)))


def _indexed(name: str, index: int, count: int) -> str:
    return f"{name}[{index + 1}]" if count > 1 else name


def check_rules(
    message: m.MemoMessage,
    *,
    mandatory_allowed: bool = False,
    legal_notification_allowed: bool = False,
) -> list[Finding]:
    """Every business-rule finding for ``message`` (errors and warnings); empty when all rules hold."""
    findings: list[Finding] = []
    header = message.header
    hp = "/Message/MessageHeader"

    if not _is_uuid4(header.message_uuid):
        findings.append(
            Finding(
                RULE_UUID_V4,
                f"messageUUID {header.message_uuid!r} is not a UUID version 4",
                f"{hp}/messageUUID",
            )
        )
    notification = header.notification
    if notification is not None and len(notification) > NOTIFICATION_MAX_LENGTH:
        findings.append(
            Finding(
                RULE_NOTIFICATION_LENGTH,
                f"notification has {len(notification)} characters; at most {NOTIFICATION_MAX_LENGTH} allowed",
                f"{hp}/notification",
            )
        )
    if header.message_type == m.MESSAGE_TYPE_NEMSMS and not (notification or "").strip():
        findings.append(
            Finding(RULE_NOTIFICATION_REQUIRED, "a NEMSMS message needs the SMS text in notification", hp)
        )
    if header.message_type == m.MESSAGE_TYPE_DIGITALPOST and message.body is None:
        findings.append(
            Finding(
                RULE_BODY_REQUIRED,
                "a DIGITALPOST message needs a MessageBody with a MainDocument",
                "/Message",
            )
        )
    for local, text in (("label", header.label), ("notification", notification)):
        if text and _CPR_LIKE.search(text):
            findings.append(
                Finding(
                    RULE_NOTIFICATION_PERSONAL_DATA,
                    f"{local} seems to contain a CPR number; it is shown unprotected (subject/SMS)",
                    f"{hp}/{local}",
                    severity="warning",
                )
            )
    if header.mandatory and not mandatory_allowed:
        findings.append(
            Finding(
                RULE_MANDATORY,
                "mandatory=true but the organisation may not send mandatory post",
                f"{hp}/mandatory",
            )
        )
    if header.legal_notification and not legal_notification_allowed:
        findings.append(
            Finding(
                RULE_LEGAL_NOTIFICATION,
                "legalNotification=true but the organisation may not send legal notifications (forkyndelse)",
                f"{hp}/legalNotification",
            )
        )

    sender, recipient = header.sender, header.recipient
    _check_id(findings, sender.id_type, sender.sender_id, f"{hp}/Sender", "senderID")
    _check_id(findings, recipient.id_type, recipient.recipient_id, f"{hp}/Recipient", "recipientID")
    rep = sender.representative
    if rep is not None and rep.id_type is not None:
        _check_id(
            findings, rep.id_type, rep.representative_id, f"{hp}/Sender/Representative", "representativeID"
        )
    content = header.content_data
    if content is not None:
        cp = f"{hp}/ContentData"
        if content.cpr_data is not None:
            _check_digits(findings, m.ID_TYPE_CPR, content.cpr_data.cpr_number, f"{cp}/CPRdata/cprNumber")
        if content.cvr_data is not None:
            _check_digits(findings, m.ID_TYPE_CVR, content.cvr_data.cvr_number, f"{cp}/CVRdata/cvrNumber")

    if message.body is not None:
        _check_body(findings, message.body)
    return findings


def _check_id(findings: list[Finding], id_type: str, value: str | None, parent: str, local: str) -> None:
    if id_type not in _DIGITS:
        findings.append(
            Finding(RULE_ID_TYPE, f"idType {id_type!r} is not supported; use CPR or CVR", f"{parent}/idType")
        )
        return
    _check_digits(findings, id_type, value, f"{parent}/{local}")


def _check_digits(findings: list[Finding], id_type: str, value: str | None, path: str) -> None:
    if value is None or not _DIGITS[id_type].fullmatch(value):
        findings.append(
            Finding(
                _ID_RULE[id_type],
                f"{id_type} must be exactly {_ID_LENGTH[id_type]} digits, no separators; got {value!r}",
                path,
            )
        )


def _check_body(findings: list[Finding], body: m.MessageBody) -> None:
    bp = "/Message/MessageBody"
    groups: Sequence[tuple[str, Sequence[m.Document]]] = (
        ("MainDocument", (body.main_document,)),
        ("AdditionalDocument", body.additional_documents),
        ("TechnicalDocument", body.technical_documents),
    )
    for element, documents in groups:
        for d_index, document in enumerate(documents):
            dp = f"{bp}/{_indexed(element, d_index, len(documents))}"
            for f_index, file in enumerate(document.files):
                bad = forbidden_filename_characters(file.filename)
                if bad:
                    shown = ", ".join(
                        f"U+{ord(c):04X}" if not c.isprintable() or c.isspace() else c for c in bad
                    )
                    findings.append(
                        Finding(
                            RULE_FILENAME,
                            f"file name {file.filename!r} contains characters NgDP rejects: {shown}",
                            f"{dp}/{_indexed('File', f_index, len(document.files))}/filename",
                        )
                    )
            for a_index, action in enumerate(document.actions):
                entry = action.entry_point
                if entry is not None and not _HTTPS_URL.match(entry.url):
                    findings.append(
                        Finding(
                            RULE_ENTRYPOINT_HTTPS,
                            f"action URL {entry.url!r} must be an absolute https:// URL",
                            f"{dp}/{_indexed('Action', a_index, len(document.actions))}/EntryPoint/url",
                        )
                    )


def _is_uuid4(text: str) -> bool:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return False
    # uuid.UUID also accepts braces, "urn:uuid:" and missing hyphens; MeMo wants the canonical 36 chars.
    return len(text) == 36 and value.version == 4 and value.variant == uuid.RFC_4122
