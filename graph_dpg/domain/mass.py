"""Mass delivery (masseforsendelse): the recipient list of ``masseforsendelse.txt``.

See docs/product.md, "Mass delivery".

The file has one CPR or CVR number per line. Blank lines and surrounding spaces are ignored; a UTF-8/UTF-16
byte-order mark, CRLF line ends and a CPR's optional dash are tolerated. Everything else is an error, reported
with its line number and the value masked, because the sender must fix the file and resend:

- a line that is neither 10 digits (CPR, with an optional dash after 6) nor 8 digits (CVR);
- a CPR that is no valid date, a CVR that fails modulus 11;
- the same recipient twice (sending one citizen two copies of a letter is never what was meant, and it
  makes the announced count ambiguous).

The announced count N in ``masseforsendelse-N@...`` must equal the number of recipients exactly; the check
is separate (``check_count``) so the receipt can say both what the file holds and what was announced.

Bounded: the lines are read one at a time (never one list of every line), at most
``MAX_LINE_FINDINGS`` problem lines are reported one by one (the rest in one summary finding, so a file of
junk cannot make a receipt of millions of findings), and reading stops after ``MAX_MASS_COUNT`` entries,
the most any address can announce.

Memory flat in the number of recipients (issue 18): ``parse_mass_file(..., keep_recipients=False)`` checks
the file without keeping its recipients (only their count), and ``iter_mass_recipients`` then yields them one
at a time for planning. Finding duplicates needs every identifier seen so far; they are kept as one packed
array of 8-byte integers (0.8 MB for 100,000 recipients instead of ~14 MB as a dict of strings), sorted to
find the repeated ones, and only those get a line number in a second pass.
"""

from __future__ import annotations

import codecs
import itertools
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from graph_dpg.core.errors import Finding
from graph_dpg.domain.addresses import MAX_MASS_COUNT
from graph_dpg.domain.identifiers import cpr_findings, cvr_findings, mask_cpr, mask_cprs

MASS_FILE_NAME = "masseforsendelse.txt"
BODY_PDF_NAME = "body.pdf"
MAX_LINE_FINDINGS = 100
# The line boundaries of str.splitlines.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class MassRecipient:
    line: int  # 1-based line number in the file, for receipts
    kind: str  # "cpr" | "cvr"
    id: str  # normalised digits

    @property
    def display(self) -> str:
        return mask_cpr(self.id) if self.kind == "cpr" else self.id


@dataclass(frozen=True)
class MassList:
    recipients: tuple[MassRecipient, ...]
    findings: tuple[Finding, ...]
    #: Non-blank lines read, valid or not (what the announced count is compared with).
    entries: int
    #: Valid recipients (``len(recipients)``, also when they were not kept: ``keep_recipients=False``).
    count: int = -1

    def __post_init__(self) -> None:
        if self.count < 0:
            object.__setattr__(self, "count", len(self.recipients))

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def _decode(data: bytes) -> str:
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Files saved by older Windows tools: the digits are ASCII either way, cp1252 only matters for junk.
        return data.decode("cp1252", errors="replace")


def _masked(value: str) -> str:
    # Mask first, then shorten: shortening first showed a CPR in clear when the line held more than one
    # ("0101700000;0…"), and mask_cpr raised on non-ASCII digits (str.isdigit accepts full-width ones).
    # Unprintable characters (NUL, escape sequences, bidi controls) are written as \u escapes: the finding
    # is stored (PostgreSQL refuses NUL) and shown in a receipt.
    masked = mask_cprs(value)
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in masked[:12])
    return shown + "…" if len(masked) > 12 else shown


def _lines(text: str) -> Iterator[str]:
    """``text.splitlines()``, one line at a time."""
    start = 0
    for m in _LINE_BREAK.finditer(text):
        yield text[start : m.start()]
        start = m.end()
    if start < len(text):
        yield text[start:]


def _entries(text: str) -> Iterator[tuple[int, str | None]]:
    """(line number, stripped value) of every non-blank line, up to ``MAX_MASS_COUNT`` of them; then one
    (line number, None) if the file has more."""
    entries = 0
    for lineno, raw in enumerate(_lines(text), start=1):
        value = raw.strip().strip("\ufeff")
        if not value:
            continue
        if entries == MAX_MASS_COUNT:
            yield lineno, None
            return
        entries += 1
        yield lineno, value


def _normalised(value: str) -> str:
    """A CPR's optional dash removed."""
    if len(value) == 11 and value[6] == "-" and (value[:6] + value[7:]).isascii():
        return value[:6] + value[7:]
    return value


