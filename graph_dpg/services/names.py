"""Names for numbers: cached CPR and CVR lookups, and the NgDP registration pre-check.

:class:`NameService` implements :class:`graph_dpg.ports.names.NameLookup` over the configured registers
(either may be absent: lookups are optional). Answers are cached in memory only, for ``ttl_seconds``
(setting ``GRAPH_DPG_NAME_CACHE_TTL_SECONDS``), at most ``max_entries`` of them: a name next to a CPR number
is personal data, so it is never written to disk and never logged. A failed lookup is not cached and never
raises: the answer has status ``error``, the failure is logged once (masked number, the reason, no name),
and the caller goes on without a name — a lookup never blocks sending.

:func:`precheck_registrations` asks NgDP's contact registry (``contacts/``) whether each recipient of a
mass delivery can receive ordinary Digital Post, so exempt and unknown recipients are reported up front.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from graph_dpg.core.errors import RemoteError
from graph_dpg.domain.identifiers import mask_cpr
from graph_dpg.domain.names import NameKind, NameResult, Registration, classify_number, registration_of
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.names import NameRegister

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600.0
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
    ) -> None:
        self._registers: dict[NameKind, NameRegister] = {r.kind: r for r in registers}
        self._ttl = ttl_seconds
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
            return NameResult(kind, normalised, "error", reason=str(exc))
        if self._ttl > 0:
            self._cache[key] = (now + self._ttl, result)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return result

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
