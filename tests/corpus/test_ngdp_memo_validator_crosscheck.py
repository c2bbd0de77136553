"""The NgDP emulator's own MeMo validator (xmlschema + its own rules) against the gateway's (lxml + memo.rules).

The emulator must not share code with the gateway (import-linter contract "emulators independent"); this test
lives in tests/ so it may import both and check that the two independent implementations agree on the
verdict (valid / invalid) for every memo of the corpus and every official example.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graph_dpg import memo as gateway_memo
from graph_dpg.core.errors import GraphDpgError
from graph_dpg.sandbox.ngdp import memo_check
from graph_dpg.sandbox.ngdp.memo_check import validate_memo

CORPUS = Path(__file__).resolve().parent / "memo"
EXAMPLES = Path(__file__).resolve().parents[1] / "unit" / "memo" / "examples"
CORPUS_FILES = sorted(CORPUS.glob("*/*.xml"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/*.xml"))


def _gateway_valid(data: bytes, *, allowed: bool) -> bool:
    try:
        findings = gateway_memo.validate(data, mandatory_allowed=allowed, legal_notification_allowed=allowed)
    except GraphDpgError:  # unsafe XML: refused
        return False
    return not [f for f in findings if f.severity == "error"]


def _emulator_valid(data: bytes, *, allowed: bool) -> bool:
    return not validate_memo(data, mandatory_allowed=allowed, legal_notification_allowed=allowed)


def test_the_corpus_and_the_examples_are_there() -> None:
    assert len(CORPUS_FILES) >= 80 and len(EXAMPLE_FILES) == 6


@pytest.mark.parametrize("path", CORPUS_FILES + EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("allowed", [False, True], ids=["plain-sender", "mandatory-and-legal-allowed"])
def test_emulator_and_gateway_give_the_same_verdict(path: Path, allowed: bool) -> None:
    data = path.read_bytes()
    assert _emulator_valid(data, allowed=allowed) == _gateway_valid(data, allowed=allowed)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_official_example_is_schema_valid_for_the_emulator(path: Path) -> None:
    """Digitaliseringsstyrelsen's examples (tests/unit/memo/examples/SOURCE.md) pass the XSD; some carry
    placeholder ids (``id.cpr``/``id.cvr``) or an http action URL, which the business rules refuse."""
    problems = validate_memo(path.read_bytes(), mandatory_allowed=True, legal_notification_allowed=True)
    assert [p for p in problems if p.rule == "xsd"] == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_minimum_examples_are_accepted_without_any_problem(version: str) -> None:
    folder = "official-1.1" if version == "1.1" else "memo-1.2"
    data = (EXAMPLES / folder / "MeMo_Minimum_Example.xml").read_bytes()
    assert validate_memo(data, mandatory_allowed=False, legal_notification_allowed=False) == []


def test_the_emulator_reads_the_official_xsd_files_as_data() -> None:
    """The schema files are the packaged, byte-for-byte official ones (never a second, editable copy)."""
    folder = memo_check._xsd_dir()
    assert folder == Path(gateway_memo.__file__).resolve().parent / "xsd"
    assert (folder / "Version1.2" / "MeMo_core.xsd").is_file()


def test_a_memo_over_the_size_limit_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (EXAMPLES / "memo-1.2" / "MeMo_Minimum_Example.xml").read_bytes()
    monkeypatch.setattr(memo_check, "MAX_VALIDATED_BYTES", len(data) - 1)
    problems = validate_memo(data, mandatory_allowed=False, legal_notification_allowed=False)
    assert [p.rule for p in problems] == ["size"]


def test_the_document_reader_opens_no_file_or_url(tmp_path: Path) -> None:
    """``allow="none"``: an xsi:schemaLocation or XInclude in a memo is never fetched (xmlschema docs,
    XMLResource ``allow``); the schema used is always the emulator's own."""
    secret = tmp_path / "secret.xsd"
    secret.write_text("<not-a-schema/>")
    data = (EXAMPLES / "memo-1.2" / "MeMo_Minimum_Example.xml").read_bytes()
    data = data.replace(
        b"<memo:Message ",
        b"<memo:Message " + f'xsi:schemaLocation="https://DigitalPost.dk/MeMo-1 {secret.as_uri()}" '.encode(),
        1,
    )
    ET.parse(io.BytesIO(data))  # still well-formed
    assert validate_memo(data, mandatory_allowed=False, legal_notification_allowed=False) == []
