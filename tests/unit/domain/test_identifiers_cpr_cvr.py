"""CPR (date + century, never modulus 11) and CVR (modulus 11) rules, and CPR masking."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from graph_dpg.core.errors import IdentifierError
from graph_dpg.domain.identifiers import (
    _CPR_IN_TEXT,
    UUID_IN_TEXT,
    cpr_birth_date,
    cpr_century,
    cpr_findings,
    cpr_has_modulus11,
    cvr_findings,
    is_valid_cvr,
    mask_cpr,
    mask_cprs,
    normalize_cpr,
    validate_cpr,
    validate_cvr,
)

# --- generators ----------------------------------------------------------------------------------------

_SEVENTH_DIGITS = "0123456789"


def _century_digits(year: int) -> list[str]:
    """7th digits that give ``year`` its century (per the cpr.dk table)."""
    yy = f"{year % 100:02d}"
    return [d for d in _SEVENTH_DIGITS if cpr_century(f"0101{yy}{d}000") + year % 100 == year]


@st.composite
def valid_cprs(draw: st.DrawFn) -> tuple[str, date]:
    born = draw(st.dates(min_value=date(1858, 1, 1), max_value=date(2057, 12, 31)))
    candidates = _century_digits(born.year)
    assert candidates, born  # every year 1858-2057 has at least one 7th digit
    seventh = draw(st.sampled_from(candidates))
    rest = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    return f"{born:%d%m%y}{seventh}{rest}", born


@st.composite
def valid_cvrs(draw: st.DrawFn) -> str:
    first = draw(st.text(alphabet="0123456789", min_size=7, max_size=7))
    remainder = sum(int(d) * w for d, w in zip(first, (2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
    # remainder 1 would need check digit 10: no valid CVR has these 7 digits (Erhvervsstyrelsen).
    assume(remainder != 1)
    return first + str((11 - remainder) % 11)


# --- CPR -------------------------------------------------------------------------------------------------


def test_normalize_cpr_strips_space_and_one_dash() -> None:
    assert normalize_cpr(" 010203-1234 ") == "0102031234"
    assert normalize_cpr("0102031234") == "0102031234"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("010203123", "10 digits, got 9"),
        ("01020312345", "10 digits, got 11"),
        ("0102-031234", "after the 6th digit"),
        ("010203--1234", "after the 6th digit"),
        ("01020x1234", "only digits"),
        ("０１０２０３１２３４", "non-ASCII"),  # full-width digits: int() would accept them
        ("٠١٠٢٠٣١٢٣٤", "non-ASCII"),  # Arabic-Indic digits
    ],
)
def test_normalize_cpr_refuses_wrong_shapes(text: str, reason: str) -> None:
    with pytest.raises(IdentifierError, match=reason):
        normalize_cpr(text)


@pytest.mark.parametrize(
    ("cpr", "born"),
    [
        ("0102031234", date(1903, 2, 1)),  # 7th digit 0-3: 1900s
        ("0102373234", date(1937, 2, 1)),
        ("0102364234", date(2036, 2, 1)),  # 4: 2000-2036 ...
        ("0102374234", date(1937, 2, 1)),  # ... else 1937-1999
        ("0102369234", date(2036, 2, 1)),  # 9 like 4
        ("0102999234", date(1999, 2, 1)),
        ("0102575234", date(2057, 2, 1)),  # 5-8: 2000-2057 ...
        ("0102588234", date(1858, 2, 1)),  # ... else 1858-1899
        ("2902004000", date(2000, 2, 29)),  # leap day of a leap century year
        ("010107-0000", date(1907, 1, 1)),
    ],
)
def test_cpr_century_table(cpr: str, born: date) -> None:
    assert cpr_findings(cpr) == []
    assert cpr_birth_date(cpr) == born


@pytest.mark.parametrize(
    ("cpr", "fragment"),
    [
        ("1234567890", "month 34"),  # the release notes' placeholder
        ("0013001234", "month 13"),
        ("0000001234", "month 00"),
        ("3202001234", "day 32"),
        ("0001001234", "day 00"),
        ("2902001234", "day 29 does not exist in 02/1900"),  # 1900 is no leap year
        ("2902584000", "02/1958"),  # 7th digit 4 with YY 58 → 1958, not a leap year
        ("3104851234", "day 31"),
    ],
)
def test_cpr_date_findings(cpr: str, fragment: str) -> None:
    findings = cpr_findings(cpr)
    assert [f.rule for f in findings] == ["cpr.date"]
    assert fragment in findings[0].message
    assert cpr not in findings[0].message  # never echo the number
    with pytest.raises(IdentifierError, match="no date"):
        validate_cpr(cpr)


def test_cpr_without_modulus11_is_valid() -> None:
    # 1 January 1960 is a date cpr.dk lists for numbers issued without modulus 11.
    cpr = "0101601235"
    assert not cpr_has_modulus11(cpr)
    assert cpr_findings(cpr) == []
    assert validate_cpr(cpr) == cpr


def test_cpr_with_modulus11() -> None:
    # 070761-4285 is the well-known example from the CPR office's pre-2007 modulus-11 description.
    assert cpr_has_modulus11("070761-4285")


def test_cpr_format_findings() -> None:
    assert [f.rule for f in cpr_findings("12345")] == ["cpr.format"]


@given(valid_cprs())
def test_generated_valid_cprs_validate(case: tuple[str, date]) -> None:
    cpr, born = case
    assert cpr_findings(cpr) == []
    assert cpr_birth_date(cpr) == born
    dashed = f"{cpr[:6]}-{cpr[6:]}"
    assert validate_cpr(dashed) == cpr


@given(st.text(max_size=20))
def test_cpr_findings_never_crash(text: str) -> None:
    findings = cpr_findings(text)
    assert all(f.rule in {"cpr.format", "cpr.date"} for f in findings)


def test_every_day_of_a_century_span_validates() -> None:
    day = date(1858, 1, 1)
    while day <= date(2057, 12, 31):
        seventh = _century_digits(day.year)[0]
        assert cpr_findings(f"{day:%d%m%y}{seventh}000") == [], day
        day += timedelta(days=97)


# --- CVR -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cvr", ["13748136", "35833684", " 13748136 "])
def test_valid_cvrs(cvr: str) -> None:
    assert cvr_findings(cvr) == []
    assert is_valid_cvr(cvr)
    assert validate_cvr(cvr) == cvr.strip()


def test_release_notes_placeholder_cvr_fails_modulus11() -> None:
    findings = cvr_findings("87654321")
    assert [f.rule for f in findings] == ["cvr.modulus11"]
    assert "remainder 2" in findings[0].message
    with pytest.raises(IdentifierError, match="modulus-11"):
        validate_cvr("87654321")


@pytest.mark.parametrize(
    ("cvr", "rule", "fragment"),
    [
        ("", "cvr.format", "empty"),
        ("1374813", "cvr.format", "got 7"),
        ("137481360", "cvr.format", "got 9"),
        ("1374813a", "cvr.format", "only the digits"),
        ("１３７４８１３６", "cvr.format", "only the digits"),
        ("13748137", "cvr.modulus11", "modulus-11"),
    ],
)
def test_invalid_cvrs(cvr: str, rule: str, fragment: str) -> None:
    findings = cvr_findings(cvr)
    assert [f.rule for f in findings] == [rule]
    assert fragment in findings[0].message
    assert not is_valid_cvr(cvr)


@given(valid_cvrs())
def test_generated_cvrs_validate(cvr: str) -> None:
    assert is_valid_cvr(cvr)


@given(valid_cvrs(), st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=9))
def test_changing_one_digit_breaks_a_cvr(cvr: str, position: int, delta: int) -> None:
    # Every weight is coprime to 11, so any single-digit change alters the sum mod 11.
    changed = cvr[:position] + str((int(cvr[position]) + delta) % 10) + cvr[position + 1 :]
    assert not is_valid_cvr(changed)


# --- masking -------------------------------------------------------------------------------------------


def test_mask_cpr() -> None:
    assert mask_cpr("0102031234") == "010203-xxxx"
    assert mask_cpr("010203-1234") == "010203-xxxx"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("cpr 0102031234 sent", "cpr 010203-xxxx sent"),
        ("cpr 010203-1234.", "cpr 010203-xxxx."),
        ("0102031234-reply@35833684.ngdp.digital-post.dk", "010203-xxxx-reply@35833684.ngdp.digital-post.dk"),
        ("a0102031234b", "a010203-xxxx b".replace(" ", "")),
        ("12345678901", "12345678901"),  # 11 digits: not a CPR
        ("010203123", "010203123"),  # 9 digits
        ("order 01020312345678", "order 01020312345678"),
        ("cvr 35833684", "cvr 35833684"),
        ("two 0102031234,1111111111", "two 010203-xxxx,111111-xxxx"),
        ("", ""),
    ],
)
def test_mask_cprs(text: str, masked: str) -> None:
    assert mask_cprs(text) == masked


_CPR_LIKE = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")


@given(st.text(alphabet=st.sampled_from("0123456789- ab\n"), max_size=60))
def test_no_cpr_survives_masking(text: str) -> None:
    # UUIDs (with a hex letter) are kept whole so log lines stay traceable; everything else is masked.
    assert _CPR_LIKE.search(UUID_IN_TEXT.sub("", mask_cprs(text))) is None


@given(valid_cprs(), st.text(alphabet="abc .,;:@", max_size=5), st.text(alphabet="abc .,;:@", max_size=5))
def test_masking_hides_the_sequence_digits(case: tuple[str, date], before: str, after: str) -> None:
    cpr, _ = case
    masked = mask_cprs(f"{before}{cpr}{after}")
    assert cpr not in masked
    assert masked == f"{before}{cpr[:6]}-xxxx{after}"


@given(st.text(alphabet=st.sampled_from("0123456789-x æ٣"), max_size=40))
def test_fast_path_agrees_with_the_full_expression(text: str) -> None:
    # The ASCII fast path only skips texts the regular expression would leave alone.
    assert mask_cprs(text) == _CPR_IN_TEXT.sub(r"\1-xxxx", text)


def test_non_ascii_digits_are_masked_too() -> None:
    # Better a masked look-alike than a leaked number: masking accepts any Unicode digits.
    assert mask_cprs("cpr ０１０２０３１２３４ æ") == "cpr ０１０２０３-xxxx æ"
    assert mask_cprs("Kære 0102031234") == "Kære 010203-xxxx"
