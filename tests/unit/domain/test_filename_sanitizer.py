"""File names: NgDP's forbidden characters (since 10 Sep 2025) are replaced, and the change is reported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.core.filenames import FORBIDDEN_FILENAME_CHARS, SAFE_FILENAME, sanitize_filename

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


@given(st.text(max_size=40))
def test_sanitized_names_are_clean_nonempty_and_stable(original: str) -> None:
    name, findings = sanitize_filename(original)
    assert name
    assert not set(name) & FORBIDDEN_FILENAME_CHARS
    assert sanitize_filename(name) == (name, [])
    assert (name == original) == (not findings)
