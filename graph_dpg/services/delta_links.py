"""A folder's delta link kept in memory by the replica that polls the folder (issue 18: an idle poll
asked the store for the link and wrote it back every round, two transactions per folder for nothing).

One replica polls a folder at a time: the holder of its lease (``runtime.work.LeaseKeeper``). It reads
the stored link once, at its first round, and keeps the newest link in memory; the runtime forgets a
folder's link as soon as the lease has lapsed or gone (``LeaseKeeper.lapsed``), so the next round after
a gap reads the store again. The store is written after a round that brought anything (new or removed
messages, or a resync), the first time, and otherwise at most every ``persist_every_s`` seconds when the
link changed. An empty round's deltaLink is not documented to stay the same (Graph's tokens are opaque,
concepts/delta-query-overview.md; the emulator's token names the tenant's change counter and changes with
any write in the tenant), so an idle folder's stored link may be older than the one in use, by at most
``persist_every_s``. That loses nothing: the changes since the older link are those since the newer one
(the rounds in between were empty), so a replica taking the folder over from the store sees exactly what
it would have seen, and the rare duplicate is ignored as before (``create_jobs`` and ``claim_source_message``
are idempotent). Writing now and then keeps the stored link from growing so old that Graph has dropped its
sync state (a full resync of the folder; how long a token lives is not fixed for Outlook items).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from graph_dpg.ports.mailbox import DeltaRound
from graph_dpg.ports.store import DeltaLinks
from graph_dpg.services.blocking import blocking

#: How long an idle folder's changed delta link may stay unwritten.
PERSIST_EVERY_S = 300.0


@dataclass
class _Kept:
    link: str | None  # the link the next round starts from
    saved: str | None  # the link the store holds (as this replica last read or wrote it)
    saved_at: float


class DeltaLinkCache:
    """The delta links of the folders this process polls, in front of the store's ``DeltaLinks``."""

    def __init__(
        self,
        store: DeltaLinks,
        *,
        persist_every_s: float = PERSIST_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.persist_every_s = persist_every_s
        self._clock = clock
        self._kept: dict[tuple[str, str], _Kept] = {}
        self._forgotten = 0  # bumped by forget/clear: a read that raced one is not kept

    async def get(self, mailbox: str, folder: str) -> str | None:
        """The link the next round of ``folder`` starts from: kept, else read from the store (and kept)."""
        key = (mailbox.lower(), folder)
        kept = self._kept.get(key)
        if kept is not None:
            return kept.link
        forgotten = self._forgotten
        link = await blocking(self._store.get_delta_link, mailbox, folder)
        if forgotten == self._forgotten:
            self._kept[key] = _Kept(link, link, self._clock())
        return link

    async def put(self, mailbox: str, folder: str, round_: DeltaRound) -> None:
        """A round of ``folder`` is complete and its messages recorded: keep its link, and store it unless
        the round was empty and the stored link is recent (see the module docstring)."""
        key = (mailbox.lower(), folder)
        kept = self._kept.get(key)
        link = round_.delta_link
        now = self._clock()
        brought = bool(round_.messages or round_.removed_ids or round_.resynced)
        if (
            kept is None
            or brought
            or kept.saved is None
            or (link != kept.saved and now - kept.saved_at >= self.persist_every_s)
        ):
            await blocking(self._store.set_delta_link, mailbox, folder, link)
            if kept is not None and self._kept.get(key) is kept:
                kept.link, kept.saved, kept.saved_at = link, link, now
            return
        kept.link = link

    def forget(self, mailbox: str, folder: str) -> None:
        """The folder's lease lapsed or went to another replica: read the store at the next round."""
        self._forgotten += 1
        self._kept.pop((mailbox.lower(), folder), None)

    def clear(self) -> None:
        self._forgotten += 1
        self._kept.clear()
