"""Golden files: the official MeMo examples (1.1 and 1.2) parse, validate and round-trip."""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import pytest
from memo_factories import EXAMPLES, EXAMPLES_DIR, example_id

from graph_dpg import memo
from graph_dpg.memo.schema import SCHEMA_ENTRY, schema_files

SHARED_XSD = Path(__file__).resolve().parents[4] / "shared" / "memo" / "xsd"


def test_there_are_golden_examples_of_both_versions() -> None:
    assert {version for version, _ in EXAMPLES} == {"1.1", "1.2"}
    assert len(EXAMPLES) == 6


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_parses_as_its_version_and_is_schema_valid(example: tuple[str, Path]) -> None:
    version, path = example
    data = path.read_bytes()
    assert memo.parse(data).version == version
    assert memo.validate_schema(data) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_is_invalid_against_the_other_version(example: tuple[str, Path]) -> None:
    version, path = example
    other = "1.2" if version == "1.1" else "1.1"
    findings = memo.validate_schema(path.read_bytes(), version=other)
    assert findings
    assert all(finding.rule == "xsd" for finding in findings)
    assert any("memoSchVersion" in finding.message for finding in findings)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_round_trips_to_valid_xml_and_an_equal_model(example: tuple[str, Path]) -> None:
    version, path = example
    original = memo.parse(path.read_bytes())
    built = memo.build(original)
    assert built.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<memo:Message ')
    assert memo.validate_schema(built) == []
    again = memo.parse(built)
    assert again == original
    assert memo.build(again) == built
    assert again.version == version


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_example_loses_no_element_text(example: tuple[str, Path]) -> None:
    """Every non-blank leaf text of the example appears in the built output (nothing dropped)."""
    from lxml import etree

    _, path = example
    source = etree.fromstring(path.read_bytes())
    rebuilt = etree.fromstring(memo.build(memo.parse(path.read_bytes())))

    def leaves(root: etree._Element) -> list[tuple[str, str]]:
        return sorted(
            (str(el.tag), (el.text or "").strip())
            for el in root.iter()
            if isinstance(el.tag, str) and len(el) == 0 and (el.text or "").strip()
        )

    # Booleans/dateTimes are normalised but these examples already use the canonical forms.
    assert leaves(rebuilt) == leaves(source)


def test_full_1_1_example_fields() -> None:
    message = memo.parse((EXAMPLES_DIR / "official-1.1" / "MeMo_Full_Example.xml").read_bytes())
    header = message.header
    assert header.message_type == "DIGITALPOST"
    assert header.message_uuid == "8C2EA15D-61FB-4BA9-9366-42F8B194C114"
    assert header.label == "Besked fra Børneforvaltningen"
    assert header.reply is True
    assert header.reply_by_datetime == datetime(2018, 9, 30, 12, tzinfo=UTC)
    assert header.do_not_deliver_until_date == date(2018, 9, 15)
    assert header.mandatory is False and header.legal_notification is False
    assert header.sender.sender_id == "12345678"
    assert header.sender.representative is None
    attention = header.sender.attention_data
    assert attention is not None
    assert attention.production_unit == memo.ProductionUnit("1234567890", "Produktionsenhed A")
    assert attention.address is not None and attention.address.address_point is not None
    assert attention.address.address_point.geographic_northing_measure == "6336248.89"
    assert header.recipient.attention_data is not None
    assert header.recipient.attention_data.unstructured_address == memo.UnstructuredAddress(
        "Bakketoppen 6, 9000 Aalborg"
    )
    content = header.content_data
    assert content is not None
    assert content.cpr_data == memo.CPRData("2512169996", "Emilie Hansen")
    assert content.motor_vehicle == memo.MotorVehicle("AB12345", "WFR18ZZ67W094959")
    assert content.kle_data is not None and content.kle_data.subject_key == "00.00.00"
    assert content.form_data is not None and content.form_data.task_key == "00.00.00.00"
    assert content.education == memo.Education("123ABC", "[Uddannelse navn]")
    assert len(content.additional_content_data) == 2
    assert header.forward_data is not None
    assert header.forward_data.original_message_datetime == datetime(2021, 3, 15, 12, tzinfo=UTC)
    assert [r.message_uuid[-4:] for r in header.reply_data] == ["C114", "C657"]
    assert len(header.reply_data[1].additional_reply_data) == 4
    body = message.body
    assert body is not None
    assert [f.filename for f in body.main_document.files] == ["Pladsanvisning.pdf", "Pladsanvisning.txt"]
    assert body.main_document.files[0].content == b"This is a test"
    assert [a.action_code for a in body.main_document.actions] == ["SELVBETJENING", "AFTALE"]
    reservation = body.main_document.actions[1].reservation
    assert reservation is not None and reservation.organizer_name == "Jette Hansen"
    assert len(body.additional_documents) == 2
    assert body.technical_documents[0].files[0].encoding_format == "text/xml"
    assert [d.kind for d in body.documents()] == ["main", "additional", "additional", "technical"]
    assert message.extra == () and message.extra_attributes == ()


def test_full_1_2_example_has_the_1_2_elements() -> None:
    message = memo.parse((EXAMPLES_DIR / "memo-1.2" / "MeMo_Full_Example.xml").read_bytes())
    assert message.header.sender.representative == memo.Representative(
        representative_id="87654321", id_type="CVR", label="Repræsentant Kommune"
    )
    assert message.header.forward_data is not None
    assert message.header.forward_data.original_representative == "Repræsentant Kommune"


def test_nemsms_example_has_no_body() -> None:
    message = memo.parse((EXAMPLES_DIR / "memo-1.2" / "MeMo_NemSMS.xml").read_bytes())
    assert message.header.message_type == memo.MESSAGE_TYPE_NEMSMS
    assert message.body is None
    assert message.header.notification == "Message Text"


def test_packaged_schemas_are_verbatim_copies() -> None:
    packaged = schema_files()
    assert set(SCHEMA_ENTRY.values()) <= set(packaged)
    assert len(packaged) == 10  # 9 MeMo 1.1 files + the 1.2 core
    provenance = resources.files("graph_dpg.memo").joinpath("xsd", "PROVENANCE.md").read_text("utf-8")
    assert "OS2sofd/middleware" in provenance and "mortenm12/memo" in provenance
    if not SHARED_XSD.is_dir():
        pytest.skip(f"reference copy {SHARED_XSD} not present")
    for name, content in packaged.items():
        assert (SHARED_XSD / name).read_bytes() == content, name


def test_schema_imports_resolve_only_to_packaged_files() -> None:
    from graph_dpg.memo.schema import _PackageResolver

    resolver = _PackageResolver()
    for url in (
        "http://127.0.0.1:9/MeMo_core.xsd",
        "file:///etc/passwd",
        "graph-dpg-memo:/xsd/../secret.xsd",
    ):
        with pytest.raises(memo.MemoError, match="not packaged"):
            resolver.resolve(url, None, None)


def test_schema_is_compiled_once_per_process() -> None:
    import threading

    from graph_dpg.memo.schema import get_schema

    assert get_schema("1.2") is get_schema("1.2")
    assert get_schema("1.1") is not get_schema("1.2")
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(get_schema("1.2")))
    thread.start()
    thread.join()
    assert other[0] is get_schema("1.2")
