"""The memo pipeline: memos NgDP holds for us (pulled, or pushed and stored by the receiver) → routed →
delivered as readable mails → acknowledged (and deleted) at NgDP.

State machine of one memo (rows in the store; ``graph_dpg.ports.store``)::

    NgDP list ──get_memo──► store_inbound_memo ──► RECEIVED     (push: the receiver stores it alike)
    RECEIVED  ──route (decided once, kept with the memo)──► create message (unless found by its
              extended property) ──► DELIVERED
    DELIVERED ──receipt COMPLETED | INVALID──► ACKNOWLEDGED ──DELETE memos/{id} (pull only)──► DELETED
    RECEIVED  ──N permanent failures at the target (AuthError/PermanentError)──► route replaced once by the
              main mailbox + a banner naming the target and the error (kept with the memo, too)

Why nothing is lost and nothing is delivered twice:

- the memo is stored (durable) before anything else; NgDP keeps it until we delete it, after delivery;
- the route (mailbox, folder, rules that matched, banner; ``domain.routing.InboundRoute``) is recorded
  once with the memo before the message is created, so a rerun after a crash delivers to the same place
  even if rules changed meanwhile (e.g. a rule got disabled) and rule hits are counted once;
- the delivered message carries the named extended property ``DpgInboundMemo`` = memo id; before creating,
  the folder is searched for it (``services.effects.Marker``), so a crash between "created" and the
  delivered mark reuses the message; only the attempt that recorded the route skips the search, since
  no attempt before it can have written anything (:class:`_Attempt`);
- a claimed batch's delivered marks are committed at once after its last memo, and so are its deleted
  marks (:meth:`MemoPipeline._record_delivered`, :meth:`MemoPipeline.acknowledge_pending`): a crash
  before the commit repeats the step, which finds what it wrote (above) or is answered "already done" by
  NgDP (below);
- the receipt is sent only in DELIVERED, the delete only after the receipt was answered; the two are
  recorded together (DELIVERED → DELETED, one transaction), or the receipt alone (ACKNOWLEDGED) when the
  delete failed, which is then tried again without the receipt; NgDP's "receipt exists" (409) and "already
  deleted" (404) answers count as success (the client translates them), so repeats are safe;
- every replica delivers and acknowledges, but only memos it claims (issue 18; :class:`_Claims`): the
  claim is renewed while the replica works and checked right before each memo's delivery and receipt (in the
  database when it may be near its end, see :class:`_Claims`), so
  the find-then-create above never runs for one memo on two replicas at once (it would find nothing
  twice); a replica that dies keeps its memos claimed until the claim expires (``claim_s``), and the next
  holder finds what it already wrote by the marker.

Memos forwarded as S/MIME e-mail by NgDP's SMTP recipient system (source ``mail``, stored by
``services.inbound.forwarded``) are delivered alike and end in ACKNOWLEDGED: answered with the REST
receipt when ``forwarded_receipt`` (a 404 counts as acknowledged, as for pushed memos), else not at all.

Pushed memos: NgDP's push is acknowledged by the business receipt alone (there is nothing to delete:
NgDP stops redelivering once the receiver answered 200), so they end in ACKNOWLEDGED. A 404 on their
receipt means NgDP no longer holds the memo; it is logged and counted as acknowledged.

Invalid memos (unreadable, unsafe XML, XSD/business-rule findings) are still delivered, to the main
mailbox with an explanation banner and the raw XML attached, and answered with an INVALID receipt.

The failure boundary of one memo (``services.boundary``): an exception nobody foresaw while the memo is
read makes it unreadable (an invalid memo, as above, with the error as its finding); one while it is
routed or shown replaces its route once by the main mailbox (``domain.routing.unshown_route``), and the
memo is delivered raw with a banner saying it could not be shown and why, then answered as its content
deserves (COMPLETED for a valid memo). Each is logged once with its traceback and counted; the next
memo is handled either way.

A target mailbox that is full (``MailboxFullError``, Graph 507 ErrorQuotaExceeded) is alerted to the
monitoring mailbox once a day per mailbox; a memo whose target keeps failing transiently (full, or
unreachable) for ``fallback_after_seconds`` after it came is delivered to the main mailbox instead, with
the banner naming the target and why. The main mailbox itself is tried until it works: NgDP keeps the
memo meanwhile, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType

from graph_dpg.core.errors import (
    AuthError,
    Finding,
    GraphDpgError,
    InputError,
    MailboxFullError,
    MessageTooLargeError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from graph_dpg.domain.html_text import html_to_text
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import (
    ViewOptions,
    file_names,
    findings_json,
    format_size,
    render_invalid_mail,
    render_memo_mail,
    render_memo_part,
    render_unshown_mail,
)
from graph_dpg.domain.mail import EmailAddress, MailMessage
from graph_dpg.domain.routing import (
    InboundRoute,
    ParsedMemo,
    gateway_reply_address,
    invalid_route,
    memo_route,
    memo_rule_item,
    parse_inbound,
    route_banner,
    unshown_route,
)
from graph_dpg.domain.split import (
    FOLLOW_UP_BODY,
    SplitPlan,
    encoded_cost,
    lowered_limit,
    part_capacity,
    part_cost,
    plan_split,
    replan,
)
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo.model import MemoMessage
from graph_dpg.ports.digital_post import DigitalPostPort
from graph_dpg.ports.names import NameLookup
from graph_dpg.ports.store import (
    AuditEntry,
    DeliveredMemo,
    Effect,
    InboundMemo,
    InboundMemos,
    InboundSource,
    InboundState,
    MemoStore,
    ReceivedMemo,
)
from graph_dpg.services.alerts import (
    Alert,
    AlertService,
    mailbox_full_alert,
    unmapped_contact_point_alert,
)
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures, Stage
from graph_dpg.services.effects import EffectBook, EffectKey, EffectKind, Marker
from graph_dpg.services.inbound.shared import ARCHIVE_PROPERTY, InboundParts, InboundStats
from graph_dpg.services.inbox_rules import InboxRuleCache

log = logging.getLogger(__name__)

#: Named extended property on delivered memos: the memo's id.
MEMO_PROPERTY = "DpgInboundMemo"
#: Named extended property on parts 2..N of a memo split into several mails: ``{memo id}:{part}``.
MEMO_PART_PROPERTY = "DpgInboundMemoPart"
#: What part 1's banners may add to its body per file of the memo, and in all (the split and oversize
#: banners list the files); the estimate of part 1's size is the rendered letter plus this.
_BANNER_RESERVE_PER_FILE = 400
_BANNER_RESERVE = 8 * 1024

#: The pull stores what it fetched once this many memos, or this many bytes of them, are waiting (one
#: transaction per batch; what the fetchers hold at once stays bounded).
_PULL_STORE_MEMOS = 10
_PULL_STORE_BYTES = 16 * 1024 * 1024

#: Earlier versions kept a memo's route, and its fallback, as effects under these keys.
_LEGACY_ROUTE_PREFIX = "inbound:"
_LEGACY_FALLBACK_PREFIX = "inbound-fallback:"
_LEGACY_PREFIXES = (_LEGACY_FALLBACK_PREFIX, _LEGACY_ROUTE_PREFIX)  # a fallback wins over the route


class _PartRefused(Exception):
    """Part ``part`` of a split memo was refused as too big (``error``)."""

    def __init__(self, part: int, error: MessageTooLargeError) -> None:
        super().__init__(f"part {part}: {error}")
        self.part = part
        self.error = error


class _Claims:
    """The memos one step of this replica claimed (issue 18): renewed every third of the claim's time while
    the step runs, each checked just before its outside effect, and released once the step is over. A memo
    whose step is done is released by the state change that records it (``release=`` the owner; any replica
    may take its next step); one whose step failed stays claimed until the step ends, so the step does not
    take it again and again.

    The check before an effect asks the database only when the claim may be near its end: a claim can pass
    to another replica only once it has expired (nothing else ends it but its holder's release), and this
    replica knows a time before which it cannot have expired, the ``clock`` reading taken before the claim
    or renewal was written plus ``ttl_s`` (the database's clock, which stamps the claim, is read inside that
    transaction, after it). While at least :attr:`FRESH` of the claim's time is left by that reckoning the
    memo is certainly still this replica's, and the check costs no transaction; otherwise it renews the
    claim in the database (a whole ``ttl_s`` from then) and learns whether the memo is still its own."""

    #: The share of the claim's time that must be left for the check to answer without the database: the
    #: background renewal (every third of it) keeps a running step's claims above it.
    FRESH = 2 / 3

    def __init__(
        self, store: InboundMemos, owner: str, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._owner = owner
        self._ttl_s = ttl_s
        self._clock = clock
        self._held: dict[str, float] = {}  # memo → the clock reading before which its claim cannot expire
        self._renewer: asyncio.Task[None] | None = None

    @property
    def owner(self) -> str:
        return self._owner

    async def take(
        self, state: InboundState, limit: int, source: InboundSource | None = None
    ) -> list[InboundMemo]:
        until = self._clock() + self._ttl_s
        rows = await blocking(
            self._store.claim_inbound, self._owner, state, self._ttl_s, limit, source=source
        )
        self._held.update((r.memo_uuid, until) for r in rows)
        return rows

    async def mine(self, memo_uuid: str) -> bool:
        """Whether the memo is still this replica's, with at least :attr:`FRESH` of a claim's time left (the
        check right before a delivery or a receipt: a memo whose claim was lost is left to its new holder)."""
        until = self._held.get(memo_uuid)
        if until is not None and until - self._clock() >= self.FRESH * self._ttl_s:
            return True
        renewed = self._clock() + self._ttl_s
        try:
            held = await blocking(self._store.renew_inbound_claims, self._owner, [memo_uuid], self._ttl_s)
        except GraphDpgError as exc:
            log.warning("inbound memo %s: claim not renewed, left for later: %s", memo_uuid, exc)
            return False
        if memo_uuid not in held:
            self._held.pop(memo_uuid, None)
            log.warning("inbound memo %s: its claim expired and another replica took it over", memo_uuid)
            return False
        self._held[memo_uuid] = renewed
        return True

    def released(self, memo_uuid: str) -> None:
        """The store ended the claim with the memo's state change (``release=`` :attr:`owner`)."""
        self._held.pop(memo_uuid, None)

    async def release(self, memo_uuids: Collection[str]) -> None:
        for memo_uuid in memo_uuids:
            self._held.pop(memo_uuid, None)
        try:
            await blocking(self._store.release_inbound, self._owner, list(memo_uuids))
        except GraphDpgError as exc:  # the claims expire by themselves
            log.warning("inbound memo claims not released (they expire): %s", exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)  # the claim's own clock, not a synchronisation
            asked = set(self._held)
            if not asked:
                continue
            renewed = self._clock() + self._ttl_s
            try:
                held = await blocking(self._store.renew_inbound_claims, self._owner, asked, self._ttl_s)
            except GraphDpgError as exc:
                log.warning("inbound memo claims not renewed: %s", exc)
                continue
            for memo_uuid in asked:
                if memo_uuid not in self._held:
                    continue  # released meanwhile
                if memo_uuid in held:
                    self._held[memo_uuid] = renewed
                else:
                    del self._held[memo_uuid]

    async def __aenter__(self) -> _Claims:
        self._renewer = asyncio.create_task(self._renew(), name="inbound-claims")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.wait([self._renewer])  # its end, without swallowing a cancellation of ours
        if self._held:
            await self.release(set(self._held))


class _Attempt:
    """One delivery attempt of a memo (one call of ``MemoPipeline._deliver_parsed``): which of its writes
    may leave out the marker lookup (``Marker.find_or_create(first_attempt=...)``; issue 18: one Graph
    round trip less per memo).

    ``fresh``: this attempt recorded the memo's route (``record_inbound_route`` wrote it where there was
    none, in a transaction committed before any message is created). That write is the durable note that a
    delivery attempt starts: every version since the first records a memo's route before it creates a
    message for it (as this column, or before 0003 as the effect ``inbound:{memo}``, which
    ``_recorded_route`` moves to the column, not fresh), and a recorded route is never cleared, only
    replaced (fallback, unshown; never fresh). So when this attempt wrote it, no earlier attempt (a crash, a
    retry, a replica whose claim expired) can have created anything for the memo, in any mailbox: not the
    target's mail, nor a part of a split, nor an archive copy. Any attempt after it reads the route and
    looks every marker up as before.

    Within the attempt, a marker is written once without a lookup: a second write of the same marker in
    the same folder (a mailbox that refused the mail as too big, then the split's part 1; a part refused
    and planned again; an archive that is the target itself) looks it up, since the failed create may
    have left a message behind (a POST whose answer was lost, or one whose attachments failed and whose
    clean-up delete failed too: ``adapters.graph.mailbox.GraphMailbox._attach_or_discard``)."""

    def __init__(self, fresh: bool) -> None:
        self.fresh = fresh
        self._written: set[tuple[str, str, str, str]] = set()

    @staticmethod
    def _key(mailbox: str, folder: str, marker: Marker) -> tuple[str, str, str, str]:
        return (mailbox.lower(), folder, marker.name, marker.value)

    def unwritten(self, mailbox: str, folder: str, marker: Marker) -> bool:
        """Certainly nothing carries ``marker`` in that folder yet (the lookup may be left out)."""
        return self.fresh and self._key(mailbox, folder, marker) not in self._written

    def first(self, mailbox: str, folder: str, marker: Marker) -> bool:
        """:meth:`unwritten`, noting that a write of ``marker`` there starts now (the next one looks)."""
        first = self.unwritten(mailbox, folder, marker)
        self._written.add(self._key(mailbox, folder, marker))
        return first


class _XmlCache:
    """The XML of memos this replica just pulled and stored, kept for their delivery (issue 18: the
    delivery on the same replica need not read back what the pull has just written; one transaction less
    per memo). Bounded by count and by bytes, oldest out first; a memo not found here (another replica
    pulled it, pushed or forwarded, evicted, or a restart) is loaded from the store as before. Only XML the
    store took as new (``store_inbound_memo`` True) is kept: it is what the store holds, byte for byte
    (``raw`` is never rewritten; housekeeping only clears it for acknowledged memos, never delivered
    again)."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._xml: dict[str, bytes] = {}  # insertion order: oldest first
        self._bytes = 0

    def put(self, memo_uuid: str, xml: bytes) -> None:
        if len(xml) > self._max_bytes or self._max_items <= 0:
            return
        self.discard(memo_uuid)
        self._xml[memo_uuid] = xml
        self._bytes += len(xml)
        while len(self._xml) > self._max_items or self._bytes > self._max_bytes:
            oldest = next(iter(self._xml))
            self._bytes -= len(self._xml.pop(oldest))

    def get(self, memo_uuid: str) -> bytes | None:
        return self._xml.get(memo_uuid)

    def discard(self, memo_uuid: str) -> None:
        xml = self._xml.pop(memo_uuid, None)
        if xml is not None:
            self._bytes -= len(xml)

    def __len__(self) -> int:
        return len(self._xml)


@dataclass(frozen=True)
class _Delivered:
    """A memo delivered in this claimed batch, not yet recorded (``MemoPipeline.deliver_pending`` records
    the batch's at once): what to record, and what to count once it is."""

    row: InboundMemo
    mark: DeliveredMemo
    route: InboundRoute
    valid: bool


#: The steps :meth:`MemoPipeline.work_claimed` claims memos for: deliver (received), answer (delivered),
#: delete at NgDP (acknowledged, pulled ones only).
_CLAIMED_STEPS: tuple[tuple[InboundState, InboundSource | None], ...] = (
    (InboundState.RECEIVED, None),
    (InboundState.DELIVERED, None),
    (InboundState.ACKNOWLEDGED, InboundSource.PULL),
)


@dataclass
class MemoPipeline(InboundParts):
    ngdp: DigitalPostPort
    store: MemoStore
    alerts: AlertService | None = None  # where a full mailbox is alerted (None: not alerted)
    failures: ItemFailures = field(default_factory=ItemFailures)
    _refused: set[str] = field(default_factory=set, init=False)  # mailboxes that refused in this cycle
    _full: set[str] = field(default_factory=set, init=False)  # mailboxes found full in this cycle
    #: Mailboxes that refused a mail as too big: the lower limit assumed for them from then on (lower-case
    #: address → bytes). Kept for the process; a memo's own plan keeps the limit it was split for.
    _limits: dict[str, int] = field(default_factory=dict, init=False)
    #: The mailbox owners' Outlook inbox rules (None: not applied).
    inbox_rules: InboxRuleCache | None = None
    #: CVR names for the overview's sender (issue 20; None: not looked up). Looked up when a memo is
    #: parsed, kept in memory for the rendering that follows (names are never stored).
    names: NameLookup | None = None
    _sender_names: dict[str, str] = field(default_factory=dict, init=False)
    #: Who claims memos to deliver and acknowledge (the replica's name; issue 18), for how long a claim
    #: lasts without renewal (it is renewed every third of it while the step runs), and how many memos a
    #: replica claims at once (few, so that replicas share a backlog rather than one taking it all).
    claim_owner: str = field(default_factory=lambda: f"pipeline-{uuid.uuid4().hex[:12]}")
    claim_s: float = 120.0
    claim_chunk: int = 10
    #: The clock a claim's time is reckoned by in this process (:class:`_Claims`).
    claim_clock: Callable[[], float] = time.monotonic
    #: How many memos the pull fetches from NgDP at once.
    pull_concurrency: int = 4
    #: The pulled memos' XML kept for their delivery (:class:`_XmlCache`): at most this many, of at most
    #: this many bytes in all.
    xml_cache_memos: int = 100
    xml_cache_bytes: int = 32 * 1024 * 1024
    _xml: _XmlCache = field(init=False)
    _work: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)  # one claimed round at a time
    _alerts_now: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        self._xml = _XmlCache(self.xml_cache_memos, self.xml_cache_bytes)

    async def run(self, stats: InboundStats, *, pull: bool = True, alerts_now: bool = True) -> None:
        """One round: pull what NgDP holds (unless ``pull`` is False), deliver, acknowledge (each memo
        claimed first, see :meth:`work_claimed`)."""
        if pull:
            try:
                await self.pull(stats)
            except AuthError as exc:
                stats.errors.append(mask_cprs(f"pull: {exc}"))
                log.error(
                    "inbound pull stopped: authentication failed at %s: %s", exc.service, mask_cprs(str(exc))
                )
            except GraphDpgError as exc:
                stats.errors.append(mask_cprs(f"pull: {exc}"))
                log.warning("inbound pull failed: %s", mask_cprs(str(exc)))
        await self.work_claimed(stats, alerts_now=alerts_now)

    async def has_claimable(self) -> bool:
        """Whether :meth:`work_claimed` would claim anything now (one indexed read: a memo to deliver,
        answer or delete whose claim is free or expired), so an idle round costs one transaction, not a
        claim per step (issue 18)."""
        return await blocking(self.store.has_claimable_inbound, _CLAIMED_STEPS)

    async def work_claimed(
        self, stats: InboundStats, *, alerts_now: bool = True, checked: bool = False
    ) -> None:
        """Deliver, then acknowledge, memos this replica claims in small batches (issue 18: any replica, at
        the same time as others; a memo is worked on by its claim's holder only, and the claim is renewed
        while its delivery runs, so two replicas never deliver one memo side by side). ``alerts_now``:
        whether a rule that exceeds its time budget is alerted at once (False on replicas that do not hold
        the ``ngdp:memos`` lease: the holder mails the planned alerts, so no alert is written by two).
        Nothing claimable (:meth:`has_claimable`; ``checked``: the caller just asked): nothing is done."""
        if not checked and not await self.has_claimable():
            return
        async with self._work:  # one round of claimed work per pipeline (the runtime has two jobs)
            self._alerts_now = alerts_now
            try:
                await self.deliver_pending(stats)
                await self.acknowledge_pending(stats)
            finally:
                self._alerts_now = True

    # ------------------------------------------------------------------ pull
    async def pull(self, stats: InboundStats) -> None:
        """Fetch every memo NgDP holds for us and store it durably (nothing else happens before), up to
        ``pull_concurrency`` at once (NgDP answers in a few hundred milliseconds). The first failure stops
        the fetching of further memos; those fetched are kept, and the failure is raised.

        Fetched memos are stored a batch at a time (up to :data:`_PULL_STORE_MEMOS` memos or
        :data:`_PULL_STORE_BYTES` bytes, one transaction each; issue 18), not one transaction per memo.
        Nothing happens to a memo before it is stored, and NgDP keeps it until the gateway deletes it,
        after delivery: a crash before a batch is stored loses nothing (the next pull fetches those memos
        again)."""
        ids = await self.ngdp.list_memos()
        # What the store knows of the listed memos, read in one transaction rather than one per memo. A memo
        # stored meanwhile (pushed) is fetched once more and not stored twice (store_inbound_memos).
        known = await blocking(self.store.get_inbound_many, ids) if ids else {}
        listed = iter(ids)
        failed: list[Exception] = []
        fetched: list[ReceivedMemo] = []

        async def store_fetched() -> None:
            batch = list(fetched)
            fetched.clear()  # taken by this call (no await in between): each is stored by one call
            if not batch:
                return
            stored = await blocking(self.store.store_inbound_memos, batch)
            for memo in batch:
                if memo.memo_uuid in stored:
                    self._xml.put(memo.memo_uuid, memo.xml)  # what the store now holds, for the delivery
                    stats.pulled += 1

        async def fetcher() -> None:
            for memo_id in listed:  # one iterator shared by the fetchers: each memo is fetched once
                if failed:
                    return
                try:
                    memo = await self._pull_one(memo_id, known.get(memo_id), stats)
                    if memo is None:
                        continue
                    fetched.append(memo)
                    if (
                        len(fetched) >= _PULL_STORE_MEMOS
                        or sum(len(m.xml) for m in fetched) >= _PULL_STORE_BYTES
                    ):
                        await store_fetched()
                except Exception as exc:
                    failed.append(exc)
                    return

        await asyncio.gather(*(fetcher() for _ in range(max(1, self.pull_concurrency))))
        try:
            await store_fetched()  # what the fetchers left, after a failure too
        except Exception as exc:
            failed.append(exc)
        if failed:
            raise failed[0]

    async def _pull_one(
        self, memo_id: str, known: InboundMemo | None, stats: InboundStats
    ) -> ReceivedMemo | None:
        """The listed memo fetched, to be stored; None for one stored before (a relisted one is deleted
        again at NgDP here)."""
        if known is not None:
            if known.state is InboundState.DELETED and known.source is InboundSource.PULL:
                await self._relisted(known, stats)
            # Otherwise stored earlier: delivery and acknowledgement continue from its state.
            return None
        xml = await self.ngdp.get_memo(memo_id)
        received = AuditEntry("inbound.memo.received", memo_id, details={"size": len(xml), "source": "pull"})
        return ReceivedMemo(memo_id, InboundSource.PULL, xml, received)

    async def _relisted(self, row: InboundMemo, stats: InboundStats) -> None:
        """NgDP lists a memo this gateway already delivered, answered and deleted (its delete was lost, or
        NgDP offered it again under the same id). It was delivered once; it is deleted again, never
        delivered twice, and never left listed to be fetched every cycle."""
        try:
            await self.ngdp.delete_memo(row.memo_uuid)  # 404 (already gone) counts as done in the client
        except GraphDpgError as exc:
            await self._record_error(row, str(exc), stats)
            return
        stats.deleted += 1
        await blocking(
            self.store.audit, "inbound.memo.relisted", row.memo_uuid, details={"action": "deleted again"}
        )

    # ------------------------------------------------------------------ deliver
    def _claims(self) -> _Claims:
        return _Claims(self.store, self.claim_owner, self.claim_s, self.claim_clock)

    async def _legacy_effects(self, rows: Collection[InboundMemo]) -> dict[str, Effect]:
        """The route effects an earlier version may have left for ``rows`` without a route, read in one
        transaction for a claimed batch (see :meth:`_recorded_route`)."""
        keys = [p + r.memo_uuid for r in rows if r.route is None for p in _LEGACY_PREFIXES]
        return await blocking(self.store.get_effects, keys) if keys else {}

    async def deliver_pending(self, stats: InboundStats) -> None:
        """Deliver up to ``batch_size`` received memos, claimed ``claim_chunk`` at a time."""
        self._refused = set()
        self._full = set()
        budget = self.settings.batch_size
        async with self._claims() as claims:
            while budget > 0:
                asked = min(self.claim_chunk, budget)
                received = await claims.take(InboundState.RECEIVED, asked)
                if not received:
                    break
                budget = budget - len(received) if len(received) == asked else 0  # fewer: none left now
                legacy = await self._legacy_effects(received)
                delivered: list[_Delivered] = []
                for row in received:
                    if not await claims.mine(row.memo_uuid):
                        continue
                    try:
                        await self.deliver(row, stats, legacy=legacy, batch=delivered)
                    except GraphDpgError as exc:
                        await self._not_delivered(row, exc, stats)
                        continue  # kept claimed until the round ends: tried again next round
                    except Exception as exc:  # even the raw delivery failed (see deliver): the next round
                        shown = self.failures.crashed(Stage.INBOUND_MEMO, row.memo_uuid, exc)
                        await self._record_error(row, shown, stats)
                        continue
                # Delivered: the claims end with the batch's marks (any replica may acknowledge them).
                await self._record_delivered(delivered, stats, claims)

    async def _record_delivered(self, batch: list[_Delivered], stats: InboundStats, claims: _Claims) -> None:
        """Record the claimed batch's delivered memos in one transaction (issue 18: one commit per batch,
        not one per memo), each with its audit row, ending their claims.

        Crash safety: until this commits, each memo of the batch is RECEIVED with its route recorded and its
        message written. A crash (or a failed commit) before it repeats the delivery of those memos on the
        next attempt, on this replica or any other once the claims end or expire; that attempt reads the
        recorded route (so it is not fresh, :class:`_Attempt`) and finds each message by its marker
        instead of writing it again, then records it delivered. Nothing is acknowledged before the record
        (the receipt is sent only in DELIVERED), and the audit row is written with the record, once."""
        if not batch:
            return
        try:
            recorded = await blocking(
                self.store.mark_delivered_many, [d.mark for d in batch], release=claims.owner
            )
        except GraphDpgError as exc:
            for d in batch:  # kept claimed until the round ends; the next attempt finds each by its marker
                await self._record_error(d.row, str(exc), stats)
            log.warning("inbound memos delivered but not recorded yet (found again later): %s", exc)
            return
        for d in batch:
            memo_uuid = d.mark.memo_uuid
            if memo_uuid not in recorded:  # moved on meanwhile (only a replica that took the claim can)
                log.warning("inbound memo %s: delivered, but its state changed meanwhile", memo_uuid)
                continue
            claims.released(memo_uuid)
            self._xml.discard(memo_uuid)
            self._count_delivered(stats, d.route, d.valid)

    @staticmethod
    def _count_delivered(stats: InboundStats, route: InboundRoute, valid: bool) -> None:
        stats.delivered += 1
        if not valid:
            stats.invalid += 1
        if route.banner == "unshown":
            stats.unshown += 1
        if route.banner == "unmapped":
            stats.unmapped += 1
        if route.banner == "undeliverable":
            stats.fallbacks += 1

    async def _record_error(self, row: InboundMemo, error: str, stats: InboundStats) -> None:
        stats.errors.append(mask_cprs(f"memo {row.memo_uuid}: {error}"))
        try:
            await blocking(self.store.record_inbound_error, row.memo_uuid, error)
        except GraphDpgError as exc:
            log.warning("inbound memo %s: its error could not be recorded: %s", row.memo_uuid, exc)

    async def _not_delivered(self, row: InboundMemo, exc: GraphDpgError, stats: InboundStats) -> None:
        """A memo not delivered this time: the error is recorded; a full mailbox is alerted; after repeated
        permanent failures, or transient ones for too long, the memo goes to the main mailbox instead."""
        await self._record_error(row, str(exc), stats)
        log.warning("inbound memo %s not delivered yet: %s", row.memo_uuid, mask_cprs(str(exc)))
        try:
            reason = str(exc)
            if isinstance(exc, MailboxFullError):
                await self._mailbox_full(row)
                reason = text(Text.BANNER_MAILBOX_FULL, self.settings.language)
            if isinstance(exc, AuthError | PermanentError):
                if row.attempts + 1 >= self.settings.fallback_after_attempts:
                    await self._fall_back(row, reason)
            elif isinstance(exc, TransientError):
                waited = (datetime.now(UTC) - row.received_at).total_seconds()
                if waited >= self.settings.fallback_after_seconds:
                    await self._fall_back(row, reason)
        except GraphDpgError as again:
            stats.errors.append(mask_cprs(f"memo {row.memo_uuid}: {again}"))
            log.warning("inbound memo %s: no fallback yet: %s", row.memo_uuid, mask_cprs(str(again)))

    async def _mailbox_full(self, row: InboundMemo) -> None:
        """Alert the monitoring mailbox that the memo's target is full: once per mailbox and day."""
        current = await blocking(self.store.get_inbound, row.memo_uuid)
        route = await self._recorded_route(current) if current is not None else None
        mailbox = route.mailbox if route is not None and route.mailbox else self.settings.main_mailbox
        if self.alerts is None:
            return
        s = self.settings
        alert = mailbox_full_alert(mailbox, s.main_mailbox, s.fallback_after_seconds, s.language)
        day = datetime.now(UTC).date().isoformat()
        if await self.alerts.plan(
            EffectKey(EffectKind.ALERT, f"mailbox-full:{mailbox.lower()}:{day}"), alert
        ):
            log.error(
                "mailbox %s is full: Digital Post for it waits (alerted to %s)", mailbox, s.monitoring_mailbox
            )
            await blocking(self.store.audit, "inbound.mailbox.full", mailbox, details={"memo": row.memo_uuid})

    async def _fall_back(self, row: InboundMemo, error: str) -> None:
        """After repeated permanent failures (e.g. the target mailbox is outside the app's RBAC scope, or a
        rule names a folder that cannot be created) or transient ones for too long (e.g. the mailbox is
        full), deliver to the main mailbox with a banner that says why, instead of keeping the memo at
        NgDP forever. Recorded once, with the memo."""
        current = await blocking(self.store.get_inbound, row.memo_uuid)
        route = await self._recorded_route(current) if current is not None else None
        if route is None or route.undeliverable is not None:
            return
        if route.mailbox.lower() == self.settings.main_mailbox.lower():
            return
        fallback = route.fall_back(self.settings, error)
        if await blocking(self.store.record_inbound_route, row.memo_uuid, fallback.to_json(), replace=True):
            log.error(
                "inbound memo %s could not be delivered to %s (%s); delivering to the main mailbox",
                row.memo_uuid,
                route.mailbox,
                mask_cprs(error),
            )
            await blocking(
                self.store.audit,
                "inbound.memo.fallback",
                row.memo_uuid,
                details={"failed_mailbox": route.mailbox, "error": error[:500]},
            )

    async def _recorded_route(
        self, row: InboundMemo, legacy_effects: Mapping[str, Effect] | None = None
    ) -> InboundRoute | None:
        """The route recorded with the memo. A memo an earlier version routed has its route (or fallback)
        in an effect: it is moved to the memo's row here, and the effects are marked done.
        ``legacy_effects``: those effects as read for the memo's batch (None: read them now)."""
        if row.route is not None:
            return InboundRoute.from_json(row.route)
        keys = [p + row.memo_uuid for p in _LEGACY_PREFIXES]
        if legacy_effects is None:
            legacy_effects = await blocking(self.store.get_effects, keys)
        legacy = [legacy_effects[k] for k in keys if k in legacy_effects]
        if not legacy:
            return None
        await blocking(self.store.record_inbound_route, row.memo_uuid, legacy[0].payload)
        for effect in legacy:
            await blocking(self.store.complete_effect, effect.key, {"moved": "inbound_memos.route"})
        return InboundRoute.from_json(legacy[0].payload)

    async def deliver(
        self,
        row: InboundMemo,
        stats: InboundStats,
        *,
        legacy: Mapping[str, Effect] | None = None,
        release: str | None = None,
        batch: list[_Delivered] | None = None,
    ) -> str:
        """Deliver one stored memo; returns the created (or found) message id. Inside the failure boundary
        of the memo (see the module docstring): what nobody foresaw makes it unreadable or unshown.
        ``legacy``: an earlier version's route effects as read for the batch (:meth:`_recorded_route`);
        ``release``: the claim's owner, whose claim ends when the memo is recorded delivered; ``batch``:
        the memo is not recorded delivered here but added to it, for :meth:`_record_delivered`."""
        memo_uuid = row.memo_uuid
        xml = self._xml.get(memo_uuid)
        if xml is None:
            xml = await blocking(self.store.load_inbound_xml, memo_uuid)
        if xml is None:
            raise GraphDpgError(f"inbound memo {memo_uuid} has no stored XML")
        parsed = await self._parse(memo_uuid, xml)
        recorded = await self._recorded_route(row, legacy)
        try:
            return await self._deliver_parsed(row, xml, parsed, recorded, stats, release, batch)
        except GraphDpgError:
            raise
        except Exception as exc:
            if recorded is not None and recorded.banner == "unshown":
                raise  # the raw delivery failed too: recorded by the caller, tried again next cycle
            shown = self.failures.crashed(Stage.INBOUND_MEMO, memo_uuid, exc)
            raw = unshown_route(self.settings, shown, valid=parsed.valid, errors=parsed.errors)
            await blocking(self.store.record_inbound_route, memo_uuid, raw.to_json(), replace=True)
            await blocking(self.store.audit, "inbound.memo.unshown", memo_uuid, details={"error": shown})
            return await self._deliver_parsed(row, xml, parsed, raw, stats, release, batch)

    async def _parse(self, memo_uuid: str, xml: bytes) -> ParsedMemo:
        """The memo as read; one that makes the reader raise something unexpected is unreadable (invalid),
        with what went wrong as its finding."""
        try:
            parsed = await self.cpu.run(parse_inbound, xml)
        except Exception as exc:
            shown = self.failures.crashed(Stage.INBOUND_MEMO, memo_uuid, exc)
            return ParsedMemo(None, (Finding("memo.unreadable", f"the memo could not be read: {shown}"),))
        await self._look_up_sender(parsed.message)
        return parsed

    async def _look_up_sender(self, message: MemoMessage | None) -> None:
        """The CVR register's name of a company sender, for the overview; a failure leaves it out."""
        sender = message.header.sender if message is not None else None
        if self.names is None or sender is None or sender.id_type.upper() != "CVR":
            return
        if not self.names.enabled("cvr") or sender.sender_id in self._sender_names:
            return
        try:
            name = await self.names.name_of(sender.sender_id)
        except InputError:
            return
        if name:
            if len(self._sender_names) > 10_000:
                self._sender_names.clear()
            self._sender_names[sender.sender_id] = name

    def _sender_name(self, message: MemoMessage | None) -> str | None:
        sender = message.header.sender if message is not None else None
        return self._sender_names.get(sender.sender_id) if sender is not None else None

    async def _deliver_parsed(
        self,
        row: InboundMemo,
        xml: bytes,
        parsed: ParsedMemo,
        route: InboundRoute | None,
        stats: InboundStats,
        release: str | None = None,
        batch: list[_Delivered] | None = None,
    ) -> str:
        """Deliver a read memo along ``route`` (None: decide it now, and record it); recorded delivered
        now, or added to ``batch`` (see :meth:`deliver`)."""
        memo_uuid = row.memo_uuid
        fresh = False  # the route was recorded by this attempt: nothing was planned along it before
        if route is None:
            decided = await self._plan_route(memo_uuid, parsed, xml, stats)
            decided = await self._with_inbox_rules(memo_uuid, parsed, xml, decided)
            if await blocking(self.store.record_inbound_route, memo_uuid, decided.to_json()):
                await self.rules.count_hits(decided.rules)
                route, fresh = decided, True
            else:  # recorded meanwhile (by a replica whose claim expired): that route is the memo's
                current = await blocking(self.store.get_inbound, memo_uuid)
                recorded = await self._recorded_route(current) if current is not None else None
                route = recorded if recorded is not None else decided
        attempt = _Attempt(fresh)
        target = route.mailbox or self.settings.main_mailbox
        folder = route.folder or self.settings.delivery_folder
        if target.lower() in self._refused:
            raise AuthError(f"mailbox {target} refused access earlier in this cycle", service="graph")
        if target.lower() in self._full:
            raise MailboxFullError(
                f"mailbox {target} was full earlier in this cycle", "graph", 507, "ErrorQuotaExceeded"
            )

        answered = self._answered(row)

        async def build() -> MailMessage:
            mail = await self.cpu.run(self._render, memo_uuid, parsed, xml, route, target, None, answered)
            await self.categories.ensure(target, mail.categories)
            return mail

        try:
            folder_id = await self.mail.ensure_folder(target, folder)
            if parsed.valid and route.banner != "unshown":
                message_id = await self._deliver_letter(
                    memo_uuid, parsed, xml, route, target, folder_id, attempt=attempt
                )
            else:
                marker = Marker(MEMO_PROPERTY, memo_uuid)
                try:
                    first = attempt.first(target, folder_id, marker)
                    written = await marker.find_or_create(
                        self.mail, target, folder_id, build, first_attempt=first
                    )
                except MessageTooLargeError as exc:
                    # The mailbox takes less than configured: once more, planned for what it refused (and
                    # looked up: the refused create may have left something, see _Attempt).
                    self._refused_size(target, self._limit(target), exc)
                    first = attempt.first(target, folder_id, marker)
                    written = await marker.find_or_create(
                        self.mail, target, folder_id, build, first_attempt=first
                    )
                message_id = written.message_id
                limit = self._too_big(target, xml)
                if limit is not None:
                    await self._alert_raw_too_big(memo_uuid, xml, target, limit)
        except AuthError:
            # Usually one mailbox outside the app's RBAC scope: skip it for this cycle, keep the others going.
            self._refused.add(target.lower())
            raise
        except MailboxFullError:
            self._full.add(target.lower())
            raise
        for archive in route.archive_to:
            await self._archive_copy(archive, memo_uuid, parsed, xml, route, answered, attempt=attempt)
        delivered = AuditEntry(
            "inbound.memo.delivered",
            memo_uuid,
            details={
                "mailbox": target,
                "folder": folder,
                "valid": parsed.valid,
                "rules": list(route.rules),
                "banner": route.banner,
            },
        )
        if route.banner == "unmapped":
            # Planned before the memo is recorded delivered (idempotent: keyed by the contact point), so
            # a crash in between plans it on the repeat rather than losing it.
            await self._alert_unmapped(memo_uuid, route)
        if batch is not None:
            batch.append(
                _Delivered(row, DeliveredMemo(memo_uuid, target, message_id, delivered), route, parsed.valid)
            )
            return message_id
        await blocking(
            self.store.mark_delivered, memo_uuid, target, message_id, audit=delivered, release=release
        )
        self._xml.discard(memo_uuid)
        self._count_delivered(stats, route, parsed.valid)
        return message_id

    async def _alert_unmapped(self, memo_uuid: str, route: InboundRoute) -> None:
        """Tell IT once per contact point without a mailbox how to map it (the case worker's banner says
        whom to tell, not how): keyed by the contact point and whether the gateway file lists it, so a
        contact point that goes from unknown to ``mailbox: null`` is alerted again, a repeat is not."""
        cp_id = route.contact_point
        if self.alerts is None or cp_id is None:
            return
        s = self.settings
        known = s.contact_points.get(cp_id)
        state = "null" if known is not None else "unknown"
        alert = unmapped_contact_point_alert(
            cp_id, known.name if known else None, known is not None, s.main_mailbox, memo_uuid, s.language
        )
        if await self.alerts.plan(EffectKey(EffectKind.ALERT, f"unmapped-cp:{cp_id}:{state}"), alert):
            log.warning("contact point %s has no mailbox; its post goes to the main mailbox (alerted)", cp_id)

    async def _with_inbox_rules(
        self, memo_uuid: str, parsed: ParsedMemo, xml: bytes, route: InboundRoute
    ) -> InboundRoute:
        """``route`` with what the target mailbox's own Outlook inbox rules do to the mail (folder,
        categories, importance, read), decided once and recorded with the route. Rules run only on a valid
        memo delivered to the default delivery folder: a gateway rule that names a folder has decided."""
        named_folder = route.folder.casefold() != self.settings.delivery_folder.casefold()
        if self.inbox_rules is None or not parsed.valid or route.banner is not None or named_folder:
            return route
        target = route.mailbox or self.settings.main_mailbox
        mail = await self.cpu.run(self._render, memo_uuid, parsed, xml, route, target)
        outcome = await self.inbox_rules.outcome(target, mail, html_to_text(mail.body))
        if not outcome.rules:
            return route
        lang = self.settings.language
        actions = ", ".join(outcome.actions)
        note = text(Text.INBOX_RULE_APPLIED, lang, rule=", ".join(outcome.rules), actions=actions)
        return replace(
            route,
            folder=outcome.folder_id or route.folder,
            categories=tuple(dict.fromkeys([*route.categories, *outcome.categories])),
            mark_read=route.mark_read or outcome.mark_read,
            importance=outcome.importance,
            inbox_rules=outcome.rules,
            reasons=(*route.reasons, note),
        )

    # ------------------------------------------------------------------ size: one mail, or parts
    def _limit(self, mailbox: str) -> int:
        configured = self.settings.message_limit(mailbox)
        return min(configured, self._limits.get(mailbox.lower(), configured))

    def _split_key(self, memo_uuid: str, mailbox: str, version: int) -> EffectKey:
        return EffectKey(EffectKind.MEMO_SPLIT, f"{memo_uuid}:{mailbox.lower()}:{version}")

    def _part_key(self, memo_uuid: str, mailbox: str, part: int) -> EffectKey:
        return EffectKey(EffectKind.MEMO_PART, f"{memo_uuid}:{mailbox.lower()}:{part}")

    async def _recorded_plan(
        self, book: EffectBook, memo_uuid: str, mailbox: str
    ) -> tuple[int, SplitPlan | None]:
        """The newest split plan recorded for the memo in ``mailbox`` and its version (0, None: none)."""
        version, plan = 0, None
        while (effect := await book.get(self._split_key(memo_uuid, mailbox, version + 1))) is not None:
            version += 1
            plan = SplitPlan.from_json(effect.payload)
        return version, plan

    def _first_body(
        self, memo_uuid: str, parsed: ParsedMemo, xml: bytes, route: InboundRoute, target: str
    ) -> int:
        """Estimated bytes of part 1 without its files: the letter as rendered, plus room for the banners."""
        assert parsed.message is not None
        letter = self._render(memo_uuid, parsed, xml, route, target, SplitPlan(0, ((),), (), False))
        count = len(parsed.message.files())
        return len(letter.body.encode("utf-8")) + _BANNER_RESERVE + _BANNER_RESERVE_PER_FILE * count

    async def _deliver_letter(
        self,
        memo_uuid: str,
        parsed: ParsedMemo,
        xml: bytes,
        route: InboundRoute,
        target: str,
        folder_id: str,
        *,
        archive: bool = False,
        attempt: _Attempt | None = None,
    ) -> str:
        """A valid memo as one mail, or, when it is bigger than the mailbox takes, as numbered parts
        (``domain.split``); returns part 1's message id. The split is recorded (an effect) before the first
        part is written and each part is its own effect, so a crash between parts writes each part once.
        ``attempt``: which markers may be written without a lookup (:class:`_Attempt`; None: none); a fresh
        one recorded the route, so no split was planned along it (the split is planned after the route is
        recorded, and a route is never cleared): none is looked for.
        A mailbox that refuses a mail as too big (its admin set less than configured) is assumed to take a
        quarter less, and what is not delivered yet is planned again, down to ``domain.split.MIN_LIMIT``.
        ``archive``: the archive copy (marked by ``ARCHIVE_PROPERTY``, without the memo's Message-ID)."""
        message = parsed.message
        assert message is not None
        attempt = attempt if attempt is not None else _Attempt(False)
        first_property = ARCHIVE_PROPERTY if archive else MEMO_PROPERTY
        book = EffectBook(self.store, failures=self.failures, stage=Stage.INBOUND_MEMO)
        sizes = [f.size for f in message.files()]
        version, plan = (0, None) if attempt.fresh else await self._recorded_plan(book, memo_uuid, target)
        if plan is None:
            first_body = await self.cpu.run(self._first_body, memo_uuid, parsed, xml, route, target)
            limit = self._limit(target)
            plan = plan_split(sizes, limit, first_body=first_body, xml_size=len(xml))
            if not plan.split:
                whole = plan

                async def build() -> MailMessage:
                    mail = await self.cpu.run(
                        self._render_first, memo_uuid, parsed, xml, route, target, whole, archive
                    )
                    await self.categories.ensure(target, mail.categories)
                    return mail

                marker = Marker(first_property, memo_uuid)
                try:
                    unwritten = attempt.first(target, folder_id, marker)
                    written = await marker.find_or_create(
                        self.mail, target, folder_id, build, first_attempt=unwritten
                    )
                    return written.message_id
                except MessageTooLargeError as exc:
                    tried = part_cost(plan, 1, sizes, first_body=first_body, xml_size=len(xml))
                    lower = self._refused_size(target, min(plan.limit, tried), exc)
                    plan = plan_split(sizes, lower, first_body=first_body)
            else:
                # A whole mail written before (a crash, then the limit was lowered) is the delivery.
                whole_marker = Marker(first_property, memo_uuid)
                if not attempt.unwritten(target, folder_id, whole_marker):
                    found = await self.mail.find_by_extended_property(
                        target, folder_id, first_property, memo_uuid
                    )
                    if found:
                        return found[0]
            version = 1
            await book.plan(self._split_key(memo_uuid, target, version), plan.to_json())
            await self._audit_split(memo_uuid, target, plan)
        while True:
            try:
                first = await self._deliver_parts(
                    book, memo_uuid, parsed, xml, route, target, folder_id, plan, archive, attempt
                )
            except _PartRefused as refused:
                first_body = await self.cpu.run(self._first_body, memo_uuid, parsed, xml, route, target)
                tried = part_cost(plan, refused.part, sizes, first_body=first_body, xml_size=len(xml))
                lower = self._refused_size(target, min(plan.limit, tried), refused.error)
                again = replan(plan, refused.part - 1, sizes, lower, first_body=first_body)
                await book.plan(self._split_key(memo_uuid, target, version + 1), again.to_json())
                await book.complete(self._split_key(memo_uuid, target, version), {"superseded": True})
                version, plan = version + 1, again
                await self._audit_split(memo_uuid, target, plan)
                continue
            await book.complete(self._split_key(memo_uuid, target, version), {"delivered": True})
            if plan.oversized:
                await self._alert_oversized(memo_uuid, message, plan, target)
            return first

    def _refused_size(self, mailbox: str, limit: int, exc: MessageTooLargeError) -> int:
        """The lower limit to assume for ``mailbox`` after it refused a mail of about ``limit`` bytes (the
        smaller of the plan's limit and the refused mail's estimate); the refusal stands (raised) when the
        limit cannot go lower."""
        lower = lowered_limit(limit)
        if lower is None:
            raise exc
        self._limits[mailbox.lower()] = min(lower, self._limits.get(mailbox.lower(), lower))
        log.warning(
            "mailbox %s refused a mail of about %s as too big; planning for %s", mailbox, limit, lower
        )
        return lower

    async def _audit_split(self, memo_uuid: str, mailbox: str, plan: SplitPlan) -> None:
        await blocking(
            self.store.audit,
            "inbound.memo.split",
            memo_uuid,
            details={
                "mailbox": mailbox,
                "limit": plan.limit,
                "parts": plan.total,
                "oversized": len(plan.oversized),
            },
        )

    async def _deliver_parts(
        self,
        book: EffectBook,
        memo_uuid: str,
        parsed: ParsedMemo,
        xml: bytes,
        route: InboundRoute,
        target: str,
        folder_id: str,
        plan: SplitPlan,
        archive: bool = False,
        attempt: _Attempt | None = None,
    ) -> str:
        """Write the parts of ``plan`` not written yet, in order; part 1's message id. ``attempt``: which
        parts may be written without a lookup (:class:`_Attempt`; None: none)."""
        attempt = attempt if attempt is not None else _Attempt(False)
        message = parsed.message
        assert message is not None
        ids: list[str] = []
        for number in range(1, plan.total + 1):
            key = self._part_key(memo_uuid, target, number)
            effect = await book.get(key)
            done = effect.result.get("message_id") if effect is not None and effect.result else None
            if isinstance(done, str) and done:
                ids.append(done)
                continue
            await book.plan(key, {"part": number, "of": plan.total})

            async def build(part: int = number) -> MailMessage:
                if part == 1:
                    mail = await self.cpu.run(
                        self._render_first, memo_uuid, parsed, xml, route, target, plan, archive
                    )
                else:
                    mail = await self.cpu.run(self._render_part, message, route, target, plan, part)
                await self.categories.ensure(target, mail.categories)
                return mail

            marker = (
                Marker(ARCHIVE_PROPERTY if archive else MEMO_PROPERTY, memo_uuid)
                if number == 1
                else Marker(MEMO_PART_PROPERTY, f"{memo_uuid}:{number}")
            )
            first = attempt.first(target, folder_id, marker)
            try:
                written = await marker.find_or_create(
                    self.mail, target, folder_id, build, first_attempt=first
                )
            except MessageTooLargeError as exc:
                raise _PartRefused(number, exc) from exc
            await book.complete(key, written.result())
            ids.append(written.message_id)
        return ids[0]

    def _render_first(
        self,
        memo_uuid: str,
        parsed: ParsedMemo,
        xml: bytes,
        route: InboundRoute,
        target: str,
        plan: SplitPlan,
        archive: bool,
    ) -> MailMessage:
        mail = self._render(memo_uuid, parsed, xml, route, target, plan)
        if archive:
            # A second copy with the same Message-ID would confuse reply threading; the archive is for
            # reading.
            mail.internet_message_id = None
        return mail

    def _render_part(
        self, message: MemoMessage, route: InboundRoute, target: str, plan: SplitPlan, part: int
    ) -> MailMessage:
        s = self.settings
        address = gateway_reply_address(s, message, target)
        reply_from = EmailAddress(address, message.header.sender.label) if address else None
        return render_memo_part(
            message,
            plan,
            part,
            target_mailbox=target,
            reply_from=reply_from,
            categories=list(route.categories),
            options=ViewOptions(s.language, s.mask_cpr, self._sender_name(message)),
            mark_read=route.mark_read,
        )

    async def _alert_oversized(
        self, memo_uuid: str, message: MemoMessage, plan: SplitPlan, mailbox: str
    ) -> None:
        """Tell IT once that files of the memo could not be mailed (the case worker's banner says so too)."""
        lang = self.settings.language
        names = file_names(message, lang)
        files = message.files()
        listed = ", ".join(f"{names[i]} ({format_size(files[i].size, lang)})" for i in plan.oversized)
        what = text(
            Text.OVERSIZED_ALERT_TEXT,
            lang,
            uuid=memo_uuid,
            mailbox=mailbox,
            files=listed,
            limit=format_size(plan.limit, lang),
        )
        if await self._alert_too_big(memo_uuid, mailbox, what):
            log.error(
                "inbound memo %s: %d file(s) too big for %s (alerted)",
                memo_uuid,
                len(plan.oversized),
                mailbox,
            )

    async def _alert_too_big(self, memo_uuid: str, mailbox: str, what: str) -> bool:
        """The one IT alert per memo about something too big for ``mailbox``: ``what`` happened, then how
        to take the memo out of the store. True when it was planned now (not already sent)."""
        if self.alerts is None:
            return False
        lang = self.settings.language
        alert = Alert(
            subject=text(Text.OVERSIZED_ALERT_SUBJECT, lang, mailbox=mailbox),
            title=text(Text.OVERSIZED_ALERT_TITLE, lang),
            lines=(what, text(Text.OVERSIZED_ALERT_FIX, lang, uuid=memo_uuid)),
            detail=memo_uuid,
        )
        return await self.alerts.plan(EffectKey(EffectKind.ALERT, f"oversized:{memo_uuid}"), alert)

    def _too_big(self, mailbox: str, xml: bytes) -> int | None:
        """The limit of ``mailbox`` when a raw or invalid memo (one mail, not split) does not fit into it
        with its XML; None when it fits."""
        limit = self._limit(mailbox)
        return limit if encoded_cost(len(xml)) + FOLLOW_UP_BODY > part_capacity(limit, 0) else None

    async def _alert_raw_too_big(self, memo_uuid: str, xml: bytes, mailbox: str, limit: int) -> None:
        """Tell IT once that an invalid or unshown memo went to ``mailbox`` without its XML and files (its
        banner asks the case worker to contact IT), and how to take them out of the store."""
        lang = self.settings.language
        what = text(
            Text.OVERSIZED_ALERT_RAW,
            lang,
            uuid=memo_uuid,
            mailbox=mailbox,
            size=format_size(len(xml), lang),
            limit=format_size(limit, lang),
        )
        if await self._alert_too_big(memo_uuid, mailbox, what):
            log.error(
                "inbound memo %s: delivered to %s without its XML, too big (alerted)", memo_uuid, mailbox
            )

    async def _plan_route(
        self, memo_uuid: str, parsed: ParsedMemo, xml: bytes, stats: InboundStats
    ) -> InboundRoute:
        if not parsed.valid:
            return invalid_route(self.settings, parsed.errors)
        message = parsed.message
        assert message is not None
        item = await self.cpu.run(memo_rule_item, self.settings, message, xml)
        context = text(Text.RULE_CONTEXT_MEMO, self.settings.language, uuid=memo_uuid)
        decision = await self.rules.decide(item, context, stats, mail_alerts=self._alerts_now)
        return memo_route(self.settings, message, decision)

    def _render(
        self,
        memo_uuid: str,
        parsed: ParsedMemo,
        xml: bytes,
        route: InboundRoute,
        target: str,
        plan: SplitPlan | None = None,
        receipt_sent: bool = True,
    ) -> MailMessage:
        s = self.settings
        opts = ViewOptions(s.language, s.mask_cpr, self._sender_name(parsed.message))
        categories = list(route.categories)
        # A raw or invalid memo is one mail (it is not split): too big for the mailbox, it goes without its
        # XML and files (the store keeps them), so that it is delivered and answered all the same.
        too_big = self._too_big(target, xml)
        if route.banner == "unshown":
            return render_unshown_mail(
                xml,
                memo_uuid,
                route.note,
                target_mailbox=target,
                categories=categories,
                options=opts,
                too_big=too_big,
            ).mail
        if not parsed.valid:
            return render_invalid_mail(
                xml,
                memo_uuid,
                parsed.errors,
                target_mailbox=target,
                message=parsed.message,
                categories=categories,
                options=opts,
                too_big=too_big,
                receipt_sent=receipt_sent,
            ).mail
        message = parsed.message
        assert message is not None
        cp_id = route.contact_point
        known = s.contact_points.get(cp_id) if cp_id else None
        banner = route_banner(s, route, message.header.message_uuid)
        banners = [banner] if banner is not None else []
        address = gateway_reply_address(s, message, target)
        reply_from = EmailAddress(address, message.header.sender.label) if address else None
        mail = render_memo_mail(
            message,
            xml,
            target_mailbox=target,
            reply_from=reply_from,
            banners=banners,
            rule_reasons=list(route.reasons),
            routing_note=route.note or None,
            categories=categories,
            contact_point_name=known.name if known else None,
            options=opts,
            mark_read=route.mark_read,
            plan=plan,
        ).mail
        mail.importance = route.importance  # an inbox rule's markImportance
        return mail

    async def _archive_copy(
        self,
        archive: str,
        memo_uuid: str,
        parsed: ParsedMemo,
        xml: bytes,
        route: InboundRoute,
        answered: bool = True,
        *,
        attempt: _Attempt | None = None,
    ) -> None:
        """The memo's copy for the ``archive`` mailbox; ``attempt``: see :class:`_Attempt` (None: every
        marker is looked up)."""
        attempt = attempt if attempt is not None else _Attempt(False)

        async def build() -> MailMessage:
            mail = await self.cpu.run(self._render, memo_uuid, parsed, xml, route, archive, None, answered)
            # A second copy with the same Message-ID would confuse reply threading; the archive is for
            # reading.
            mail.internet_message_id = None
            return mail

        folder_id = await self.mail.ensure_folder(archive, "inbox")
        if parsed.valid and route.banner != "unshown":  # split as for the target when too big (own effects)
            await self._deliver_letter(
                memo_uuid, parsed, xml, route, archive, folder_id, archive=True, attempt=attempt
            )
            return
        marker = Marker(ARCHIVE_PROPERTY, memo_uuid)
        first = attempt.first(archive, folder_id, marker)
        await marker.find_or_create(self.mail, archive, folder_id, build, first_attempt=first)

    # ------------------------------------------------------------------ acknowledge
    async def acknowledge_pending(self, stats: InboundStats) -> None:
        """Answer up to ``batch_size`` delivered memos (and delete the pulled ones at NgDP), then delete up to
        ``batch_size`` pulled memos answered earlier whose delete failed; each claimed first. An
        authentication failure at NgDP ends the step (every other call would fail alike).

        A pulled memo's receipt and delete are recorded together, after both (DELIVERED → DELETED with the
        acknowledgement's audit row, the claim released), and the claimed batch's such records are committed
        at once, after the last memo of the batch (issue 18: one transaction per batch, not per memo;
        :meth:`_record_deleted`). A crash (or a failed commit) before that leaves each memo of the batch
        DELIVERED although NgDP has its receipt and may have deleted it: the repeat sends the receipt again,
        which NgDP answers 409 (already answered: the client counts it as sent) or 404 (already deleted:
        :meth:`_answer` counts it as answered), then DELETE again, whose 404 the client counts as done,
        and records the memo then, with its one audit row. NgDP's OpenAPI lists 404 and 409 for the
        receipt, but lists no 404 for DELETE memos/{id} (docs/facts/ngdp.md, "Receiving by pull"); that a
        second DELETE is answered 404 is the emulator's reading [inference]. Were it answered otherwise, the
        memo would be recorded ACKNOWLEDGED with the error and its delete retried (below): delivered and
        answered once all the same, never delivered twice.
        A delete that fails records the receipt alone (ACKNOWLEDGED), and the second part deletes it later;
        its deletes are recorded per batch alike (a crash before the record repeats the DELETE: 404)."""
        async with self._claims() as claims:
            budget = self.settings.batch_size
            while budget > 0:
                asked = min(self.claim_chunk, budget)
                delivered = await claims.take(InboundState.DELIVERED, asked)
                if not delivered:
                    break
                budget = budget - len(delivered) if len(delivered) == asked else 0  # fewer: none left now
                deleted: list[tuple[InboundMemo, AuditEntry | None]] = []
                for row in delivered:
                    if not await claims.mine(row.memo_uuid):
                        continue
                    try:
                        if await self._acknowledge(row, stats, claims.owner, deleted=deleted):
                            continue  # deleted at NgDP: recorded with the batch, below
                    except GraphDpgError as exc:
                        await self._record_error(row, str(exc), stats)
                        log.warning(
                            "inbound memo %s not acknowledged yet: %s", row.memo_uuid, mask_cprs(str(exc))
                        )
                        if isinstance(exc, AuthError):
                            await self._record_deleted(deleted, stats, claims, acknowledged=True)
                            return
                        continue
                    except Exception as exc:  # a bug in a call to NgDP: this memo waits, the others go on
                        shown = self.failures.crashed(Stage.INBOUND_RECEIPT, row.memo_uuid, exc)
                        await self._record_error(row, shown, stats)
                        continue
                    claims.released(row.memo_uuid)
                await self._record_deleted(deleted, stats, claims, acknowledged=True)
            budget = self.settings.batch_size
            while budget > 0:
                # Pushed and forwarded memos end in ACKNOWLEDGED; only pulled ones are deleted at NgDP.
                asked = min(self.claim_chunk, budget)
                acknowledged = await claims.take(InboundState.ACKNOWLEDGED, asked, InboundSource.PULL)
                if not acknowledged:
                    break
                budget = budget - len(acknowledged) if len(acknowledged) == asked else 0
                gone: list[tuple[InboundMemo, AuditEntry | None]] = []
                for row in acknowledged:
                    if not await claims.mine(row.memo_uuid):
                        continue
                    try:
                        await self.ngdp.delete_memo(row.memo_uuid)  # 404 (already deleted) counts as done
                    except GraphDpgError as exc:
                        await self._record_error(row, str(exc), stats)
                        continue
                    gone.append((row, None))
                await self._record_deleted(gone, stats, claims, acknowledged=False)

    async def _record_deleted(
        self,
        batch: list[tuple[InboundMemo, AuditEntry | None]],
        stats: InboundStats,
        claims: _Claims,
        *,
        acknowledged: bool,
    ) -> None:
        """Record the memos of a claimed batch that NgDP deleted as DELETED, each with its audit row (the
        acknowledgement, when ``acknowledged``: its receipt went in this step too), in one transaction,
        ending their claims. What a crash or a failed commit before it does: see
        :meth:`acknowledge_pending`."""
        if not batch:
            return
        try:
            recorded = await blocking(
                self.store.mark_deleted_many,
                {row.memo_uuid: audit for row, audit in batch},
                release=claims.owner,
            )
        except GraphDpgError as exc:
            for row, _ in batch:  # kept claimed until the round ends; repeated later (receipt, DELETE: 404)
                await self._record_error(row, str(exc), stats)
            log.warning("inbound memos deleted at NgDP but not recorded yet (repeated later): %s", exc)
            return
        for row, _ in batch:
            if row.memo_uuid not in recorded:  # moved on meanwhile (only a replica that took the claim can)
                log.warning("inbound memo %s: deleted, but its state changed meanwhile", row.memo_uuid)
                continue
            claims.released(row.memo_uuid)
            if acknowledged:
                stats.acknowledged += 1
            stats.deleted += 1

    def _answered(self, row: InboundMemo) -> bool:
        """Whether the memo gets a business receipt from :meth:`_acknowledge` (what its mail may promise)."""
        return row.source is not InboundSource.MAIL or self.settings.forwarded_receipt

    async def _acknowledge(
        self,
        row: InboundMemo,
        stats: InboundStats,
        owner: str | None = None,
        *,
        deleted: list[tuple[InboundMemo, AuditEntry | None]] | None = None,
    ) -> bool:
        """Answer a delivered memo at NgDP and, a pulled one, delete it there; then record both at once
        (see :meth:`acknowledge_pending`), ending ``owner``'s claim. ``deleted``: a pulled memo deleted at
        NgDP is added to it with its audit row, not recorded here (True then; :meth:`_record_deleted`)."""
        acknowledged = await self._answer(row)
        if row.source is not InboundSource.PULL:
            await blocking(self.store.mark_acknowledged, row.memo_uuid, audit=acknowledged, release=owner)
            stats.acknowledged += 1
            return False
        try:
            await self.ngdp.delete_memo(row.memo_uuid)  # 404 (already deleted) counts as done in the client
        except Exception:
            # The receipt went: it is recorded, so that only the delete is tried again (the claim is kept
            # until the round ends).
            await blocking(self.store.mark_acknowledged, row.memo_uuid, audit=acknowledged)
            stats.acknowledged += 1
            raise
        if deleted is not None:
            deleted.append((row, acknowledged))
            return True
        await blocking(self.store.mark_deleted, row.memo_uuid, audit=acknowledged, release=owner)
        stats.acknowledged += 1
        stats.deleted += 1
        return False

    async def _answer(self, row: InboundMemo) -> AuditEntry:
        """Send the memo's business receipt (if it gets one); the audit entry that records it."""
        route = await self._recorded_route(row)
        valid = route.valid if route is not None else True
        try:
            detail: str | None = findings_json([Finding("memo", e) for e in route.errors] if route else [])
        except Exception as exc:  # findings nobody foresaw: the receipt still goes, without them
            self.failures.crashed(Stage.INBOUND_RECEIPT, row.memo_uuid, exc)
            detail = None
        try:
            if not self._answered(row):
                pass  # forwarded by an SMTP-only recipient system: no REST receipt to send (gateway file)
            elif valid:
                await self.ngdp.send_memo_receipt(row.memo_uuid, "COMPLETED")
            else:
                await self.ngdp.send_memo_receipt(
                    row.memo_uuid, "INVALID", "INVALID_MEMO", detail[:1000] if detail is not None else None
                )
        except NotFoundError:
            # NgDP no longer holds the memo (a pushed one, or deleted meanwhile): nothing left to answer.
            log.info("ngdp memo %s unknown at receipt time; counted as acknowledged", row.memo_uuid)
        return AuditEntry(
            "inbound.memo.acknowledged",
            row.memo_uuid,
            details={
                "status": "COMPLETED" if valid else "INVALID",
                "receipt": row.source is not InboundSource.MAIL or self.settings.forwarded_receipt,
            },
        )
