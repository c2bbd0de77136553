"""The lease table as one replica uses it: announce itself, claim a fair share, renew, hand back.

Exactly what :class:`graph_dpg.runtime.work.LeaseKeeper` calls, so it can be given any object with these
methods (the SQL store in production, a fake in tests); ``graph_dpg.ports.store.Leases``, the store's lease
segment, is this protocol. Each call is one short database transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class ReplicaLeases(Protocol):
    def replica_heartbeat(self, owner: str) -> None:
        """Record that replica ``owner`` is alive now."""
        ...

    def live_replicas(self, within_s: float) -> list[str]:
        """Replicas whose heartbeat is at most ``within_s`` seconds old."""
        ...

    def acquire_some(self, resources: Sequence[str], owner: str, ttl_s: float, limit: int) -> list[str]:
        """Claim up to ``limit`` free/expired/own resources, skipping rows other replicas are claiming."""
        ...

    def refresh_leases(
        self,
        owner: str,
        resources: Sequence[str],
        ttl_s: float,
        live_within_s: float,
        share: Callable[[int], int],
    ) -> tuple[list[str], list[str]]:
        """One heartbeat in one transaction: record ``owner`` alive, read the live replicas (``owner``
        among them), then ``acquire_some(resources, owner, ttl_s, share(number of live replicas))``.
        Returns (live replicas, resources held)."""
        ...

    def renew(self, resource: str, owner: str, ttl_s: float) -> bool:
        """Extend ``owner``'s lease on ``resource``; False when it no longer holds it."""
        ...

    def release(self, resource: str, owner: str) -> None: ...

    def release_all(self, owner: str) -> int:
        """Free every lease ``owner`` holds; how many there were."""
        ...

    def forget_replica(self, owner: str) -> None: ...
