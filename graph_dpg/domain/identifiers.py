"""Danish person (CPR) and company (CVR) numbers: normalising, validating and masking.

CPR (``DDMMYYSSSS``, optionally written ``DDMMYY-SSSS``)
    The first six digits are the birth date; the 7th digit together with ``YY`` gives the century
    (table below, from cpr.dk "Opbygning af CPR-nummeret" and da.wikipedia "CPR-nummer", see
    docs/facts/identifiers.md, "CPR")::

        7th digit   YY 00-36     YY 37-57     YY 58-99
        0-3         1900-1936    1937-1957    1958-1999
        4, 9        2000-2036    1937-1957    1958-1999
        5-8         2000-2036    2000-2057    1858-1899

    Modulus 11 held only until 1 October 2007; numbers without it are fully valid ("Personnumre uden
    modulus 11 er fuldt ud gyldige", cpr.dk), so it is **never** a reason to reject a number.

CVR (8 digits)
    Valid iff ``sum(digit * weight) % 11 == 0`` with weights 2,7,6,5,4,3,2,1 (Erhvervsstyrelsen,
    "modulus 11").

Validation is split from normalising: ``*_findings`` return every problem as :class:`Finding` values (for
receipts and ``address explain``); ``validate_*`` raise :class:`IdentifierError` with their text.
Finding rules: ``cpr.format``, ``cpr.date``, ``cvr.format``, ``cvr.modulus11``. Messages never contain
a whole CPR number.

CPR numbers are sensitive: :func:`mask_cprs` is applied to every log line (see
``graph_dpg.observability``), so it is a single precompiled regular expression.
"""

from __future__ import annotations

import re
from datetime import date

from graph_dpg.core.errors import Finding, IdentifierError

CVR_WEIGHTS: tuple[int, ...] = (2, 7, 6, 5, 4, 3, 2, 1)
CPR_MASK_SUFFIX = "xxxx"

