"""The message catalogue: every key in both languages, the same placeholders in both, every entry in use,
no Danish outside it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from graph_dpg.domain.texts import CATALOGUE, LANGUAGES, Entry, Text, placeholders, text

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "graph_dpg"
CATALOGUE_FILE = PACKAGE / "domain" / "texts.py"


def test_every_key_has_an_entry_and_every_entry_a_key() -> None:
    assert set(CATALOGUE) == set(Text)


@pytest.mark.parametrize("key", list(Text), ids=str)
def test_every_key_has_both_languages(key: Text) -> None:
    entry = CATALOGUE[key]
    for language in LANGUAGES:
        assert getattr(entry, language).strip(), f"{key} has no {language} text"


@pytest.mark.parametrize("key", list(Text), ids=str)
def test_both_languages_have_the_same_placeholders(key: Text) -> None:
    entry = CATALOGUE[key]
    assert placeholders(entry.da) == placeholders(entry.en), key


@pytest.mark.parametrize("key", list(Text), ids=str)
def test_every_entry_fills_in_both_languages(key: Text) -> None:
    # A stray brace or a format spec that does not fit a number would fail here, not in a mail.
    values = dict.fromkeys(placeholders(CATALOGUE[key].da), 1)
    for language in LANGUAGES:
        assert "{" not in text(key, language, **values).replace("{}", "")


def test_placeholders_are_named_by_their_field() -> None:
    assert placeholders("{budget:g} s, {elapsed:.1f} s, {context}, {{literal}}") == {
        "budget",
        "elapsed",
        "context",
    }


def test_the_checks_catch_a_missing_language_and_differing_placeholders() -> None:
    with pytest.raises(TypeError):
        Entry("kun dansk")  # type: ignore[call-arg]
    wrong = Entry("Modtagere: {total}", "Recipients: {count}")
    assert placeholders(wrong.da) != placeholders(wrong.en)


def test_text_fills_english_for_en_and_danish_otherwise() -> None:
    assert text(Text.RECEIPT_SUBJECT_OK, "en", label="Brev") == "DPG receipt: Brev"
    assert text(Text.RECEIPT_SUBJECT_OK, "da", label="Brev") == "DPG kvittering: Brev"
    assert text(Text.RECEIPT_SUBJECT_OK, "de", label="Brev") == "DPG kvittering: Brev"


def test_a_missing_value_raises_instead_of_sending_half_a_sentence() -> None:
    with pytest.raises(KeyError, match="label"):
        text(Text.RECEIPT_SUBJECT_OK, "da")


def _sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p != CATALOGUE_FILE]


def test_every_entry_is_used_by_the_code() -> None:
    code = "\n".join(p.read_text("utf-8") for p in _sources())
    used = set(re.findall(r"\bText\.([A-Z0-9_]+)\b", code))
    # A finding's sentence is looked up by its rule code (domain/finding_text.py); that every one belongs
    # to a rule the code uses is checked in test_finding_texts.py.
    by_rule = {k.name for k in Text if k.value.startswith("finding.")}
    # The admin console's Jinja2 templates name their entries as t("NAME"), or a family as t("PREFIX_" ~ x).
    templates = "\n".join(p.read_text("utf-8") for p in PACKAGE.rglob("templates/*.html"))
    used |= set(re.findall(r"""\bt\(\s*["']([A-Z0-9_]+)["']\s*[,)]""", templates))
    prefixes = re.findall(r"""\bt\(\s*["']([A-Z0-9_]+_)["']\s*~""", templates)
    used |= {k.name for k in Text if any(k.name.startswith(prefix) for prefix in prefixes)}
    assert {k.name for k in Text} - used - by_rule == set()


def _string_literals(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_danish_text_outside_the_catalogue() -> None:
    """Danish letters in a string the gateway writes mean a sentence was written outside the catalogue.
    The emulators and the demo's sample data are not the gateway's words."""
    skip = {PACKAGE / "sandbox", PACKAGE / "demo", PACKAGE / "memo"}
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in _sources()
        if not any(path.is_relative_to(s) for s in skip)
        for node in _string_literals(ast.parse(path.read_text("utf-8")))
        if re.search("[æøåÆØÅ]", node.value)
    ]
    assert found == []
