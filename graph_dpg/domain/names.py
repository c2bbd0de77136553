"""Names for numbers: what a CPR or CVR lookup answered, and the rules that turn a register's record into it.

A name next to a CPR number is personal data: :class:`NameResult` never shows the name or the clear CPR
number in its ``repr`` (a log line that formats one shows neither), and :meth:`NameResult.to_json` masks the
CPR number (``010170-xxxx``). Statuses (issue 20):

* ``active``     the person or company exists and is current; ``name`` is its current name
* ``inactive``   a ceased company, or a person who is dead, has emigrated or disappeared; never a name
* ``protected``  a person with name and address protection; the name is not shown
* ``unknown``    the register does not know the number
* ``error``      the lookup failed (``reason`` says why, for stderr and the log; never a name)

The record shapes are the registers' own (docs/facts/datafordeler.md, docs/facts/cvr.md). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from graph_dpg.core.errors import Finding, IdentifierError
from graph_dpg.domain.identifiers import mask_cpr, normalize_cpr, validate_cpr, validate_cvr

NameKind = Literal["cpr", "cvr"]
NameStatus = Literal["active", "inactive", "protected", "unknown", "error"]
NAME_STATUSES: tuple[str, ...] = ("active", "inactive", "protected", "unknown", "error")

#: A name longer than this is cut (a register's name fits well within; bounds what a receipt shows).
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class NameResult:
    """The answer for one number. ``number`` is normalised (CPR: 10 digits, CVR: 8 digits)."""

    kind: NameKind
    number: str = field(repr=False)
    status: NameStatus
    name: str | None = field(default=None, repr=False)
    reason: str | None = None  # why the lookup failed (status "error"); never carries a name

    def __post_init__(self) -> None:
        if self.name is not None and self.status != "active":
            raise ValueError("only an active result carries a name")

    @property
    def shown_number(self) -> str:
        """The number as it may be shown or logged: CPR masked (``010170-xxxx``), CVR as it is."""
        return mask_cpr(self.number) if self.kind == "cpr" else self.number

    def __repr__(self) -> str:
        reason = f", reason={self.reason!r}" if self.reason else ""
        named = ", name=<hidden>" if self.name is not None else ""
        return f"NameResult({self.kind} {self.shown_number}, {self.status}{named}{reason})"

    def to_json(self) -> dict[str, Any]:
        """``{"number", "kind", "name", "status"}`` as ``graph-dpg lookup`` prints it (CPR masked)."""
        return {"number": self.shown_number, "kind": self.kind, "name": self.name, "status": self.status}


def classify_number(text: str) -> tuple[NameKind, str]:
    """``("cpr", "0101701234")`` or ``("cvr", "35833684")``; raises :class:`IdentifierError` otherwise.

    8 digits are a CVR number (modulus 11), 10 digits or ``DDMMYY-SSSS`` a CPR number (a valid date; no
    modulus 11 since 2007). Surrounding white space is ignored.
    """
    candidate = text.strip()
    if len(candidate) == 8 and candidate.isascii() and candidate.isdigit():
        return "cvr", validate_cvr(candidate)
    try:
        normalize_cpr(candidate)
    except IdentifierError:
        raise IdentifierError(
            f"{_shown(candidate)!r} is neither a CPR number (10 digits) nor a CVR number (8 digits)"
        ) from None
    return "cpr", validate_cpr(candidate)


def _shown(text: str) -> str:
    try:
        return mask_cpr(text)
    except IdentifierError:
        return text[:20]


def recipient_label(number: str, kind: NameKind, name: str | None) -> str:
    """How a receipt names a recipient: ``Jens Hansen (010170-xxxx)``, or only the (masked) number."""
    shown = mask_cpr(number) if kind == "cpr" else number
    return f"{name} ({shown})" if name else shown


def _clean_name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:MAX_NAME_CHARS] or None


# ---------------------------------------------------------------------------------------------------------
# CVR: the distribution search's Vrvirksomhed document
# ---------------------------------------------------------------------------------------------------------

#: ``virksomhedMetadata.sammensatStatus`` values that mean the company has ceased (prefixes of the status
#: casefolded and folded to ASCII by ``_ascii_fold``: Ophoert, Oploest, Tvangsoploest, Slettet;
#: docs/facts/cvr.md, "Status"). Anything else with an open life cycle counts as active.
#: "Under konkurs" (in bankruptcy) is not ceased: the company still exists until it is dissolved.
CEASED_STATUS_PREFIXES: tuple[str, ...] = ("ophort", "oplost", "tvangsoplost", "slettet")
#: ae, o-slash and a-ring by code point (the catalogue is the only place for Danish words).
_ASCII_FOLD = str.maketrans({0xE6: "ae", 0xF8: "o", 0xE5: "a"})


def _ascii_fold(value: str) -> str:
    return value.strip().casefold().translate(_ASCII_FOLD)


def _open(period: object) -> bool:
    """A ``periode`` with no ``gyldigTil`` (or none given) is the current one."""
    return not isinstance(period, Mapping) or period.get("gyldigTil") in (None, "")


def _current(entries: object) -> Mapping[str, Any] | None:
    """The entry of a CVR history list whose period is open, else the last one."""
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        return None
    items = [e for e in entries if isinstance(e, Mapping)]
    for entry in reversed(items):
        if _open(entry.get("periode")):
            return entry
    return items[-1] if items else None


def cvr_company_ceased(company: Mapping[str, Any]) -> bool:
    """True when the company's life cycle is closed or its status says it has ceased."""
    life = company.get("livsforloeb")
    if isinstance(life, Sequence) and not isinstance(life, str) and life:
        current = _current(life)
        if current is not None and not _open(current.get("periode")):
            return True
    metadata = company.get("virksomhedMetadata")
    status = metadata.get("sammensatStatus") if isinstance(metadata, Mapping) else None
    if isinstance(status, str) and _ascii_fold(status).startswith(CEASED_STATUS_PREFIXES):
        return True
    current_status = _current(company.get("virksomhedsstatus"))
    text = current_status.get("status") if current_status is not None else None
    return isinstance(text, str) and _ascii_fold(text).startswith(CEASED_STATUS_PREFIXES)


