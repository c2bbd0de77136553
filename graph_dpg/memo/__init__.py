"""MeMo (MeddelelsesModel) 1.1 and 1.2: typed model, build, parse and validation. Pure: no I/O.

Typical use::

    from graph_dpg import memo

    data = memo.build(message)                 # bytes, UTF-8, memo: prefix, XSD order
    memo.ensure_valid(data, mandatory_allowed=org.mandatory_post_allowed)
    incoming = memo.parse(received_bytes)      # raises MemoError / UnsafeXmlError
"""

from __future__ import annotations

import uuid

from graph_dpg.core.errors import Finding, MemoError, MemoValidationError, UnsafeXmlError
from graph_dpg.core.filenames import FORBIDDEN_FILENAME_CHARS
from graph_dpg.memo.codec import build, format_datetime, parse
from graph_dpg.memo.model import (
    ACTION_CODES,
    DEFAULT_VERSION,
    EID,
    ID_TYPE_CPR,
    ID_TYPE_CVR,
    MEMO_VERSIONS,
    MESSAGE_TYPE_DIGITALPOST,
    MESSAGE_TYPE_NEMSMS,
    Action,
    AdditionalContentData,
    AdditionalReplyData,
    Address,
    AddressPoint,
    AttentionData,
    AttentionPerson,
    CaseID,
    ContactInfo,
    ContactPoint,
    ContentData,
    ContentResponsible,
    CPRData,
    CVRData,
    Document,
    DocumentKind,
    Education,
    EMail,
    EntryPoint,
    File,
    FORMData,
    ForwardData,
    GeneratingSystem,
    GlobalLocationNumber,
    KLEData,
    MemoMessage,
    MemoVersion,
    MessageBody,
    MessageHeader,
    MotorVehicle,
    ProductionUnit,
    PropertyNumber,
    RawXml,
    Recipient,
    ReplyData,
    Representative,
    Reservation,
    Sender,
    SENumber,
    SORData,
    Telephone,
    UnstructuredAddress,
)
from graph_dpg.memo.namespaces import MEMO_NS
from graph_dpg.memo.rules import (
    NOTIFICATION_MAX_LENGTH,
    check_rules,
    forbidden_filename_characters,
)
from graph_dpg.memo.validation import ensure_valid, parse_and_validate, validate, validate_schema


def new_message_uuid() -> str:
    """A fresh messageUUID (UUID version 4, lower case, canonical form)."""
    return str(uuid.uuid4())


__all__ = [
    "ACTION_CODES",
    "DEFAULT_VERSION",
    "EID",
    "FORBIDDEN_FILENAME_CHARS",
    "ID_TYPE_CPR",
    "ID_TYPE_CVR",
    "MEMO_NS",
    "MEMO_VERSIONS",
    "MESSAGE_TYPE_DIGITALPOST",
    "MESSAGE_TYPE_NEMSMS",
    "NOTIFICATION_MAX_LENGTH",
    "Action",
    "AdditionalContentData",
    "AdditionalReplyData",
    "Address",
    "AddressPoint",
    "AttentionData",
    "AttentionPerson",
    "CPRData",
    "CVRData",
    "CaseID",
    "ContactInfo",
    "ContactPoint",
    "ContentData",
    "ContentResponsible",
    "Document",
    "DocumentKind",
    "EMail",
    "Education",
    "EntryPoint",
    "FORMData",
    "File",
    "Finding",
    "ForwardData",
    "GeneratingSystem",
    "GlobalLocationNumber",
    "KLEData",
    "MemoError",
    "MemoMessage",
    "MemoValidationError",
    "MemoVersion",
    "MessageBody",
    "MessageHeader",
    "MotorVehicle",
    "ProductionUnit",
    "PropertyNumber",
    "RawXml",
    "Recipient",
    "ReplyData",
    "Representative",
    "Reservation",
    "SENumber",
    "SORData",
    "Sender",
    "Telephone",
    "UnsafeXmlError",
    "UnstructuredAddress",
    "build",
    "check_rules",
    "ensure_valid",
    "forbidden_filename_characters",
    "format_datetime",
    "new_message_uuid",
    "parse",
    "parse_and_validate",
    "validate",
    "validate_schema",
]
