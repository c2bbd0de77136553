"""MeMo XML ⇄ :mod:`graph_dpg.memo.model`: ``build`` and ``parse``.

Wire format written by :func:`build` (docs/facts/memo.md: "Namespaces", "Versions", "Element order")::

    <?xml version="1.0" encoding="UTF-8"?>
    <memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" xmlns:grd=... memoVersion="1.2">
      <memo:MessageHeader> ... </memo:MessageHeader>
      <memo:MessageBody> ... </memo:MessageBody>            (absent for NEMSMS)
    </memo:Message>

* always the ``memo:`` prefix (SF1601 mis-reads a default namespace; ITK's normaliser does the same);
  satellite namespaces with the conventional prefixes ``grd gln udd form kle dmv sor``;
* MeMo 1.1 adds ``memoSchVersion="1.1.0"`` and always writes ``mandatory``/``legalNotification``
  (required there, ``false`` when unset); 1.2 has no ``memoSchVersion`` and omits unset flags;
* children in XSD sequence order (the XSD is all ``xs:sequence``: order is part of validity);
* timestamps in UTC with a literal ``Z`` (``memoDateTimeType`` pattern ``.+Z``); naive datetimes are
  refused rather than guessed;
* no indentation: MeMo content is opaque to people and smaller is faster.

Both directions are driven by one table (the ``_Codec`` definitions below, one per complex element, fields
in XSD order), so order and names cannot drift between parser and builder. The builder concatenates
strings (C-level ``str.join``) instead of building an lxml tree: for a typical message that is several
times faster, and the base64 payloads are spliced in as the ``bytes`` objects the model already holds, so
a 99.5 MB message costs one extra copy (the output). Parsing takes the payloads out of the document first
(:mod:`graph_dpg.memo.payloads`) and reads the rest with lxml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from graph_dpg.core.errors import MemoError
from graph_dpg.memo import model as m
from graph_dpg.memo.namespaces import (
    DMV_NS,
    FORM_NS,
    GLN_NS,
    GRD_NS,
    KLE_NS,
    MEMO_NS,
    PREFIXES,
    SOR_NS,
    UDD_NS,
    XSI_NS,
)
from graph_dpg.memo.payloads import PARSE_SPLIT_MIN_BYTES, Payloads, load
from graph_dpg.memo.xmlsafe import element_path

MEMO_SCH_VERSION_11 = "1.1.0"
MESSAGE_TAG = f"{{{MEMO_NS}}}Message"
_CONTENT_TAG = f"{{{MEMO_NS}}}content"

_NS_DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for uri, prefix in PREFIXES.items())

# Leaf kinds; anything else in _Field.kind is a nested _Codec.
_TEXT = "text"
_BOOL = "bool"
_DATETIME = "datetime"
_DATE = "date"
_BASE64 = "base64"
_CODE_NESTED, _CODE_TEXT, _CODE_BASE64, _CODE_DATETIME, _CODE_BOOL, _CODE_DATE = range(6)
_CODES = {
    _TEXT: _CODE_TEXT,
    _BASE64: _CODE_BASE64,
    _DATETIME: _CODE_DATETIME,
    _BOOL: _CODE_BOOL,
    _DATE: _CODE_DATE,
}


@dataclass(eq=False)
class _Field:
    ns: str
    local: str
    attr: str
    kind: Any = _TEXT  # str leaf kind or _Codec
    required: bool = False
    many: bool = False
    since_12: bool = False  # element exists in MeMo 1.2 only
    required_11: bool = False  # required (default false) in MeMo 1.1, optional in 1.2
    clark: str = field(init=False)
    open_tag: str = field(init=False)
    close_tag: str = field(init=False)
    code: int = field(init=False)

    def __post_init__(self) -> None:
        self.clark = f"{{{self.ns}}}{self.local}"
        self.code = _CODES.get(self.kind, _CODE_NESTED) if isinstance(self.kind, str) else _CODE_NESTED
        qname = f"{PREFIXES[self.ns]}:{self.local}"
        self.open_tag = f"<{qname}>"
        self.close_tag = f"</{qname}>"


class _Codec:
    def __init__(self, cls: type, fields: list[_Field], fixed: dict[str, Any] | None = None) -> None:
        self.cls = cls
        self.fields = fields
        self.fixed = fixed or {}
        self.by_clark = {f.clark: f for f in fields}
        self.required = [f for f in fields if f.required]
        self.many = [f for f in fields if f.many]


def _f(local: str, attr: str, kind: Any = _TEXT, ns: str = MEMO_NS, **kw: Any) -> _Field:
    return _Field(ns, local, attr, kind, **kw)


def _req(local: str, attr: str, kind: Any = _TEXT, ns: str = MEMO_NS, **kw: Any) -> _Field:
    return _Field(ns, local, attr, kind, required=True, **kw)


def _many(local: str, attr: str, kind: Any, ns: str = MEMO_NS, **kw: Any) -> _Field:
    return _Field(ns, local, attr, kind, many=True, **kw)


# --- the table: one codec per complex element, fields in XSD sequence order -----------------------------

_CONTACT_INFO = _Codec(m.ContactInfo, [_req("label", "label"), _req("value", "value")])
_CONTACT_POINT = _Codec(
    m.ContactPoint,
    [
        _f("contactGroup", "contact_group"),
        _req("contactPointID", "contact_point_id"),
        _f("label", "label"),
        _many("ContactInfo", "contact_info", _CONTACT_INFO),
    ],
)
_ATTENTION_PERSON = _Codec(m.AttentionPerson, [_f("personID", "person_id"), _f("label", "label")])
_PRODUCTION_UNIT = _Codec(
    m.ProductionUnit,
    [
        _req("productionUnitNumber", "production_unit_number", ns=GRD_NS),
        _f("productionUnitName", "production_unit_name", ns=GRD_NS),
    ],
)
_GLN = _Codec(
    m.GlobalLocationNumber,
    [
        _req("globalLocationNumber", "global_location_number", ns=GLN_NS),
        _f("location", "location", ns=GLN_NS),
    ],
)
_EMAIL = _Codec(m.EMail, [_req("emailAddress", "email_address"), _f("relatedAgent", "related_agent")])
_SE_NUMBER = _Codec(
    m.SENumber, [_req("seNumber", "se_number", ns=GRD_NS), _f("companyName", "company_name", ns=GRD_NS)]
)
_TELEPHONE = _Codec(
    m.Telephone, [_req("telephoneNumber", "telephone_number"), _f("relatedAgent", "related_agent")]
)
_EID = _Codec(m.EID, [_req("eID", "eid", ns=GRD_NS), _f("label", "label", ns=GRD_NS)])
_CONTENT_RESPONSIBLE = _Codec(
    m.ContentResponsible, [_f("contentResponsibleID", "content_responsible_id"), _f("label", "label")]
)
_GENERATING_SYSTEM = _Codec(
    m.GeneratingSystem, [_req("generatingSystemID", "generating_system_id"), _f("label", "label")]
)
_SOR = _Codec(
    m.SORData, [_req("sorIdentifier", "sor_identifier", ns=SOR_NS), _f("entryName", "entry_name", ns=SOR_NS)]
)
_ADDRESS_POINT = _Codec(
    m.AddressPoint,
    [
        _f("geographicEastingMeasure", "geographic_easting_measure", ns=GRD_NS),
        _f("geographicNorthingMeasure", "geographic_northing_measure", ns=GRD_NS),
        _f("geographicHeightMeasure", "geographic_height_measure", ns=GRD_NS),
    ],
)
_ADDRESS = _Codec(
    m.Address,
    [
        _f("id", "id", ns=GRD_NS),
        _f("addressLabel", "address_label", ns=GRD_NS),
        _f("houseNumber", "house_number", ns=GRD_NS),
        _f("door", "door", ns=GRD_NS),
        _f("floor", "floor", ns=GRD_NS),
        _f("co", "co", ns=GRD_NS),
        _f("zipCode", "zip_code", ns=GRD_NS),
        _f("city", "city", ns=GRD_NS),
        _f("country", "country", ns=GRD_NS),
        _f("AddressPoint", "address_point", _ADDRESS_POINT, ns=GRD_NS),
    ],
)
_UNSTRUCTURED_ADDRESS = _Codec(m.UnstructuredAddress, [_req("unstructured", "unstructured", ns=GRD_NS)])
_ATTENTION_DATA = _Codec(
    m.AttentionData,
    [
        _f("AttentionPerson", "attention_person", _ATTENTION_PERSON),
        _f("ProductionUnit", "production_unit", _PRODUCTION_UNIT, ns=GRD_NS),
        _f("GlobalLocationNumber", "global_location_number", _GLN, ns=GLN_NS),
        _f("EMail", "email", _EMAIL),
        _f("SEnumber", "se_number", _SE_NUMBER, ns=GRD_NS),
        _f("Telephone", "telephone", _TELEPHONE),
        _f("EID", "eid", _EID, ns=GRD_NS),
        _f("ContentResponsible", "content_responsible", _CONTENT_RESPONSIBLE),
        _f("GeneratingSystem", "generating_system", _GENERATING_SYSTEM),
        _f("SORdata", "sor_data", _SOR, ns=SOR_NS),
        _f("Address", "address", _ADDRESS, ns=GRD_NS),
        _f("UnstructuredAddress", "unstructured_address", _UNSTRUCTURED_ADDRESS, ns=GRD_NS),
    ],
)
_REPRESENTATIVE = _Codec(
    m.Representative,
    [
        _f("representativeID", "representative_id"),
        _f("idType", "id_type"),
        _f("idTypeLabel", "id_type_label"),
        _f("label", "label"),
    ],
)
_SENDER = _Codec(
    m.Sender,
    [
        _req("senderID", "sender_id"),
        _req("idType", "id_type"),
        _f("idTypeLabel", "id_type_label"),
        _req("label", "label"),
        _f("AttentionData", "attention_data", _ATTENTION_DATA),
        _f("ContactPoint", "contact_point", _CONTACT_POINT),
        _f("Representative", "representative", _REPRESENTATIVE, since_12=True),
    ],
)
_RECIPIENT = _Codec(
    m.Recipient,
    [
        _req("recipientID", "recipient_id"),
        _req("idType", "id_type"),
        _f("idTypeLabel", "id_type_label"),
        _f("label", "label"),
        _f("AttentionData", "attention_data", _ATTENTION_DATA),
        _f("ContactPoint", "contact_point", _CONTACT_POINT),
    ],
)
_CPR_DATA = _Codec(m.CPRData, [_req("cprNumber", "cpr_number", ns=GRD_NS), _f("name", "name", ns=GRD_NS)])
_CVR_DATA = _Codec(
    m.CVRData, [_req("cvrNumber", "cvr_number", ns=GRD_NS), _f("companyName", "company_name", ns=GRD_NS)]
)
_MOTOR_VEHICLE = _Codec(
    m.MotorVehicle,
    [_req("licenseNumber", "license_number", ns=DMV_NS), _f("chassisNumber", "chassis_number", ns=DMV_NS)],
)
_PROPERTY_NUMBER = _Codec(m.PropertyNumber, [_req("propertyNumber", "property_number", ns=GRD_NS)])
_CASE_ID = _Codec(m.CaseID, [_req("caseID", "case_id"), _req("caseSystem", "case_system")])
_KLE = _Codec(
    m.KLEData,
    [
        _req("subjectKey", "subject_key", ns=KLE_NS),
        _req("version", "version", ns=KLE_NS),
        _f("activityFacet", "activity_facet", ns=KLE_NS),
        _req("label", "label", ns=KLE_NS),
    ],
)
_FORM = _Codec(
    m.FORMData,
    [
        _req("taskKey", "task_key", ns=FORM_NS),
        _req("version", "version", ns=FORM_NS),
        _f("activityFacet", "activity_facet", ns=FORM_NS),
        _req("label", "label", ns=FORM_NS),
    ],
)
_EDUCATION = _Codec(
    m.Education,
    [_req("educationCode", "education_code", ns=UDD_NS), _f("educationName", "education_name", ns=UDD_NS)],
)
_ADDITIONAL_CONTENT_DATA = _Codec(
    m.AdditionalContentData,
    [
        _f("contentDataType", "content_data_type"),
        _req("contentDataName", "content_data_name"),
        _req("contentDataValue", "content_data_value"),
    ],
)
_CONTENT_DATA = _Codec(
    m.ContentData,
    [
        _f("CPRdata", "cpr_data", _CPR_DATA, ns=GRD_NS),
        _f("CVRdata", "cvr_data", _CVR_DATA, ns=GRD_NS),
        _f("MotorVehicle", "motor_vehicle", _MOTOR_VEHICLE, ns=DMV_NS),
        _f("PropertyNumber", "property_number", _PROPERTY_NUMBER, ns=GRD_NS),
        _f("CaseID", "case_id", _CASE_ID),
        _f("KLEdata", "kle_data", _KLE, ns=KLE_NS),
        _f("FORMdata", "form_data", _FORM, ns=FORM_NS),
        _f("ProductionUnit", "production_unit", _PRODUCTION_UNIT, ns=GRD_NS),
        _f("Education", "education", _EDUCATION, ns=UDD_NS),
        _f("Address", "address", _ADDRESS, ns=GRD_NS),
        _f("UnstructuredAddress", "unstructured_address", _UNSTRUCTURED_ADDRESS, ns=GRD_NS),
        _many("AdditionalContentData", "additional_content_data", _ADDITIONAL_CONTENT_DATA),
    ],
)
_FORWARD_DATA = _Codec(
    m.ForwardData,
    [
        _req("messageUUID", "message_uuid"),
        _req("originalMessageDateTime", "original_message_datetime", _DATETIME),
        _req("originalSender", "original_sender"),
        _f("originalContentResponsible", "original_content_responsible"),
        _f("originalRepresentative", "original_representative", since_12=True),
        _f("contactPointID", "contact_point_id"),
        _f("comment", "comment"),
    ],
)
_ADDITIONAL_REPLY_DATA = _Codec(m.AdditionalReplyData, [_req("label", "label"), _req("value", "value")])
_REPLY_DATA = _Codec(
    m.ReplyData,
    [
        _f("messageID", "message_id"),
        _req("messageUUID", "message_uuid"),
        _f("replyUUID", "reply_uuid"),
        _f("senderID", "sender_id"),
        _f("recipientID", "recipient_id"),
        _f("caseID", "case_id"),
        _f("contactPointID", "contact_point_id"),
        _f("generatingSystemID", "generating_system_id"),
        _f("comment", "comment"),
        _many("AdditionalReplyData", "additional_reply_data", _ADDITIONAL_REPLY_DATA),
    ],
)
_HEADER = _Codec(
    m.MessageHeader,
    [
        _req("messageType", "message_type"),
        _req("messageUUID", "message_uuid"),
        _f("messageID", "message_id"),
        _f("messageCode", "message_code"),
        _req("label", "label"),
        _f("notification", "notification"),
        _f("additionalNotification", "additional_notification"),
        _f("reply", "reply", _BOOL),
        _f("replyByDateTime", "reply_by_datetime", _DATETIME),
        _f("doNotDeliverUntilDate", "do_not_deliver_until_date", _DATE),
        _f("mandatory", "mandatory", _BOOL, required_11=True),
        _f("legalNotification", "legal_notification", _BOOL, required_11=True),
        _f("postType", "post_type"),
        _req("Sender", "sender", _SENDER),
        _req("Recipient", "recipient", _RECIPIENT),
        _f("ContentData", "content_data", _CONTENT_DATA),
        _f("ForwardData", "forward_data", _FORWARD_DATA),
        _many("ReplyData", "reply_data", _REPLY_DATA),
    ],
)
_FILE = _Codec(
    m.File,
    [
        _req("encodingFormat", "encoding_format"),
        _req("filename", "filename"),
        _req("language", "language"),
        _req("content", "content_base64", _BASE64),
    ],
)
_ENTRY_POINT = _Codec(m.EntryPoint, [_req("url", "url")])
_RESERVATION = _Codec(
    m.Reservation,
    [
        _req("description", "description"),
        _req("reservationUUID", "reservation_uuid"),
        _req("abstract", "abstract"),
        _req("location", "location"),
        _req("startDateTime", "start_datetime", _DATETIME),
        _req("endDateTime", "end_datetime", _DATETIME),
        _f("organizerMail", "organizer_mail"),
        _f("organizerName", "organizer_name"),
    ],
)
_ACTION = _Codec(
    m.Action,
    [
        _req("label", "label"),
        _req("actionCode", "action_code"),
        _f("startDateTime", "start_datetime", _DATETIME),
        _f("endDateTime", "end_datetime", _DATETIME),
        _f("Reservation", "reservation", _RESERVATION),
        _f("EntryPoint", "entry_point", _ENTRY_POINT),
    ],
)


def _document_codec(kind: m.DocumentKind, id_local: str, with_actions: bool) -> _Codec:
    fields = [
        _f(id_local, "document_id"),
        _f("label", "label"),
        _Field(MEMO_NS, "File", "files", _FILE, required=True, many=True),
    ]
    if with_actions:
        fields.append(_many("Action", "actions", _ACTION))
    return _Codec(m.Document, fields, fixed={"kind": kind})


_MAIN_DOCUMENT = _document_codec("main", "mainDocumentID", True)
_ADDITIONAL_DOCUMENT = _document_codec("additional", "additionalDocumentID", True)
_TECHNICAL_DOCUMENT = _document_codec("technical", "technicalDocumentID", False)
_BODY = _Codec(
    m.MessageBody,
    [
        _req("createdDateTime", "created_datetime", _DATETIME),
        _req("MainDocument", "main_document", _MAIN_DOCUMENT),
        _many("AdditionalDocument", "additional_documents", _ADDITIONAL_DOCUMENT),
        _many("TechnicalDocument", "technical_documents", _TECHNICAL_DOCUMENT),
    ],
)
_MESSAGE_CHILDREN = _Codec(
    m.MemoMessage, [_req("MessageHeader", "header", _HEADER), _f("MessageBody", "body", _BODY)]
)

# --- values -----------------------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all (not even as character references).
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_WHITESPACE = " \t\r\n"
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_XS_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _escape(text: str, where: str) -> str:
    if _INVALID_XML_CHARS.search(text):
        raise MemoError(f"{where}: contains a character XML cannot carry: {text!r}")
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        # A literal CR would be normalised to LF by every XML parser; the reference keeps it.
        text = text.replace("\r", "&#13;")
    return text


def format_datetime(value: datetime) -> str:
    """``memoDateTimeType``: UTC, seconds, optional fraction without trailing zeros, literal ``Z``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise MemoError(f"timestamp {value.isoformat()} has no time zone; MeMo needs UTC")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise MemoError(f"timestamp {value.isoformat()} is outside the years 1-9999 in UTC") from None
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """A ``dateTime`` in UTC; :class:`MemoError` for anything else, also for a time that is not within the
    years 1-9999 in UTC (``9999-12-31T23:59:59-14:00`` overflowed ``astimezone`` and stopped every inbound
    run before any memo was delivered)."""
    value = text.strip(_XML_WHITESPACE)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MemoError(f"invalid dateTime {text!r}") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MemoError(f"dateTime {text!r} has no time zone (MeMo requires UTC with Z)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise MemoError(f"dateTime {text!r} is outside the years 1-9999 in UTC") from None


def _parse_date(text: str) -> date:
    value = text.strip(_XML_WHITESPACE)
    # xs:date may carry a zone ("2024-05-03Z", "2024-05-03+01:00"); a calendar day has no use for it.
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise MemoError(f"invalid date {text!r}") from exc


def _parse_bool(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip(_XML_WHITESPACE)]
    except KeyError:
        raise MemoError(f"invalid boolean {text!r}") from None


# --- parse ------------------------------------------------------------------------------------------------


def parse(data: bytes) -> m.MemoMessage:
    """Parse MeMo 1.1 or 1.2 XML (version from ``memoVersion``). No schema validation: see ``validate`` and
    ``parse_and_validate``.

    Raises :class:`UnsafeXmlError` for DTDs/entities, :class:`MemoError` for anything that is not a
    well-formed MeMo message with its required elements.
    """
    root, payloads = load(data, split_from=PARSE_SPLIT_MIN_BYTES)
    return message_from_element(root, payloads)


def detect_version(root: Any) -> m.MemoVersion:
    if root.tag != MESSAGE_TAG:
        raise MemoError(f"not a MeMo message: root element is {root.tag!r}, expected {MESSAGE_TAG!r}")
    raw = root.get("memoVersion")
    if raw is None:
        raise MemoError("Message has no memoVersion attribute")
    text = raw.strip(_XML_WHITESPACE)
    # xs:decimal is ASCII digits with an optional sign and point. Decimal() alone also reads full-width or
    # Arabic-Indic digits ("１.２" became 1.2) and "sNaN", whose comparison below raised InvalidOperation.
    if not _XS_DECIMAL.fullmatch(text):
        raise MemoError(f"memoVersion {raw!r} is not a decimal")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MemoError(f"memoVersion {raw!r} is not a decimal") from None
    for version in m.MEMO_VERSIONS:
        if number == Decimal(version):
            return version
    raise MemoError(f"unsupported memoVersion {raw!r} (supported: {', '.join(m.MEMO_VERSIONS)})")


def message_from_element(root: Any, payloads: Payloads) -> m.MemoMessage:
    """Model of an already parsed ``memo:Message`` whose payloads were taken out (``payloads.load``)."""
    version = detect_version(root)
    extra_attributes = []
    for name, value in root.attrib.items():
        if name == "memoVersion":
            continue
        if name == "memoSchVersion" and version == "1.1" and value == MEMO_SCH_VERSION_11:
            continue
        extra_attributes.append((name, value))
    context = _ReadContext(version, payloads)
    values = _read_children(_MESSAGE_CHILDREN, root, context)
    return m.MemoMessage(**values, version=version, extra_attributes=tuple(extra_attributes))


class _ReadContext:
    __slots__ = ("is_12", "payloads")

    def __init__(self, version: str, payloads: Payloads) -> None:
        self.is_12 = version == "1.2"
        self.payloads = payloads

    def raw(self, element: Any) -> m.RawXml:
        if self.payloads:
            for content in element.iter(_CONTENT_TAG):
                payload = self.payloads.get(content)
                if payload is not None:
                    content.text = payload.decode("utf-8")
        return m.RawXml(etree.tostring(element, with_tail=False))


def _read(codec: _Codec, element: Any, context: _ReadContext) -> Any:
    values = _read_children(codec, element, context)
    if codec.fixed:
        values.update(codec.fixed)
    return codec.cls(**values)


def _read_children(codec: _Codec, element: Any, context: _ReadContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    extra: list[m.RawXml] = []
    by_clark = codec.by_clark
    is_12 = context.is_12
    for child in element:
        spec = by_clark.get(child.tag)
        if spec is None or (spec.since_12 and not is_12) or (not spec.many and spec.attr in values):
            if isinstance(child.tag, str):  # comments and processing instructions are not content
                extra.append(context.raw(child))
            continue
        code = spec.code
        if code == _CODE_NESTED:
            value = _read(spec.kind, child, context)
        elif code == _CODE_BASE64:
            value = context.payloads.get(child)
            if value is None:
                extra.append(context.raw(child))
                continue
        elif len(child):
            # A leaf with element children is outside the schema: keep it whole rather than lose markup.
            extra.append(context.raw(child))
            continue
        elif code == _CODE_TEXT:
            value = child.text or ""
        elif code == _CODE_DATETIME:
            value = parse_datetime(child.text or "")
        elif code == _CODE_BOOL:
            value = _parse_bool(child.text or "")
        else:
            value = _parse_date(child.text or "")
        if spec.many:
            if spec.attr in values:
                values[spec.attr].append(value)
            else:
                values[spec.attr] = [value]
        else:
            values[spec.attr] = value
    for spec in codec.many:
        if spec.attr in values:
            values[spec.attr] = tuple(values[spec.attr])
    for spec in codec.required:
        if spec.attr not in values:
            raise MemoError(f"{element_path(element)}: required element {spec.local} is missing")
    if extra:
        values["extra"] = tuple(extra)
    return values


# --- build ------------------------------------------------------------------------------------------------


class _Writer:
    """Collects str pieces; base64 payloads go in as the model's bytes objects without re-encoding."""

    __slots__ = ("chunks", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chunks: list[bytes] = []

    def splice(self, payload: bytes) -> None:
        self.chunks.append("".join(self.parts).encode("utf-8", "strict"))
        self.parts.clear()
        self.chunks.append(payload)

    def getvalue(self) -> bytes:
        self.chunks.append("".join(self.parts).encode("utf-8", "strict"))
        return b"".join(self.chunks)


def build(message: m.MemoMessage, version: str | None = None) -> bytes:
    """Serialise ``message`` as MeMo ``version`` (default: ``message.version``) in UTF-8.

    Raises :class:`MemoError` when the model cannot be written as that version (e.g. a ``Representative``
    in MeMo 1.1, a naive datetime, a control character XML cannot carry). It does not validate: call
    ``validate``/``ensure_valid`` on the result before sending.
    """
    target = version if version is not None else message.version
    if target not in m.MEMO_VERSIONS:
        raise MemoError(f"unsupported MeMo version {target!r} (supported: {', '.join(m.MEMO_VERSIONS)})")
    w = _Writer()
    parts = w.parts
    parts.append(f'<?xml version="1.0" encoding="UTF-8"?>\n<memo:Message {_NS_DECLARATIONS}')
    parts.append(f' memoVersion="{target}"')
    attributes = dict(message.extra_attributes)
    if target == "1.1":
        sch = attributes.pop("memoSchVersion", MEMO_SCH_VERSION_11)
        parts.append(f' memoSchVersion="{_escape_attribute(sch)}"')
    parts.append(_extra_attributes(attributes))
    parts.append(">")
    try:
        _write_fields(w, _MESSAGE_CHILDREN, message, target, "/Message")
    except (AttributeError, TypeError) as exc:
        raise MemoError(f"cannot build MeMo: malformed model: {exc}") from exc
    for raw in message.extra:
        w.splice(raw.xml)
    parts.append("</memo:Message>")
    try:
        return w.getvalue()
    except UnicodeEncodeError as exc:
        raise MemoError(f"cannot build MeMo: text is not encodable as UTF-8: {exc}") from exc


def _escape_attribute(text: str) -> str:
    return (
        _escape(text, "Message attribute").replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    )


def _extra_attributes(attributes: dict[str, str]) -> str:
    out: list[str] = []
    declared: dict[str, str] = {}
    for name, value in attributes.items():
        if name.startswith("{"):
            uri, local = name[1:].split("}", 1)
            prefix = declared.get(uri) or PREFIXES.get(uri)
            if prefix is None:
                prefix = "xsi" if uri == XSI_NS else f"ns{len(declared)}"
                declared[uri] = prefix
                out.append(f' xmlns:{prefix}="{_escape_attribute(uri)}"')
            out.append(f' {prefix}:{local}="{_escape_attribute(value)}"')
        else:
            out.append(f' {name}="{_escape_attribute(value)}"')
    return "".join(out)


def _write(w: _Writer, codec: _Codec, spec: _Field, obj: Any, version: str, path: str) -> None:
    if codec is _TECHNICAL_DOCUMENT and obj.actions:
        raise MemoError(f"{path}/{spec.local}: a TechnicalDocument cannot carry actions")
    w.parts.append(spec.open_tag)
    _write_fields(w, codec, obj, version, path)
    for raw in obj.extra:
        w.splice(raw.xml)
    w.parts.append(spec.close_tag)


def _write_fields(w: _Writer, codec: _Codec, obj: Any, version: str, path: str) -> None:
    parts = w.parts
    for spec in codec.fields:
        value = getattr(obj, spec.attr)
        if value is None:
            if spec.required:
                raise MemoError(f"{path}/{spec.local} is required")
            if spec.required_11 and version == "1.1":
                parts.append(f"{spec.open_tag}false{spec.close_tag}")
            continue
        if spec.since_12 and version != "1.2":
            raise MemoError(f"{path}/{spec.local} exists only in MeMo 1.2; cannot build MeMo {version}")
        kind = spec.kind
        if isinstance(kind, _Codec):
            if spec.many:
                if spec.required and not value:
                    raise MemoError(f"{path}/{spec.local}: at least one is required")
                for item in value:
                    _write(w, kind, spec, item, version, f"{path}/{spec.local}")
            else:
                _write(w, kind, spec, value, version, f"{path}/{spec.local}")
        elif kind is _TEXT:
            if type(value) is not str:
                raise MemoError(f"{path}/{spec.local}: expected text, got {type(value).__name__}")
            parts.append(spec.open_tag)
            parts.append(_escape(value, f"{path}/{spec.local}"))
            parts.append(spec.close_tag)
        elif kind is _BASE64:
            parts.append(spec.open_tag)
            w.splice(value)
            parts.append(spec.close_tag)
        elif kind is _DATETIME:
            if not isinstance(value, datetime):
                raise MemoError(f"{path}/{spec.local}: expected datetime, got {type(value).__name__}")
            parts.append(f"{spec.open_tag}{format_datetime(value)}{spec.close_tag}")
        elif kind is _BOOL:
            if type(value) is not bool:
                raise MemoError(f"{path}/{spec.local}: expected bool, got {type(value).__name__}")
            parts.append(f"{spec.open_tag}{'true' if value else 'false'}{spec.close_tag}")
        else:
            if not isinstance(value, date) or isinstance(value, datetime):
                raise MemoError(f"{path}/{spec.local}: expected date, got {type(value).__name__}")
            parts.append(f"{spec.open_tag}{value.isoformat()}{spec.close_tag}")
