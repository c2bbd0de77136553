"""Names for numbers: cached CPR and CVR lookups, and the NgDP registration pre-check.

:class:`NameService` implements :class:`graph_dpg.ports.names.NameLookup` over the configured registers
(either may be absent: lookups are optional). Answers are cached in memory only, for ``ttl_seconds``
(setting ``GRAPH_DPG_NAME_CACHE_TTL_SECONDS``), at most ``max_entries`` of them: a name next to a CPR number
is personal data, so it is never written to disk and never logged. A failed lookup never raises: the
answer has status ``error``, the failure is logged once (masked number, the reason, no name) and answered
again from memory for ``error_ttl_seconds`` (a minute) before the register is asked again; the caller goes
on without a name — a lookup never blocks sending.

:func:`precheck_registrations` asks NgDP's contact registry (``contacts/``) whether each recipient of a
mass delivery can receive ordinary Digital Post, so exempt and unknown recipients are reported up front.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from graph_dpg.core.errors import InputError, RemoteError
from graph_dpg.domain.conversion import MemoPlan, Plan, render_from_template
from graph_dpg.domain.identifiers import mask_cpr
from graph_dpg.domain.names import (
    NameKind,
    NameResult,
    Registration,
    classify_number,
    recipient_label,
    registration_finding,
    registration_of,
)
from graph_dpg.domain.receipts import RecipientLine, RecipientStatus
from graph_dpg.domain.texts import Text, text
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.names import NameLookup, NameRegister
from graph_dpg.ports.store import OutboxEntry

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600.0
#: A failed lookup is answered ``error`` again for this long without asking (and without logging again):
#: a receipt's lines are built several times, and a register that is down is not hammered.
DEFAULT_ERROR_TTL_SECONDS = 60.0
DEFAULT_MAX_ENTRIES = 10_000
#: Lookups of one batch (the CLI, a mass delivery) in flight at once.
DEFAULT_CONCURRENCY = 4


class NameService:
    def __init__(
        self,
        registers: Iterable[NameRegister] = (),
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        error_ttl_seconds: float = DEFAULT_ERROR_TTL_SECONDS,
    ) -> None:
        self._registers: dict[NameKind, NameRegister] = {r.kind: r for r in registers}
        self._ttl = ttl_seconds
        self._error_ttl = error_ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[tuple[NameKind, str], tuple[float, NameResult]] = OrderedDict()

    def enabled(self, kind: NameKind) -> bool:
        return kind in self._registers

    async def aclose(self) -> None:
        for register in self._registers.values():
            await register.aclose()

    async def lookup(self, number: str) -> NameResult:
        kind, normalised = classify_number(number)
        key = (kind, normalised)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now < cached[0]:
            self._cache.move_to_end(key)
            return cached[1]
        register = self._registers.get(kind)
        if register is None:
            return NameResult(kind, normalised, "error", reason=f"{kind.upper()} lookup is not configured")
        try:
            result = await register.lookup(normalised)
        except RemoteError as exc:
            shown = mask_cpr(normalised) if kind == "cpr" else normalised
            log.warning("%s name lookup for %s failed: %s", kind.upper(), shown, exc)
            failed = NameResult(kind, normalised, "error", reason=str(exc))
            self._remember(key, failed, now + self._error_ttl if self._error_ttl > 0 else None)
            return failed
        self._remember(key, result, now + self._ttl if self._ttl > 0 else None)
        return result

    def _remember(self, key: tuple[NameKind, str], result: NameResult, until: float | None) -> None:
        if until is None:
            self._cache.pop(key, None)
            return
        self._cache[key] = (until, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    async def lookup_many(
        self, numbers: Sequence[str], concurrency: int = DEFAULT_CONCURRENCY
    ) -> list[NameResult]:
        """Every number's answer, in order (numbers must be valid: see ``classify_number``)."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(number: str) -> NameResult:
            async with gate:
                return await self.lookup(number)

        return list(await asyncio.gather(*(one(n) for n in numbers)))

    async def name_of(self, number: str) -> str | None:
        """The name to show next to ``number``, or None (not active, protected, failed, not configured)."""
        result = await self.lookup(number)
        return result.name if result.status == "active" else None


