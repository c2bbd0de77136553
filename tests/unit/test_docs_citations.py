"""Comments and docstrings cite the repository's own docs by file and section; every citation resolves.

A citation looks like ``docs/facts/ngdp.md, "File names"`` (several sections: ``"Routing" and "Rule
engine"``). Renaming a heading or moving a page without updating the code fails here, so a reader following a
citation always finds the section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    [*(ROOT / "graph_dpg").rglob("*.py"), *(ROOT / "graph_dpg").rglob("*.md"), ROOT / "README.md"]
)

_CITATION = re.compile(r'docs/([\w/.-]+?\.md)(?:``)?((?:\s*(?:[,:]|and)?\s*"[^"]+")*)')
_SECTION = re.compile(r'"([^"]+)"')
_HEADING = re.compile(r"^#+ (.+?)\s*$", re.MULTILINE)


def _flat(text: str) -> str:
    """Source text with line breaks (and the ``#`` of continued comments) turned into single spaces."""
    return re.sub(r"\s*\n\s*(?:#:?\s*)?", " ", text)


def citations(text: str) -> list[tuple[str, list[str]]]:
    return [(m.group(1), _SECTION.findall(m.group(2))) for m in _CITATION.finditer(_flat(text))]


def headings(doc: Path) -> set[str]:
    return set(_HEADING.findall(doc.read_text("utf-8")))


CITED = [
    (source, doc, sections) for source in SOURCES for doc, sections in citations(source.read_text("utf-8"))
]


def test_the_code_cites_the_facts_pages():
    cited_docs = {doc for _, doc, _ in CITED}
    assert {
        "facts/graph.md",
        "facts/ngdp.md",
        "facts/memo.md",
        "facts/identifiers.md",
        "product.md",
    } <= cited_docs


@pytest.mark.parametrize(
    ("source", "doc", "sections"), CITED, ids=[f"{s.relative_to(ROOT)}->{d}" for s, d, _ in CITED]
)
def test_citation_resolves(source, doc, sections):
    path = ROOT / "docs" / doc
    assert path.is_file(), f"{source.relative_to(ROOT)} cites docs/{doc}, which does not exist"
    missing = set(sections) - headings(path)
    assert not missing, (
        f"{source.relative_to(ROOT)} cites sections of docs/{doc} that do not exist: {missing}"
    )


def test_the_parser_reads_wrapped_and_multiple_sections():
    text = (
        '# the receipt is deleted later (docs/facts/ngdp.md,\n        # "Receipts").\n'
        'See docs/product.md, "Routing" and "Rule engine".\n'
        'Wire format (docs/facts/memo.md: "Namespaces", "Versions", "Element order")::\n'
        "Facts: docs/facts/graph.md; more text.\n"
        'NgDP rejects them (see ``docs/facts/ngdp.md``, "File names").\n'
    )
    assert citations(text) == [
        ("facts/ngdp.md", ["Receipts"]),
        ("product.md", ["Routing", "Rule engine"]),
        ("facts/memo.md", ["Namespaces", "Versions", "Element order"]),
        ("facts/graph.md", []),
        ("facts/ngdp.md", ["File names"]),
    ]


#: Notes that live outside this repository; the verbatim XSD copy may name where it came from.
_OUTSIDE_NOTE = re.compile(r"DESIGN|graph-facts|ngdp-facts")
_VERBATIM = ROOT / "graph_dpg" / "memo" / "xsd"


def outside_citations(path: Path, text: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for m in _OUTSIDE_NOTE.finditer(text)
    ]


def test_no_file_in_the_package_cites_notes_outside_the_repository():
    found = [
        hit
        for path in sorted((ROOT / "graph_dpg").rglob("*"))
        if path.is_file() and not path.is_relative_to(_VERBATIM) and "__pycache__" not in path.parts
        for hit in outside_citations(path, path.read_bytes().decode("utf-8", errors="replace"))
    ]
    assert found == []


def test_the_outside_note_check_finds_each_kind():
    text = 'x\n"""Rules (DESIGN §1.5)."""\n# graph-facts: 4 MB\n# see ngdp-facts.md\n'
    assert outside_citations(ROOT / "graph_dpg" / "x.py", text) == [
        "graph_dpg/x.py:2: DESIGN",
        "graph_dpg/x.py:3: graph-facts",
        "graph_dpg/x.py:4: ngdp-facts",
    ]
