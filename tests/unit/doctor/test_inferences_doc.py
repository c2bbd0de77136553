"""The inferences doctor --probe checks are one list (graph_dpg/diagnostics/inferences.py); docs/facts carry
it as a section, kept equal by this test, and each Graph inference has its emulator setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_dpg.diagnostics import inferences as inf
from graph_dpg.sandbox.graph import GraphTenant

FACTS = Path(__file__).resolve().parents[3] / "docs" / "facts"


def section(text: str) -> str:
    start = text.index(inf.FACTS_HEADING)
    end = text.find("\n## ", start + len(inf.FACTS_HEADING))
    return text[start:] if end < 0 else text[start : end + 1]


@pytest.mark.parametrize("service", ["graph", "ngdp", "datafordeler", "cvr"])
def test_facts_section_is_the_list(service: inf.Service) -> None:
    text = (FACTS / f"{service}.md").read_text(encoding="utf-8")
    assert inf.FACTS_HEADING in text, f"docs/facts/{service}.md lacks {inf.FACTS_HEADING!r}"
    expected = inf.facts_section(service)
    assert section(text) == expected, (
        f"docs/facts/{service}.md is out of date; replace its section with the output of\n"
        f"python -c 'from graph_dpg.diagnostics.inferences import facts_section; "
        f'print(facts_section("{service}"), end="")\''
    )


def test_every_graph_inference_has_an_emulator_setting() -> None:
    tenant = GraphTenant()
    for item in inf.inferences_for("graph"):
        assert item.emulator_setting is not None, item.id
        assert hasattr(tenant, item.emulator_setting), item.emulator_setting


def test_ids_are_unique_and_prefixed_by_service() -> None:
    assert len(inf.BY_ID) == len(inf.INFERENCES)
    assert all(i.id.startswith(i.service + ".") for i in inf.INFERENCES)