@dataclass(frozen=True)
class RegistrationCheck:
    """One recipient's standing in NgDP's contact registry (``number`` normalised)."""

    kind: NameKind
    number: str
    registration: Registration
    reason: str | None = None

    @property
    def shown_number(self) -> str:
        return mask_cpr(self.number) if self.kind == "cpr" else self.number

    def __repr__(self) -> str:
        return f"RegistrationCheck({self.kind} {self.shown_number}, {self.registration})"


async def check_registration(digital_post: DigitalPostPort, number: str) -> RegistrationCheck:
    """Ask ``contacts/`` about one CPR or CVR number; a failure is an ``error`` answer, not an exception."""
    kind, normalised = classify_number(number)
    try:
        contact = await (
            digital_post.lookup_contact(cpr=normalised)
            if kind == "cpr"
            else digital_post.lookup_contact(cvr=normalised)
        )
    except RemoteError as exc:
        shown = mask_cpr(normalised) if kind == "cpr" else normalised
        log.warning("NgDP contact lookup for %s failed: %s", shown, exc)
        return RegistrationCheck(kind, normalised, "error", str(exc))
    found = contact is not None
    status = contact.public_registration_status if contact is not None else None
    return RegistrationCheck(kind, normalised, registration_of(found, status))


async def precheck_registrations(
    digital_post: DigitalPostPort, numbers: Sequence[str], concurrency: int = DEFAULT_CONCURRENCY
) -> list[RegistrationCheck]:
    """Every recipient's standing, in order; callers report the ``exempt`` and ``unknown`` ones up front."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(number: str) -> RegistrationCheck:
        async with gate:
            return await check_registration(digital_post, number)

    return list(await asyncio.gather(*(one(n) for n in numbers)))


def not_deliverable(checks: Iterable[RegistrationCheck]) -> Mapping[str, list[RegistrationCheck]]:
    """The exempt and the unknown recipients, grouped (what a mass delivery reports up front)."""
    grouped: dict[str, list[RegistrationCheck]] = {"exempt": [], "unknown": []}
    for check in checks:
        if check.registration in grouped:
            grouped[check.registration].append(check)
    return grouped


# ---------------------------------------------------------------------------------------------------------
# Outbound: the mass-delivery pre-check, and names and registration words in receipts
# ---------------------------------------------------------------------------------------------------------

#: A mandatory letter (MeMo ``mandatory`` true) reaches exempt recipients too: NgDP's ``mandatoryPostAllowed``
#: "allows to send messages to parties that are exempt" (docs/facts/ngdp.md, "Contacts").
_MANDATORY = re.compile(rb"<(?:[\w.-]+:)?mandatory>\s*(?:true|1)\s*</")
#: Receipts of jobs with at most this many recipients name them; larger ones show the numbers only (a mass
#: delivery's receipt would otherwise cost one lookup per line).
NAMED_RECIPIENTS_MAX = 20


async def precheck_mass_plan(
    digital_post: DigitalPostPort, plan: Plan, concurrency: int = DEFAULT_CONCURRENCY
) -> int:
    """Leave the exempt and the unknown recipients out of a mass delivery's plan, each named in a warning
    for the receipt (CPR masked, with its line). A recipient whose check failed is kept: a failed check
    never blocks sending. Exempt recipients are kept when the letter is mandatory. When nobody would be
    left, the warnings become errors and the plan stays whole (the caller refuses the mail). Returns how
    many were left out."""
    if len(plan.memos) < 2:
        return 0
    first = plan.memos[0].memo_xml or b""
    mandatory = _MANDATORY.search(first[:200_000]) is not None
    checks = await precheck_registrations(digital_post, [m.recipient_id for m in plan.memos], concurrency)
    kept: list[MemoPlan] = []
    left_out = 0
    template_of: dict[str, str] = {}
    for memo, check in zip(plan.memos, checks, strict=True):
        drop = check.registration == "unknown" or (check.registration == "exempt" and not mandatory)
        finding = registration_finding(check.registration, check.shown_number, memo.line) if drop else None
        if finding is None:
            kept.append(memo)
            continue
        left_out += 1
        plan.findings.append(finding)
        if memo.memo_xml is not None:
            template_of[memo.message_uuid] = ""  # the template row itself is left out: see below
    if left_out and not kept:
        # Nobody left to send to: the mail is refused with the same sentences, as errors, and nothing is
        # sent (the plan is left whole; the caller rejects it).
        plan.findings[-left_out:] = [replace(f, severity="error") for f in plan.findings[-left_out:]]
        log.info("recipient pre-check: none of %d recipients can receive Digital Post", len(checks))
        return left_out
    if left_out and template_of:
        kept = _retemplate(kept, [m for m in plan.memos if m.message_uuid in template_of])
    plan.memos[:] = kept
    if left_out:
        log.info("recipient pre-check: %d of %d recipients left out", left_out, len(checks))
    return left_out


def _retemplate(kept: list[MemoPlan], removed_templates: list[MemoPlan]) -> list[MemoPlan]:
    """Rows re-addressed from a template row that was left out take its XML into the first of them."""
    xml_of = {m.message_uuid: m.memo_xml for m in removed_templates}
    out: list[MemoPlan] = []
    promoted: dict[str, str] = {}  # removed template uuid → the row that now carries its XML
    for memo in kept:
        old = memo.template_uuid
        if old is not None and old in xml_of:
            if old not in promoted:
                # The first row left becomes the template: the old one re-addressed to it (never the
                # removed recipient's XML as it is).
                promoted[old] = memo.message_uuid
                template = xml_of[old] or b""
                own = render_from_template(
                    template, memo.message_uuid, memo.recipient_kind, memo.recipient_id
                )
                memo = replace(memo, memo_xml=own, template_uuid=None)
            else:
                memo = replace(memo, template_uuid=promoted[old])
        out.append(memo)
    return out


async def annotate_recipient_lines(
    lines: list[RecipientLine],
    entries: Sequence[OutboxEntry],
    *,
    names: NameLookup | None,
    digital_post: DigitalPostPort,
    language: str,
    registrations: MutableMapping[str, Registration],
) -> list[RecipientLine]:
    """A small job's receipt lines with names ("Jens Hansen (010170-xxxx)") and, for a single send NgDP
    refused for its recipient, the recipient's registration in words (exempt, unknown).
    ``registrations`` caches the check per messageUUID (the lines are built more than once for one job).
    Nothing here fails the receipt: a failed lookup leaves the line as it was."""
    if len(entries) > NAMED_RECIPIENTS_MAX or len(lines) != len(entries):
        return lines
    out: list[RecipientLine] = []
    for line, entry in zip(lines, entries, strict=True):
        kind: NameKind = "cpr" if entry.recipient_kind == "cpr" else "cvr"
        if names is not None and names.enabled(kind):
            try:
                name = (await names.lookup(entry.recipient_id)).name
            except InputError:
                name = None
            if name:
                line = replace(line, recipient=recipient_label(entry.recipient_id, kind, name))
        if len(entries) == 1 and _about_the_recipient(line):
            registration = registrations.get(entry.message_uuid)
            if registration is None:
                try:
                    registration = (await check_registration(digital_post, entry.recipient_id)).registration
                except InputError:
                    registration = "error"
                if len(registrations) > 10_000:
                    registrations.clear()
                registrations[entry.message_uuid] = registration
            words = _REGISTRATION_WORDS.get(registration)
            if words is not None:
                # ngdp_status stays: it is what makes a business receipt's failure send a receipt mail.
                line = replace(line, detail=text(words, language))
        out.append(line)
    return out


def _about_the_recipient(line: RecipientLine) -> bool:
    """Did NgDP refuse the letter for its recipient: a NOT_ALLOWED business receipt, or a refusal whose
    error names the recipient (e.g. ``RECIPIENT_NOT_ALLOWED``)? Only then is the registration asked."""
    if line.ngdp_status == "NOT_ALLOWED":
        return True
    return line.status is RecipientStatus.REJECTED and "RECIPIENT" in line.detail.upper()


_REGISTRATION_WORDS: Mapping[str, Text] = {
    "exempt": Text.RECEIPT_RECIPIENT_EXEMPT,
    "unknown": Text.RECEIPT_RECIPIENT_UNKNOWN,
}
