"""What the console shows about the gateway itself: replicas and backlogs, the routing rules with their hit
counts and why one was disabled, and inbound memos with their routing decision (which rule, why) and the
contact points no mailbox is mapped to. Read-only; every list bounded. Blocking (database): call through
``services.blocking.blocking``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from graph_dpg.core.errors import GraphDpgError
from graph_dpg.ports.store import DisabledRule, InboundMemo, InboundState, OutboxState

RECENT_INBOUND = 100  # per state: the page shows the newest of these
REPLICA_SEEN_S = 120.0


@dataclass(frozen=True)
class RuleRow:
    name: str
    hits: int
    disabled_reason: str | None
    disabled_at: datetime | None


@dataclass(frozen=True)
class Credential:
    what: str  # e.g. "NgDP OCES3 certificate" (services.alerts names them)
    not_after: datetime
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class Overview:
    replicas: tuple[str, ...]
    outbox: Mapping[str, int]
    inbound_waiting: int  # received, not delivered yet (up to RECENT_INBOUND)
    rules: tuple[RuleRow, ...]
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True)
class InboundRow:
    memo_uuid: str
    state: str
    received_at: datetime
    mailbox: str | None
    contact_point: str | None
    deliver_rule: str | None
    rules: tuple[str, ...]
    reasons: tuple[str, ...]  # why each rule matched (stored CPR-masked)
    note: str
    banner: str | None
    error: str | None


@dataclass(frozen=True)
class InboundView:
    memos: tuple[InboundRow, ...]
    unmapped: tuple[tuple[str, int], ...]  # contact point → memos among ``memos`` with no mailbox for it


class Operations(Protocol):
    def overview(self) -> Overview: ...

    def inbound(self) -> InboundView: ...


class OperationsStore(Protocol):
    def live_replicas(self, within_s: float) -> list[str]: ...

    def outbox_counts(self) -> dict[OutboxState, int]: ...

    def inbound_in_state(self, state: InboundState, limit: int = 100) -> list[InboundMemo]: ...

    def rule_hits(self) -> dict[str, int]: ...

    def disabled_rules(self) -> dict[str, DisabledRule]: ...


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _row(memo: InboundMemo) -> InboundRow:
    route = memo.route or {}
    banner = route.get("banner")
    return InboundRow(
        memo.memo_uuid,
        memo.state.value,
        memo.received_at,
        memo.target_mailbox or (str(route["mailbox"]) if route.get("mailbox") else None),
        str(route["contact_point"]) if route.get("contact_point") else None,
        str(route["deliver_rule"]) if route.get("deliver_rule") else None,
        _strings(route.get("rules")),
        _strings(route.get("reasons")),
        str(route.get("note") or ""),
        str(banner) if banner else None,
        memo.error,
    )


class StoreOperations:
    """:class:`Operations` from the store."""

    def __init__(
        self,
        store: OperationsStore,
        *,
        credentials: Callable[[], list[tuple[str, datetime]]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._credentials = credentials  # what expires when (runtime.credentials.expiring_credentials)
        self._clock = clock

    def overview(self) -> Overview:
        hits = self._store.rule_hits()
        disabled = self._store.disabled_rules()
        rules = tuple(
            RuleRow(
                name,
                hits.get(name, 0),
                disabled[name].reason if name in disabled else None,
                disabled[name].disabled_at if name in disabled else None,
            )
            for name in sorted(set(hits) | set(disabled))
        )
        counts = self._store.outbox_counts()
        waiting = len(self._store.inbound_in_state(InboundState.RECEIVED, limit=RECENT_INBOUND))
        now = self._clock()
        credentials = tuple(
            sorted(
                (Credential(what, not_after, (not_after - now).days) for what, not_after in self._expiring()),
                key=lambda c: c.not_after,
            )
        )
        return Overview(
            tuple(self._store.live_replicas(REPLICA_SEEN_S)),
            {state.value: int(counts.get(state, 0)) for state in OutboxState},
            waiting,
            rules,
            credentials,
        )

    def _expiring(self) -> list[tuple[str, datetime]]:
        if self._credentials is None:
            return []
        try:
            return self._credentials()
        except (OSError, ValueError, GraphDpgError):  # an unreadable certificate file must not hide the page
            return []

    def inbound(self) -> InboundView:
        memos: list[InboundMemo] = []
        for state in InboundState:
            memos.extend(self._store.inbound_in_state(state, limit=RECENT_INBOUND))
        memos.sort(key=lambda m: m.received_at, reverse=True)
        rows = tuple(_row(m) for m in memos[:RECENT_INBOUND])
        unmapped = Counter(r.contact_point or "-" for r in rows if r.banner == "unmapped")
        return InboundView(rows, tuple(unmapped.most_common()))


__all__: Sequence[str] = ["InboundView", "Operations", "Overview", "StoreOperations"]
