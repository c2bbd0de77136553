"""Work items of one replica: per-item backoff with failures logged once, and the leases it holds.

Work items and leases. Every (mailbox, folder) and each singleton (NgDP memo queue, receipt queue,
housekeeping) is a lease row; an outbound effect runs under its mailbox's lease. A replica works only on
what it holds::

    free ──acquire_some (FOR UPDATE SKIP LOCKED)──► held by R (expires_at = db now + lease_seconds)
    held ──heartbeat renew──► held        held ──release (shutdown, over fair share)──► free
    held ──R dies, expires_at passes──► free for anyone (the survivors take it at their next heartbeat)

The fair share is ceil(items / live replicas), so work spreads when replicas join and is taken over when
one disappears. A lease is a row, not a database lock: nothing is locked across a Graph or NgDP call, and
work on an item starts only while its lease is fresh (renewed less than ``lease_seconds`` - margin ago).

Per item, failures back off exponentially (capped at ``max_backoff_seconds``) without delaying other items.
A failure is logged once (WARNING) and its recovery once (INFO), in the style of Home Assistant's update
coordinator; repeats go to DEBUG.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from graph_dpg.core.backoff import Backoff
from graph_dpg.core.errors import AuthError
from graph_dpg.ports.leases import ReplicaLeases

log = logging.getLogger(__name__)


@dataclass
class ItemState:
    failures: int = 0
    next_at: float = 0.0
    failing: bool = False
    last_error: str = ""
    last_success: float | None = None
    auth_failure: bool = False


class WorkTracker:
    """Per work item: capped exponential backoff, and failure/recovery each logged once."""

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
        rng: random.Random | None = None,
    ) -> None:
        # Up to 10 % below the ceiling: items that failed together do not all retry in the same instant.
        self.backoff = Backoff(base_s, cap_s, jitter=0.1)
        self.clock = clock
        self.logger = logger
        self._rng = rng
        self.items: dict[str, ItemState] = {}

    def state(self, key: str) -> ItemState:
        return self.items.setdefault(key, ItemState())

    def due(self, key: str) -> bool:
        return self.clock() >= self.state(key).next_at

    def delay_for(self, failures: int) -> float:
        return self.backoff.delay(failures, rng=self._rng)

    def success(self, key: str) -> bool:
        """Record a success; True (and one INFO line) when it ends a failure streak."""
        st = self.state(key)
        recovered = st.failing
        if recovered:
            self.logger.info("%s recovered after %d failed attempt(s)", key, st.failures)
        st.failures = 0
        st.next_at = 0.0
        st.failing = False
        st.auth_failure = False
        st.last_error = ""
        st.last_success = self.clock()
        return recovered

    def failure(self, key: str, exc: BaseException) -> float:
        """Record a failure; the first of a streak is logged at WARNING, the rest at DEBUG."""
        st = self.state(key)
        st.failures += 1
        delay = self.delay_for(st.failures)
        st.next_at = self.clock() + delay
        st.last_error = str(exc)
        st.auth_failure = isinstance(exc, AuthError)
        if not st.failing:
            st.failing = True
            self.logger.warning("%s failed (%s); retrying with backoff", key, exc)
        else:
            self.logger.debug(
                "%s still failing (attempt %d, next in %.0fs): %s", key, st.failures, delay, exc
            )
        return delay

    def failing(self) -> dict[str, ItemState]:
        return {k: v for k, v in self.items.items() if v.failing}


class LeaseKeeper:
    """This replica's claims on work items (rows in the store's lease table; see the module docstring)."""

    def __init__(
        self,
        store: ReplicaLeases,
        owner: str,
        ttl_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.clock = clock
        self.held: set[str] = set()
        self.renewed_at = 0.0
        self.live: list[str] = [owner]
        #: What the last refresh ended: resources held before it that are no longer held, or whose lease
        #: may have lapsed in between (the refresh came too late to be sure no other replica held it
        #: meanwhile). What this replica kept in memory about them (a folder's delta link) is stale.
        self.lapsed: set[str] = set()

    def fair_share(self, total: int, replicas: int | None = None) -> int:
        """ceil(total / live replicas): ``replicas`` (default: those the last refresh saw)."""
        return max(1, math.ceil(total / max(1, len(self.live) if replicas is None else replicas)))

    def refresh(self, resources: Sequence[str], busy: Collection[str] = ()) -> set[str]:
        """Heartbeat, then hold (renew or claim) up to the fair share of ``resources``; release extras.

        Items in ``busy`` (work running on them now) are renewed and kept even beyond the fair share, and
        handed back at a later refresh: releasing one mid-poll would let another replica poll it at the
        same time. Blocking (database); call it from a worker thread.
        """
        started = self.clock()
        # One transaction: heartbeat, the live replicas, then our fair share of the resources (our own
        # leases renewed first, then free or expired ones).
        live, acquired = self.store.refresh_leases(
            self.owner,
            list(resources),
            self.ttl_s,
            self.ttl_s,
            lambda replicas: self.fair_share(len(resources), replicas),
        )
        # Held without a gap only if this renewal came while the last one still held (the lease's expiry
        # was set by the database at or after ``renewed_at``; checked now, after the renewal, to be safe).
        continuous = self.clock() < self.renewed_at + self.ttl_s
        self.live = live if self.owner in live else [*live, self.owner]
        got = set(acquired)
        for extra in sorted(self.held - got):
            if extra in busy and self.store.renew(extra, self.owner, self.ttl_s):
                got.add(extra)
            elif extra in resources:
                self.store.release(extra, self.owner)
        gained, lost = got - self.held, self.held - got
        if gained:
            log.info(
                "replica %s took %d work item(s): %s", self.owner, len(gained), ", ".join(sorted(gained))
            )
        if lost:
            log.info("replica %s handed back %d work item(s)", self.owner, len(lost))
        self.lapsed = self.held - got if continuous else set(self.held)
        self.held = got
        self.renewed_at = started
        return got

    def fresh(self, resource: str, margin_s: float = 0.0) -> bool:
        """True while ``resource`` is held and its lease cannot have expired (local-clock margin)."""
        return resource in self.held and self.clock() < self.renewed_at + self.ttl_s - margin_s

    def release_all(self) -> int:
        """Leaving: free every lease and drop the replica row, so the others' fair share grows at once."""
        self.lapsed, self.held = set(self.held), set()
        released: int = self.store.release_all(self.owner)
        self.store.forget_replica(self.owner)
        return released
