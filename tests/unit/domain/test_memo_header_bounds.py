"""MemoHeader.json within bounds: every document gives overrides plus findings, never an exception, and
every finding can be stored and sent (UTF-8 encodable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graph_dpg.core.errors import Finding
from graph_dpg.domain.memo_header import parse_header_file


def _parse(data: bytes) -> tuple[object, list[Finding]]:
    return parse_header_file("MemoHeader.json", data)


def _encodable(findings: list[Finding]) -> None:
    for f in findings:
        f"{f.rule}{f.message}{f.path}".encode()


@pytest.mark.parametrize(
    ("data", "rule", "text"),
    [
        (b'{"label": ' + b"9" * 5000 + b"}", "memoheader.json", "5,000 characters"),
        (b'{"label": NaN}', "memoheader.json", "NaN is not a number"),
        (b'{"caseId": Infinity}', "memoheader.json", "Infinity is not a number"),
        (b'{"label": 1e400}', "memoheader.json", "out of range"),
        (b'{"\\ud800": "x"}', "memoheader.json", "lone surrogate"),
        (b'{"label": "Afg\\udc00relse"}', "memoheader.json", "lone surrogate"),
        (b"[" * 5000 + b"]" * 5000, "memoheader.json", "nested too deeply"),
        (b'{"label": "' + b"x" * 300_000 + b'"}', "memoheader.size", "larger than 256 KB"),
    ],
)
def test_documents_beyond_the_bounds_are_one_finding(data: bytes, rule: str, text: str) -> None:
    _, findings = _parse(data)
    assert [f.rule for f in findings] == [rule]
    assert text in findings[0].message
    _encodable(findings)


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-00:01"]
)
def test_a_reply_deadline_outside_the_utc_calendar_is_a_finding(value: str) -> None:
    _, findings = _parse(json.dumps({"replyByDateTime": value}).encode())
    assert [f.rule for f in findings] == ["memoheader.type"]
    assert "outside the years 1-9999" in findings[0].message


def test_the_reply_deadline_is_kept_in_utc() -> None:
    overrides, findings = _parse(b'{"replyBy": "2030-01-01T10:00:00+02:00"}')
    assert findings == []
    assert overrides.reply_by == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    assert overrides.reply_by.tzinfo is UTC  # type: ignore[attr-defined]


@pytest.mark.parametrize("kle", ["２７", "٢٧.١٥", "27.15.02.01", "27.1"])
def test_kle_needs_ascii_digits(kle: str) -> None:
    _, findings = _parse(json.dumps({"kle": kle}).encode())
    assert [f.rule for f in findings] == ["memoheader.kle"]


@pytest.mark.parametrize("value", [True, 1.5])
def test_text_fields_take_text_not_booleans_or_fractions(value: object) -> None:
    _, findings = _parse(json.dumps({"label": value}).encode())
    assert [f.rule for f in findings] == ["memoheader.type"]


def test_a_whole_number_is_still_text() -> None:
    overrides, findings = _parse(b'{"caseId": 4711}')
    assert findings == [] and overrides.case_id == "4711"  # type: ignore[attr-defined]


def test_an_unknown_key_with_invisible_characters_is_shown_escaped() -> None:
    _, findings = _parse('{"sl\u200bet": "x", "\u202eeltit": "y"}'.encode())
    assert [f.rule for f in findings] == ["memoheader.unknown", "memoheader.unknown"]
    assert "sl\\u200bet" in findings[0].message and "\u200b" not in findings[0].message
    assert "\\u202eeltit" in findings[1].path and "\u202e" not in findings[1].path


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
_keys = st.sampled_from(
    [
        *("label", "replyByDateTime", "doNotDeliverUntilDate", "kle", "mandatory", "additionalContentData"),
        *("recipientContactPoint", "caseId", "MemoHeader", "notification", "x\ud800"),
    ]
)


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        _json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        st.dictionaries(_keys, _json_values, max_size=6).map(
            lambda d: json.dumps(d).encode("utf-8", "surrogatepass")
        ),
    )
)
@example(b'{"replyByDateTime": "9999-12-31T23:59:59-14:00", "label": ' + b"1" * 4400 + b"}")
def test_any_header_file_gives_findings_never_an_exception(data: bytes) -> None:
    _, findings = _parse(data)
    assert all(f.severity in ("error", "warning") for f in findings)
    _encodable(findings)
