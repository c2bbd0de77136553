"""File names: NgDP's forbidden characters (since 10 Sep 2025) are replaced, and the change is reported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.core.filenames import BIDI_CONTROLS, FORBIDDEN_FILENAME_CHARS, SAFE_FILENAME, sanitize_filename

NGDP_LIST = '<>:"/\\|?*\r\n\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u205f\u2060\u3000'


def test_forbidden_set_is_exactly_ngdps_list() -> None:
    assert frozenset(NGDP_LIST) == FORBIDDEN_FILENAME_CHARS
    assert len(FORBIDDEN_FILENAME_CHARS) == 27


@pytest.mark.parametrize("ch", sorted(FORBIDDEN_FILENAME_CHARS))
def test_each_forbidden_character_is_replaced(ch: str) -> None:
    name, findings = sanitize_filename(f"brev{ch}svar.pdf")
    assert name == "brev-svar.pdf"
    assert [(f.rule, f.severity) for f in findings] == [("filename.forbidden-chars", "warning")]
    assert f"U+{ord(ch):04X}" in findings[0].message or repr(ch) in findings[0].message


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("a<<c.pdf", "a-c.pdf"),  # a run becomes one '-' (as the ITK reference library does)
        ("Svar: 1/2 *endelig*?.docx", "Svar- 1-2 -endelig-.docx"),
        ("a\u00a0\u2003\u3000b.pdf", "a-b.pdf"),
        ("line\r\nbreak.txt", "line-break.txt"),
        ("tab\there.txt", "tab-here.txt"),  # control characters too, though NgDP does not list them
        ("nul\x00.txt", "nul-.txt"),
    ],
)
def test_runs_are_replaced(original: str, expected: str) -> None:
    name, findings = sanitize_filename(original)
    assert name == expected
    assert len(findings) == 1
    assert repr(expected) in findings[0].message


@pytest.mark.parametrize(
    "name", ["rapport.pdf", "æøå ÆØÅ.docx", "emoji 🎉.png", "a b c.txt", "x-y_z (1).pdf"]
)
def test_harmless_names_are_unchanged(name: str) -> None:
    assert sanitize_filename(name) == (name, [])


@pytest.mark.parametrize("original", ["", ".", "...", "<>", "?", " ", "\u3000"])
def test_unusable_names_get_a_safe_name(original: str) -> None:
    name, findings = sanitize_filename(original)
    assert name == SAFE_FILENAME
    assert "filename.empty" in [f.rule for f in findings]
    assert all(f.severity == "warning" for f in findings)


def test_bidi_controls_are_exactly_the_embeddings_overrides_isolates_and_marks() -> None:
    expected = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    assert {ord(c) for c in BIDI_CONTROLS} == expected


@pytest.mark.parametrize("ch", sorted(BIDI_CONTROLS))
def test_each_bidi_control_is_replaced_with_its_own_warning(ch: str) -> None:
    name, findings = sanitize_filename(f"faktura{ch}gpj.exe")
    assert name == "faktura-gpj.exe"  # the real extension shows
    assert [(f.rule, f.severity) for f in findings] == [("filename.bidi-controls", "warning")]
    assert f"U+{ord(ch):04X}" in findings[0].message
    # The finding itself never displays reordered: the control is written as an escape.
    assert ch not in findings[0].message and f"\\u{ord(ch):04x}" in findings[0].message


def test_forbidden_characters_and_bidi_controls_are_both_reported() -> None:
    name, findings = sanitize_filename("svar:\u202egpj.exe")
    assert name == "svar-gpj.exe"
    assert [f.rule for f in findings] == ["filename.forbidden-chars", "filename.bidi-controls"]


@given(st.text(max_size=40))
def test_sanitized_names_are_clean_nonempty_and_stable(original: str) -> None:
    name, findings = sanitize_filename(original)
    assert name
    assert not set(name) & (FORBIDDEN_FILENAME_CHARS | BIDI_CONTROLS)
    assert sanitize_filename(name) == (name, [])
    assert (name == original) == (not findings)