def cvr_result(cvr: str, company: Mapping[str, Any] | None) -> NameResult:
    """The answer for a CVR number from its ``Vrvirksomhed`` document (None: no hit)."""
    if company is None:
        return NameResult("cvr", cvr, "unknown")
    if cvr_company_ceased(company):
        return NameResult("cvr", cvr, "inactive")
    name: str | None = None
    metadata = company.get("virksomhedMetadata")
    newest = metadata.get("nyesteNavn") if isinstance(metadata, Mapping) else None
    if isinstance(newest, Mapping):
        name = _clean_name(newest.get("navn"))
    if name is None:
        current = _current(company.get("navne"))
        name = _clean_name(current.get("navn")) if current is not None else None
    return NameResult("cvr", cvr, "active", name)


# ---------------------------------------------------------------------------------------------------------
# CPR: a person record of Datafordeler's CPR custom services
# ---------------------------------------------------------------------------------------------------------

#: CPR's person status codes (``status``; docs/facts/datafordeler.md, "Person status").
CPR_ACTIVE_STATUSES = frozenset({"01", "03", "05", "07"})  # resident in Denmark or Greenland
CPR_INACTIVE_STATUSES = frozenset({"20", "70", "80", "90"})  # no residence, disappeared, emigrated, dead
CPR_VOID_STATUSES = frozenset({"30", "50", "60"})  # annulled, deleted, changed number: not a current person

#: ``beskyttelsestype`` values of name and address protection (docs/facts/datafordeler.md, "Protection").
NAME_PROTECTION_TYPES = frozenset({"NAVNE_OG_ADRESSEBESKYTTELSE", "NAVNEBESKYTTELSE", "0001"})


def _status_code(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:02d}"
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip().zfill(2)
    return None


def cpr_name_protected(person: Mapping[str, Any], today: date) -> bool:
    """True when a current name and address protection is registered for the person."""
    entries = person.get("beskyttelse")
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return False
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        kind = str(entry.get("beskyttelsestype") or "").strip().upper()
        if kind not in NAME_PROTECTION_TYPES:
            continue
        start, end = entry.get("virkningFra"), entry.get("virkningTil")
        if isinstance(start, str) and start[:10] > today.isoformat():
            continue
        if isinstance(end, str) and end and end[:10] <= today.isoformat():
            continue
        return True
    return False


def cpr_person_name(person: Mapping[str, Any]) -> str | None:
    """``adresseringsnavn`` if given, else first, middle and last names joined."""
    names = person.get("navn")
    if isinstance(names, Sequence) and not isinstance(names, str):
        names = _current(names)
    if not isinstance(names, Mapping):
        return None
    addressing = _clean_name(names.get("adresseringsnavn"))
    if addressing:
        return addressing
    parts = [_clean_name(names.get(k)) for k in ("fornavne", "mellemnavn", "efternavn")]
    return _clean_name(" ".join(p for p in parts if p))


def cpr_result(cpr: str, person: Mapping[str, Any] | None, today: date) -> NameResult:
    """The answer for a CPR number from its person record (None: no record)."""
    if person is None:
        return NameResult("cpr", cpr, "unknown")
    status = _status_code(person.get("status"))
    if status in CPR_VOID_STATUSES:
        return NameResult("cpr", cpr, "unknown")
    if status in CPR_INACTIVE_STATUSES:
        return NameResult("cpr", cpr, "inactive")
    if cpr_name_protected(person, today):
        return NameResult("cpr", cpr, "protected")
    return NameResult("cpr", cpr, "active", cpr_person_name(person))


# ---------------------------------------------------------------------------------------------------------
# NgDP registration pre-check
# ---------------------------------------------------------------------------------------------------------

Registration = Literal["registered", "exempt", "unknown", "error"]


def registration_finding(registration: Registration, recipient: str, line: int | None) -> Finding | None:
    """The warning a mass delivery's receipt gives a recipient the pre-check left out (``recipient`` as
    shown: CPR masked), or None when the recipient is registered or the check failed."""
    if registration == "exempt":
        return Finding(
            "recipient.exempt",
            f"recipient {recipient} is exempt from Digital Post: not sent",
            path=f"line {line}" if line is not None else "",
            severity="warning",
            params={"recipient": recipient, "line": line if line is not None else "-"},
        )
    if registration == "unknown":
        return Finding(
            "recipient.unknown",
            f"recipient {recipient} is not known to Digital Post: not sent",
            path=f"line {line}" if line is not None else "",
            severity="warning",
            params={"recipient": recipient, "line": line if line is not None else "-"},
        )
    return None


def registration_of(found: bool, public_registration_status: str | None) -> Registration:
    """What NgDP's contact registry says about delivering ordinary Digital Post to a recipient:
    ``REGISTERED`` → registered; ``EXEMPT`` or ``CLOSED`` → exempt; no contact → unknown
    (docs/facts/ngdp.md, "Contacts")."""
    if not found:
        return "unknown"
    if public_registration_status == "REGISTERED":
        return "registered"
    return "exempt" if public_registration_status in ("EXEMPT", "CLOSED") else "unknown"