# re.ASCII: "\d" would otherwise accept e.g. Arabic-Indic or full-width digits, which int() converts
# silently; an identifier must be plain ASCII digits.
_CPR_TEXT = re.compile(r"(\d{6})-?(\d{4})", re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)
# Masking is deliberately broader (Unicode digits too): a false positive costs a masked number in a log,
# a false negative leaks a CPR. "Not part of a longer digit run" keeps e.g. 12-digit ids intact.
_CPR_IN_TEXT = re.compile(r"(?<!\d)(\d{6})-?\d{4}(?!\d)")
# UUIDs (messageUUIDs, memo ids) are matched first and kept: their digit groups can look like a CPR
# ("8f313660-1234-..."), and masking them made log lines impossible to trace to a memo. Only UUIDs with a
# hex letter in them: a random v4 UUID has one, a CPR dressed up as an all-digit "UUID" stays masked.
UUID_IN_TEXT = re.compile(
    r"(?=[0-9-]{0,35}[a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_UUID_OR_CPR = re.compile(rf"(?P<uuid>{UUID_IN_TEXT.pattern})|(?<!\d)(?P<head>\d{{6}})-?\d{{4}}(?!\d)")


def _mask_match(m: re.Match[str]) -> str:
    if m.group("uuid") is not None:
        return m.group(0)
    return f"{m.group('head')}-{CPR_MASK_SUFFIX}"


# Fast path for ASCII text (most log lines): bytes.translate maps digits to "0", keeps "-" and blanks the
# rest, so a plain substring search tells whether any candidate exists at all. ~10x faster than running
# the regular expression on a line without one (measured: 2.4 vs 27 us for a 155-character log line).
_DIGIT_SHAPE = bytes(0x30 if 0x30 <= b <= 0x39 else b if b == 0x2D else 0x20 for b in range(256))


def normalize_cpr(text: str) -> str:
    """Strip surrounding white space and one optional ``-`` after 6 digits; 10 ASCII digits must remain."""
    candidate = text.strip()
    match = _CPR_TEXT.fullmatch(candidate)
    if match is None:
        raise IdentifierError(_cpr_shape_problem(candidate))
    return match.group(1) + match.group(2)


def _cpr_shape_problem(candidate: str) -> str:
    if not candidate:
        return "CPR number is empty"
    if not candidate.isascii():
        return "CPR number contains non-ASCII characters (only the digits 0-9 are allowed)"
    digits = sum(ch.isdigit() for ch in candidate)
    if digits != len(candidate.replace("-", "")):
        return "CPR number may contain only digits and one '-' after the 6th digit"
    if digits != 10:
        return f"CPR number must have 10 digits, got {digits}"
    return "CPR number may have one '-' only after the 6th digit (DDMMYY-SSSS)"


def cpr_century(cpr: str) -> int:
    """The century (1800, 1900 or 2000) of a normalised CPR number, from its 7th digit and year."""
    yy = int(cpr[4:6])
    seventh = int(cpr[6])
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def cpr_findings(cpr: str) -> list[Finding]:
    """Every problem with a CPR number (format, date, century); empty when valid. No modulus-11 check.

    Messages name the offending part (e.g. the month) but never the whole number.
    """
    try:
        normalised = normalize_cpr(cpr)
    except IdentifierError as exc:
        return [Finding("cpr.format", str(exc))]
    day, month = int(normalised[0:2]), int(normalised[2:4])
    year = cpr_century(normalised) + int(normalised[4:6])
    if not 1 <= month <= 12:
        return [
            Finding("cpr.date", f"the first six digits (DDMMYY) are no date: month {month:02d} is not 01-12")
        ]
    try:
        date(year, month, day)
    except ValueError:
        return [
            Finding(
                "cpr.date",
                f"the first six digits (DDMMYY) are no date: day {day:02d} does not exist in "
                f"{month:02d}/{year} (century from the 7th digit)",
            )
        ]
    return []


def cpr_birth_date(cpr: str) -> date:
    """The birth date of a valid CPR number (raises :class:`IdentifierError` when it is not valid)."""
    normalised = validate_cpr(cpr)
    year = cpr_century(normalised) + int(normalised[4:6])
    return date(year, int(normalised[2:4]), int(normalised[0:2]))


def validate_cpr(text: str) -> str:
    """The normalised CPR number, or :class:`IdentifierError` naming every problem."""
    findings = cpr_findings(text)
    if findings:
        raise IdentifierError("; ".join(f.message for f in findings))
    return normalize_cpr(text)


def cpr_has_modulus11(cpr: str) -> bool:
    """Whether the pre-2007 check digit holds. Informational only: never reject a CPR on this."""
    normalised = normalize_cpr(cpr)
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    return sum(int(d) * w for d, w in zip(normalised, weights, strict=True)) % 11 == 0


def cvr_findings(cvr: str) -> list[Finding]:
    """Every problem with a CVR number (8 ASCII digits, modulus 11); empty when valid."""
    candidate = cvr.strip()
    if not candidate:
        return [Finding("cvr.format", "CVR number is empty")]
    if _DIGITS.fullmatch(candidate) is None:
        return [Finding("cvr.format", "CVR number may contain only the digits 0-9")]
    if len(candidate) != 8:
        return [Finding("cvr.format", f"CVR number must have 8 digits, got {len(candidate)}")]
    total = sum(int(d) * w for d, w in zip(candidate, CVR_WEIGHTS, strict=True))
    if total % 11:
        return [
            Finding(
                "cvr.modulus11",
                f"CVR number {candidate} fails the modulus-11 check "
                f"(weighted sum {total}, remainder {total % 11})",
            )
        ]
    return []


def validate_cvr(text: str) -> str:
    """The CVR number without surrounding space, or :class:`IdentifierError` naming the problem."""
    findings = cvr_findings(text)
    if findings:
        raise IdentifierError("; ".join(f.message for f in findings))
    return text.strip()


def is_valid_cvr(text: str) -> bool:
    return not cvr_findings(text)


def mask_cpr(cpr: str) -> str:
    """``0102031234`` or ``010203-1234`` → ``010203-xxxx`` (the birth date stays readable for support)."""
    return normalize_cpr(cpr)[:6] + "-" + CPR_MASK_SUFFIX


def mask_cprs(text: str) -> str:
    """Mask every CPR-looking token (10 digits or ``DDMMYY-SSSS`` not inside a longer digit run)."""
    if text.isascii():
        shape = text.encode("ascii").translate(_DIGIT_SHAPE)
        if b"0000000000" not in shape and b"000000-0000" not in shape:
            return text
    return _UUID_OR_CPR.sub(_mask_match, text)
