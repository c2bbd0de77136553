"""Dates and numbers in MeMo that are no dates or numbers: always MemoError or a finding, never
OverflowError or decimal.InvalidOperation (an inbound run stopped on one before any memo was delivered)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from memo_factories import make_body, make_message

from graph_dpg import memo
from graph_dpg.core.errors import MemoError
from graph_dpg.memo.codec import format_datetime, parse_datetime

VALID = memo.build(make_message())


def _with_created(text: str) -> bytes:
    return VALID.replace(b"2026-01-02T03:04:05Z", text.encode("utf-8"))


def _with_version(text: str) -> bytes:
    return VALID.replace(b'memoVersion="1.2"', f'memoVersion="{text}"'.encode())


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.5-00:01"]
)
def test_a_time_outside_the_utc_calendar_is_a_memo_error(text: str) -> None:
    with pytest.raises(MemoError, match="outside the years 1-9999"):
        parse_datetime(text)
    data = _with_created(text)
    with pytest.raises(MemoError, match="outside the years 1-9999"):
        memo.parse(data)
    assert memo.validate(data)  # findings, not an exception
    message, findings = memo.parse_and_validate(data)
    assert message is None and [f for f in findings if f.severity == "error"]


def test_writing_a_time_outside_the_utc_calendar_is_a_memo_error() -> None:
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=14)))
    with pytest.raises(MemoError, match="outside the years 1-9999"):
        format_datetime(late)
    body = replace(make_body(), created_datetime=late)
    with pytest.raises(MemoError, match="outside the years 1-9999"):
        memo.build(make_message(body=body))


def test_an_ordinary_offset_is_converted_to_utc() -> None:
    assert parse_datetime("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("version", ["sNaN", "NaN", "-Infinity", "１.２", "١.٢", "1.2e0", "1_2", " 1 .2"])
def test_a_memo_version_that_is_no_ascii_decimal_is_refused(version: str) -> None:
    data = _with_version(version)
    with pytest.raises(MemoError, match="is not a decimal"):
        memo.parse(data)
    assert memo.validate(data)


@pytest.mark.parametrize("version", ["1.2", "1.20", "+1.2", " 1.2 "])
def test_equal_ascii_decimals_are_the_same_version(version: str) -> None:
    assert memo.parse(_with_version(version)).version == "1.2"


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.builds(
            lambda y, off: f"{y:04d}-12-31T23:59:59{off}",
            st.integers(1, 9999),
            st.sampled_from(["Z", "+14:00", "-14:00", "-00:01", "+23:59", ""]),
        ),
    ),
    st.sampled_from(["createdDateTime", "memoVersion"]),
)
@example("9999-12-31T23:59:59-14:00", "createdDateTime")
@example("sNaN", "memoVersion")
def test_any_date_or_version_text_gives_a_memo_error_or_a_model(text: str, where: str) -> None:
    if "<" in text or "&" in text or '"' in text:
        return  # not a text node or attribute value any more: the XML itself would be malformed
    try:
        data = _with_created(text) if where == "createdDateTime" else _with_version(text)
    except UnicodeEncodeError:
        return
    with contextlib.suppress(MemoError):
        memo.parse(data)
    memo.validate(data)