def _repeated(text: str) -> set[int]:
    """The identifiers (as :func:`_key`) on more than one line, found in a packed array (8 bytes each)."""
    keys = array("q")
    for _lineno, value in _entries(text):
        if value is None:
            break
        value = _normalised(value)
        if value.isascii() and value.isdigit() and len(value) in (8, 10):
            keys.append(_key(value))
    ordered = sorted(keys)  # a list of ints for a moment; the array is dropped with it below
    del keys
    repeated = {a for a, b in itertools.pairwise(ordered) if a == b}
    del ordered
    return repeated


def _key(value: str) -> int:
    # 8 and 10 digits apart: CVR 12345678 is not CPR 0012345678.
    return int(value) + (10**10 if len(value) == 10 else 0)


def parse_mass_file(data: bytes, *, keep_recipients: bool = True) -> MassList:
    """Check ``masseforsendelse.txt``; its recipients are kept unless ``keep_recipients`` is False (then
    only counted: :func:`iter_mass_recipients` yields them again, one at a time)."""
    text = _decode(data)
    repeated = _repeated(text)
    recipients: list[MassRecipient] = []
    findings: list[Finding] = []
    seen: dict[str, int] = {}  # only identifiers that are repeated: their first line
    entries = unlisted = count = 0
    for lineno, value in _entries(text):
        if value is None:
            findings.append(
                Finding(
                    "mass.too-many",
                    f"the file has more than {MAX_MASS_COUNT:,} entries, the most a mass delivery can "
                    f"announce; it was read up to line {lineno - 1}",
                    MASS_FILE_NAME,
                    params={"limit": f"{MAX_MASS_COUNT:,}".replace(",", "."), "line": lineno - 1},
                )
            )
            break
        entries += 1
        problem = _line_problem(value, lineno, seen)
        if isinstance(problem, MassRecipient):
            if repeated and _key(problem.id) in repeated:
                seen[problem.id] = lineno
            count += 1
            if keep_recipients:
                recipients.append(problem)
        elif len(findings) < MAX_LINE_FINDINGS:
            findings.append(problem)
        else:
            unlisted += 1
    if unlisted:
        findings.append(
            Finding(
                "mass.more",
                f"{unlisted:,} more lines have problems like the ones above; only the first "
                f"{MAX_LINE_FINDINGS} are listed",
                MASS_FILE_NAME,
                params={"count": unlisted},
            )
        )
    if not count and not findings:
        findings.append(Finding("mass.empty", "the file lists no recipients", MASS_FILE_NAME))
    return MassList(tuple(recipients), tuple(findings), entries, count)


def iter_mass_recipients(data: bytes) -> Iterator[MassRecipient]:
    """The recipients of a file :func:`parse_mass_file` found without errors, in file order, one at a time
    (the same lines it counted; lines with a problem are skipped, there are none in such a file)."""
    for lineno, value in _entries(_decode(data)):
        if value is None:
            return
        problem = _line_problem(value, lineno, {})
        if isinstance(problem, MassRecipient):
            yield problem


def _line_problem(value: str, lineno: int, seen: dict[str, int]) -> MassRecipient | Finding:
    """The recipient on one non-blank line, or what is wrong with it."""
    path = f"{MASS_FILE_NAME}:{lineno}"
    value = _normalised(value)
    if not (value.isascii() and value.isdigit()) or len(value) not in (8, 10):
        return Finding(
            "mass.line",
            f"'{_masked(value)}' is neither a CPR (10 digits) nor a CVR (8 digits)",
            path,
            params={"line": lineno, "value": repr(_masked(value))},
        )
    kind = "cpr" if len(value) == 10 else "cvr"
    problems = cpr_findings(value) if kind == "cpr" else cvr_findings(value)
    errors = [p for p in problems if p.severity == "error"]
    shown = mask_cpr(value) if kind == "cpr" else value
    if errors:
        return Finding(
            "mass.identifier",
            f"{shown}: {errors[0].message}",
            path,
            params={"line": lineno, "value": shown},
        )
    if value in seen:
        return Finding(
            "mass.duplicate",
            f"{shown} is listed again (first on line {seen[value]})",
            path,
            params={"line": lineno, "value": shown, "first": seen[value]},
        )
    return MassRecipient(lineno, kind, value)


def check_count(mass: MassList, announced: int) -> list[Finding]:
    """The announced count must equal the number of entries in the file; else nothing is sent.

    Entries are the non-blank lines, valid or not, so a file with one bad line and a correct count gets one
    finding (the bad line), not two.
    """
    entries = mass.entries
    if entries == announced:
        return []
    return [
        Finding(
            "mass.count",
            f"the address announces {announced} recipients but {MASS_FILE_NAME} lists {entries}",
            MASS_FILE_NAME,
            params={"announced": announced, "entries": entries},
        )
    ]
