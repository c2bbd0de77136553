"""Typed model of a MeMo message (MeMo 1.1 and 1.2, ``https://DigitalPost.dk/MeMo-1``).

One frozen class per complex element of the XSD (``graph_dpg/memo/xsd``), fields in XSD order, Python
names in snake_case. Leaf values are kept as text except where the XSD type has a meaning the gateway
acts on: ``xs:boolean`` → ``bool``, ``memoDateTimeType`` → timezone-aware ``datetime`` (always written
back in UTC with ``Z``), ``xs:date`` → ``date``. Identifiers such as GLN or P-numbers stay text: they are
names, not quantities, and text keeps leading zeros.

Optional elements are ``None`` (or ``()`` when repeatable). ``mandatory``/``legal_notification``/``reply``
are ``bool | None``: ``None`` means "absent" (MeMo 1.2) and is written as ``false`` for MeMo 1.1, where the
first two are required.

Nothing is dropped on parse: a child element that the model does not know at that place (an element
outside the schema, a second occurrence of a single element, a 1.2-only element in a 1.1 message) is kept
as :class:`RawXml` in the ``extra`` tuple of its parent and written back, after the modelled children, on
build. Unknown attributes of ``Message`` are kept in ``MemoMessage.extra_attributes``. Comments,
processing instructions and namespace prefixes are not content and are not kept; nor are attributes on
inner elements (the XSD allows none, so such a document fails validation anyway).

``File`` keeps its payload as base64 text (``content_base64``) and decodes on demand (``content``): a
99.5 MB message then needs no second, decoded copy while it is parsed, validated or built.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from graph_dpg.core.errors import MemoError

MemoVersion = Literal["1.1", "1.2"]
DocumentKind = Literal["main", "additional", "technical"]

MEMO_VERSIONS: tuple[MemoVersion, ...] = ("1.1", "1.2")
DEFAULT_VERSION: MemoVersion = "1.2"

MESSAGE_TYPE_DIGITALPOST = "DIGITALPOST"
MESSAGE_TYPE_NEMSMS = "NEMSMS"

ID_TYPE_CPR = "CPR"
ID_TYPE_CVR = "CVR"

# The action codes of "Vejledning til Actions og frister i MeMo" (docs/facts/memo.md, "Actions").
ACTION_CODES: frozenset[str] = frozenset(
    {
        "AFTALE",
        "BEKRAEFT",
        "BETALING",
        "FORBEREDELSE",
        "INFORMATION",
        "SELVBETJENING",
        "TILMELDING",
        "UNDERSKRIV",
    }
)


@dataclass(frozen=True, slots=True)
class RawXml:
    """An element the model does not know at its place, serialised verbatim (with its namespaces)."""

    xml: bytes


Extra = tuple[RawXml, ...]


# --- contact and attention data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactInfo:
    label: str
    value: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class ContactPoint:
    contact_point_id: str
    contact_group: str | None = None
    label: str | None = None
    contact_info: tuple[ContactInfo, ...] = ()  # XSD: at most 2
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class AttentionPerson:
    person_id: str | None = None
    label: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class ProductionUnit:
    """``grd:ProductionUnit`` (P-number, up to 10 digits)."""

    production_unit_number: str
    production_unit_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class GlobalLocationNumber:
    """``gln:GlobalLocationNumber`` (GLN, up to 13 digits)."""

    global_location_number: str
    location: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class EMail:
    email_address: str
    related_agent: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class SENumber:
    """``grd:SEnumber``."""

    se_number: str
    company_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Telephone:
    telephone_number: str
    related_agent: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class EID:
    """``grd:EID``."""

    eid: str
    label: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class ContentResponsible:
    content_responsible_id: str | None = None
    label: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class GeneratingSystem:
    generating_system_id: str
    label: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class SORData:
    """``sor:SORdata``."""

    sor_identifier: str
    entry_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class AddressPoint:
    """``grd:AddressPoint``."""

    geographic_easting_measure: str | None = None
    geographic_northing_measure: str | None = None
    geographic_height_measure: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Address:
    """``grd:Address`` (all parts optional)."""

    id: str | None = None
    address_label: str | None = None
    house_number: str | None = None
    door: str | None = None
    floor: str | None = None
    co: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country: str | None = None
    address_point: AddressPoint | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class UnstructuredAddress:
    """``grd:UnstructuredAddress``."""

    unstructured: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class AttentionData:
    attention_person: AttentionPerson | None = None
    production_unit: ProductionUnit | None = None
    global_location_number: GlobalLocationNumber | None = None
    email: EMail | None = None
    se_number: SENumber | None = None
    telephone: Telephone | None = None
    eid: EID | None = None
    content_responsible: ContentResponsible | None = None
    generating_system: GeneratingSystem | None = None
    sor_data: SORData | None = None
    address: Address | None = None
    unstructured_address: UnstructuredAddress | None = None
    extra: Extra = ()


# --- parties -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Representative:
    """MeMo 1.2 only: someone acting on behalf of the sender."""

    representative_id: str | None = None
    id_type: str | None = None
    id_type_label: str | None = None
    label: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Sender:
    sender_id: str
    id_type: str
    label: str
    id_type_label: str | None = None
    attention_data: AttentionData | None = None
    contact_point: ContactPoint | None = None
    representative: Representative | None = None  # MeMo 1.2 only
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Recipient:
    recipient_id: str
    id_type: str
    id_type_label: str | None = None
    label: str | None = None
    attention_data: AttentionData | None = None
    contact_point: ContactPoint | None = None
    extra: Extra = ()


# --- content data ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CPRData:
    """``grd:CPRdata``: the person the message is about."""

    cpr_number: str
    name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class CVRData:
    """``grd:CVRdata``: the company the message is about."""

    cvr_number: str
    company_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class MotorVehicle:
    """``dmv:MotorVehicle``."""

    license_number: str
    chassis_number: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class PropertyNumber:
    """``grd:PropertyNumber``."""

    property_number: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class CaseID:
    case_id: str
    case_system: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class KLEData:
    """``kle:KLEdata``."""

    subject_key: str
    version: str
    label: str
    activity_facet: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class FORMData:
    """``form:FORMdata``."""

    task_key: str
    version: str
    label: str
    activity_facet: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Education:
    """``udd:Education``."""

    education_code: str
    education_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class AdditionalContentData:
    content_data_name: str
    content_data_value: str
    content_data_type: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class ContentData:
    cpr_data: CPRData | None = None
    cvr_data: CVRData | None = None
    motor_vehicle: MotorVehicle | None = None
    property_number: PropertyNumber | None = None
    case_id: CaseID | None = None
    kle_data: KLEData | None = None
    form_data: FORMData | None = None
    production_unit: ProductionUnit | None = None
    education: Education | None = None
    address: Address | None = None
    unstructured_address: UnstructuredAddress | None = None
    additional_content_data: tuple[AdditionalContentData, ...] = ()  # XSD: at most 10
    extra: Extra = ()


# --- forward and reply -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardData:
    message_uuid: str
    original_message_datetime: datetime
    original_sender: str
    original_content_responsible: str | None = None
    original_representative: str | None = None  # MeMo 1.2 only
    contact_point_id: str | None = None
    comment: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class AdditionalReplyData:
    label: str
    value: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class ReplyData:
    message_uuid: str
    message_id: str | None = None
    reply_uuid: str | None = None
    sender_id: str | None = None
    recipient_id: str | None = None
    case_id: str | None = None
    contact_point_id: str | None = None
    generating_system_id: str | None = None
    comment: str | None = None
    additional_reply_data: tuple[AdditionalReplyData, ...] = ()  # XSD: at most 4
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class MessageHeader:
    message_type: str  # MESSAGE_TYPE_DIGITALPOST | MESSAGE_TYPE_NEMSMS
    message_uuid: str
    label: str
    sender: Sender
    recipient: Recipient
    message_id: str | None = None
    message_code: str | None = None
    notification: str | None = None
    additional_notification: str | None = None
    reply: bool | None = None
    reply_by_datetime: datetime | None = None
    do_not_deliver_until_date: date | None = None
    mandatory: bool | None = None
    legal_notification: bool | None = None
    post_type: str | None = None
    content_data: ContentData | None = None
    forward_data: ForwardData | None = None
    reply_data: tuple[ReplyData, ...] = ()
    extra: Extra = ()


# --- body --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class File:
    """One rendering of a document. Build with ``content=`` (raw bytes) or ``content_base64=``.

    ``content_base64`` is the base64 text exactly as given or received (ASCII bytes; it may contain the
    white space ``xs:base64Binary`` allows, e.g. MIME line breaks — normalising it would cost a scan of
    every payload on every parse); ``content`` decodes it on each access (callers that need the bytes more
    than once keep the result). ``repr`` never shows the payload.
    """

    encoding_format: str
    filename: str
    language: str
    content_base64: bytes = field(repr=False)
    extra: Extra = ()

    def __init__(
        self,
        encoding_format: str,
        filename: str,
        language: str,
        content: bytes | None = None,
        *,
        content_base64: bytes | str | None = None,
        extra: Extra = (),
    ) -> None:
        if (content is None) == (content_base64 is None):
            raise MemoError("File needs exactly one of content= or content_base64=")
        if content is not None:
            encoded = base64.b64encode(content)
        elif isinstance(content_base64, str):
            try:
                encoded = content_base64.encode("ascii")
            except UnicodeEncodeError as exc:
                raise MemoError(f"File {filename!r}: base64 content is not ASCII") from exc
        else:
            assert content_base64 is not None
            encoded = bytes(content_base64)
        object.__setattr__(self, "encoding_format", encoding_format)
        object.__setattr__(self, "filename", filename)
        object.__setattr__(self, "language", language)
        object.__setattr__(self, "content_base64", encoded)
        object.__setattr__(self, "extra", extra)

    @property
    def content(self) -> bytes:
        data = self.content_base64
        if _has_whitespace(data):
            data = data.translate(None, _WHITESPACE)
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise MemoError(f"File {self.filename!r}: content is not valid base64: {exc}") from exc

    @property
    def size(self) -> int:
        """Decoded size in bytes, computed from the base64 length without decoding."""
        data = self.content_base64
        if _has_whitespace(data):
            data = data.translate(None, _WHITESPACE)
        padding = data.count(b"=", max(0, len(data) - 2))
        return len(data) * 3 // 4 - padding


_WHITESPACE = b" \t\r\n"


def _has_whitespace(data: bytes) -> bool:
    # Four memchr scans beat one regex scan by far on a 100 MB payload.
    return b"\n" in data or b" " in data or b"\r" in data or b"\t" in data


@dataclass(frozen=True, slots=True)
class EntryPoint:
    url: str
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Reservation:
    description: str
    reservation_uuid: str
    abstract: str
    location: str
    start_datetime: datetime
    end_datetime: datetime
    organizer_mail: str | None = None
    organizer_name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Action:
    """A call to action; at most one of ``reservation`` / ``entry_point`` (XSD choice)."""

    label: str
    action_code: str
    start_datetime: datetime | None = None
    end_datetime: datetime | None = None
    reservation: Reservation | None = None
    entry_point: EntryPoint | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class Document:
    """``MainDocument`` / ``AdditionalDocument`` / ``TechnicalDocument`` (``kind``); files are alternatives
    or parts of the same document. Technical documents carry no actions."""

    kind: DocumentKind
    files: tuple[File, ...]
    document_id: str | None = None
    label: str | None = None
    actions: tuple[Action, ...] = ()
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class MessageBody:
    created_datetime: datetime
    main_document: Document
    additional_documents: tuple[Document, ...] = ()
    technical_documents: tuple[Document, ...] = ()
    extra: Extra = ()

    def documents(self) -> tuple[Document, ...]:
        return (self.main_document, *self.additional_documents, *self.technical_documents)


@dataclass(frozen=True, slots=True)
class MemoMessage:
    """``memo:Message``. ``body`` is ``None`` for NEMSMS. ``version`` selects the schema on build."""

    header: MessageHeader
    body: MessageBody | None = None
    version: MemoVersion = DEFAULT_VERSION
    extra: Extra = ()
    extra_attributes: tuple[tuple[str, str], ...] = ()  # (Clark name, value) of unknown Message attributes

    def files(self) -> tuple[File, ...]:
        if self.body is None:
            return ()
        return tuple(f for doc in self.body.documents() for f in doc.files)
