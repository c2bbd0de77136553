"""Property: for generated messages, build → parse gives the same model, build is stable, XSD-valid."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg import memo

# Any character XML 1.0 can carry (CR and TAB included: the builder escapes CR), no surrogates.
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\ufffe\uffff" + "".join(chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)),
)
text = st.text(XML_CHARS, max_size=40)
short = st.text(XML_CHARS, min_size=1, max_size=20)
uuid4 = st.uuids(version=4).map(str) | st.uuids(version=4).map(lambda u: str(u).upper())
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
dates = st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 1, 1))
language = st.sampled_from(["da", "en", "kl", "fo", "de"])


def _optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


contact_point = st.builds(
    memo.ContactPoint,
    contact_point_id=uuid4,
    contact_group=_optional(short),
    label=_optional(text),
    contact_info=st.lists(st.builds(memo.ContactInfo, label=text, value=text), max_size=2).map(tuple),
)
attention = st.builds(
    memo.AttentionData,
    attention_person=_optional(
        st.builds(memo.AttentionPerson, person_id=_optional(short), label=_optional(text))
    ),
    production_unit=_optional(
        st.builds(memo.ProductionUnit, st.integers(0, 9_999_999_999).map(str), _optional(text))
    ),
    global_location_number=_optional(
        st.builds(memo.GlobalLocationNumber, st.integers(0, 9_999_999_999_999).map(str), _optional(text))
    ),
    email=_optional(st.builds(memo.EMail, short, _optional(text))),
    telephone=_optional(st.builds(memo.Telephone, short, _optional(text))),
    eid=_optional(st.builds(memo.EID, short, _optional(text))),
    sor_data=_optional(st.builds(memo.SORData, short, _optional(text))),
    address=_optional(
        st.builds(
            memo.Address,
            zip_code=_optional(short),
            city=_optional(text),
            address_point=_optional(st.builds(memo.AddressPoint, geographic_height_measure=_optional(short))),
        )
    ),
    unstructured_address=_optional(st.builds(memo.UnstructuredAddress, text)),
)
content_data = st.builds(
    memo.ContentData,
    cpr_data=_optional(st.builds(memo.CPRData, st.from_regex(r"[0-9]{10}", fullmatch=True), _optional(text))),
    motor_vehicle=_optional(st.builds(memo.MotorVehicle, st.text(XML_CHARS, max_size=7), _optional(text))),
    case_id=_optional(st.builds(memo.CaseID, short, short)),
    kle_data=_optional(st.builds(memo.KLEData, short, short, short, _optional(text))),
    form_data=_optional(st.builds(memo.FORMData, short, short, short, _optional(text))),
    education=_optional(st.builds(memo.Education, short, _optional(text))),
    additional_content_data=st.lists(
        st.builds(memo.AdditionalContentData, short, text, _optional(text)), max_size=3
    ).map(tuple),
)
reply_data = st.builds(
    memo.ReplyData,
    message_uuid=uuid4,
    reply_uuid=_optional(uuid4),
    sender_id=_optional(short),
    comment=_optional(st.text(XML_CHARS, max_size=100)),
    additional_reply_data=st.lists(st.builds(memo.AdditionalReplyData, short, text), max_size=4).map(tuple),
)
file = st.builds(
    memo.File,
    encoding_format=st.sampled_from(["application/pdf", "text/plain", "text/html"]),
    filename=short,
    language=language,
    content=st.binary(max_size=64),
)
action = st.builds(
    memo.Action,
    label=short,
    action_code=st.sampled_from(sorted(memo.ACTION_CODES)),
    start_datetime=_optional(datetimes),
    entry_point=_optional(st.builds(memo.EntryPoint, st.just("https://example.dk/a?b=c&d=æ"))),
)


@st.composite
def documents(draw: st.DrawFn, kind: str) -> memo.Document:
    return memo.Document(
        kind=kind,  # type: ignore[arg-type]
        files=tuple(draw(st.lists(file, min_size=1, max_size=2))),
        document_id=draw(_optional(short)),  # type: ignore[arg-type]
        label=draw(_optional(text)),  # type: ignore[arg-type]
        actions=() if kind == "technical" else tuple(draw(st.lists(action, max_size=2))),
    )


@st.composite
def messages(draw: st.DrawFn) -> memo.MemoMessage:
    version = draw(st.sampled_from(["1.1", "1.2"]))
    is_12 = version == "1.2"
    representative = (
        draw(_optional(st.builds(memo.Representative, short, st.just("CVR"), label=_optional(text))))
        if is_12
        else None
    )
    sender = memo.Sender(
        sender_id=draw(short),
        id_type=draw(st.sampled_from(["CVR", "CPR"])),
        label=draw(text),
        id_type_label=draw(_optional(text)),  # type: ignore[arg-type]
        attention_data=draw(_optional(attention)),  # type: ignore[arg-type]
        contact_point=draw(_optional(contact_point)),  # type: ignore[arg-type]
        representative=representative,  # type: ignore[arg-type]
    )
    recipient = memo.Recipient(
        recipient_id=draw(short),
        id_type=draw(st.sampled_from(["CVR", "CPR"])),
        label=draw(_optional(text)),  # type: ignore[arg-type]
        contact_point=draw(_optional(contact_point)),  # type: ignore[arg-type]
    )
    forward = draw(
        _optional(
            st.builds(
                memo.ForwardData,
                message_uuid=uuid4,
                original_message_datetime=datetimes,
                original_sender=short,
                original_representative=_optional(short) if is_12 else st.none(),
                comment=_optional(text),
            )
        )
    )
    message_type = draw(st.sampled_from([memo.MESSAGE_TYPE_DIGITALPOST, memo.MESSAGE_TYPE_NEMSMS]))
    header = memo.MessageHeader(
        message_type=message_type,
        message_uuid=draw(uuid4),
        label=draw(text),
        sender=sender,
        recipient=recipient,
        message_id=draw(_optional(short)),  # type: ignore[arg-type]
        notification=draw(_optional(st.text(XML_CHARS, max_size=160))),  # type: ignore[arg-type]
        reply=draw(st.none() | st.booleans()),
        reply_by_datetime=draw(_optional(datetimes)),  # type: ignore[arg-type]
        do_not_deliver_until_date=draw(_optional(dates)),  # type: ignore[arg-type]
        mandatory=draw(st.booleans() if not is_12 else st.none() | st.booleans()),
        legal_notification=draw(st.booleans() if not is_12 else st.none() | st.booleans()),
        post_type=draw(_optional(short)),  # type: ignore[arg-type]
        content_data=draw(_optional(content_data)),  # type: ignore[arg-type]
        forward_data=forward,  # type: ignore[arg-type]
        reply_data=tuple(draw(st.lists(reply_data, max_size=2))),
    )
    body = None
    if message_type == memo.MESSAGE_TYPE_DIGITALPOST or draw(st.booleans()):
        body = memo.MessageBody(
            created_datetime=draw(datetimes),
            main_document=draw(documents("main")),
            additional_documents=tuple(draw(st.lists(documents("additional"), max_size=2))),
            technical_documents=tuple(draw(st.lists(documents("technical"), max_size=1))),
        )
    return memo.MemoMessage(header=header, body=body, version=version)  # type: ignore[arg-type]


@settings(max_examples=settings.default.max_examples // 2)
@given(messages())
def test_build_parse_round_trip_is_exact_and_schema_valid(message: memo.MemoMessage) -> None:
    data = memo.build(message)
    parsed = memo.parse(data)
    assert parsed == message
    assert memo.build(parsed) == data
    assert memo.validate_schema(data) == []


@settings(max_examples=settings.default.max_examples * 3 // 10)
@given(messages(), st.sampled_from(["1.1", "1.2"]))
def test_build_is_stable_across_versions(message: memo.MemoMessage, target: str) -> None:
    """build(parse(build(m, v))) == build(m, v), whenever m can be expressed in v."""
    try:
        data = memo.build(message, version=target)
    except memo.MemoError:
        assert target == "1.1"  # only 1.2-only elements make a message unbuildable as 1.1
        return
    assert memo.build(memo.parse(data)) == data
    assert memo.parse(data).version == target
