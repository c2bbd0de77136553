"""Issue 18: a polled folder's delta link kept in memory (services.delta_links): the store is read once and
written when a round brought something, the first time, or now and then; forgetting reads it again."""

from __future__ import annotations

from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.mailbox import DeltaRound
from graph_dpg.services.delta_links import DeltaLinkCache

BOX, FOLDER = "Sag@Kommune.dk", "sentitems"


class Links:
    """The store's ``DeltaLinks`` port, with its calls counted."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], str] = {}
        self.reads = 0
        self.writes = 0

    def get_delta_link(self, mailbox: str, folder: str) -> str | None:
        self.reads += 1
        return self.links.get((mailbox, folder))

    def set_delta_link(self, mailbox: str, folder: str, delta_link: str) -> None:
        self.writes += 1
        self.links[(mailbox, folder)] = delta_link


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _round(link: str, *, mail: bool = False, removed: bool = False, resynced: bool = False) -> DeltaRound:
    return DeltaRound(
        messages=[MailMessage(id="m1", subject="Hej")] if mail else [],
        removed_ids=["m0"] if removed else [],
        delta_link=link,
        resynced=resynced,
    )


async def test_the_store_is_read_once_and_an_empty_round_is_not_written_back() -> None:
    store, clock = Links(), Clock()
    store.links[(BOX, FOLDER)] = "L1"
    cache = DeltaLinkCache(store, persist_every_s=300, clock=clock)
    assert await cache.get(BOX, FOLDER) == "L1"
    await cache.put(BOX, FOLDER, _round("L1"))  # nothing changed, the same link: nothing to write
    await cache.put(BOX, FOLDER, _round("L2"))  # another link for an empty round: kept, not written yet
    assert await cache.get(BOX, FOLDER) == "L2"
    assert (store.reads, store.writes) == (1, 0)
    assert store.links[(BOX, FOLDER)] == "L1"  # older, and loses nothing: the rounds since were empty


async def test_a_round_that_brought_anything_is_written_at_once() -> None:
    store, clock = Links(), Clock()
    store.links[(BOX, FOLDER)] = "L1"
    cache = DeltaLinkCache(store, clock=clock)
    for n, kind in enumerate(({"mail": True}, {"removed": True}, {"resynced": True}), start=2):
        await cache.get(BOX, FOLDER)
        await cache.put(BOX, FOLDER, _round(f"L{n}", **kind))
        assert store.links[(BOX, FOLDER)] == f"L{n}", kind
    assert (store.reads, store.writes) == (1, 3)


async def test_the_first_link_is_written_and_a_changed_one_at_most_every_persist_interval() -> None:
    store, clock = Links(), Clock()
    cache = DeltaLinkCache(store, persist_every_s=300, clock=clock)
    assert await cache.get(BOX, FOLDER) is None
    await cache.put(BOX, FOLDER, _round("L1"))  # the first sync of an empty folder: written
    assert store.links[(BOX, FOLDER)] == "L1"
    clock.now = 299.0
    await cache.put(BOX, FOLDER, _round("L2"))
    assert store.links[(BOX, FOLDER)] == "L1"
    clock.now = 300.0
    await cache.put(BOX, FOLDER, _round("L3"))
    assert store.links[(BOX, FOLDER)] == "L3"
    clock.now = 900.0
    await cache.put(BOX, FOLDER, _round("L3"))  # long idle, but the stored link is the one in use
    assert (store.reads, store.writes) == (1, 2)


async def test_a_forgotten_folder_is_read_from_the_store_again() -> None:
    store, clock = Links(), Clock()
    store.links[(BOX, FOLDER)] = "L1"
    store.links[(BOX, "inbox")] = "I1"
    cache = DeltaLinkCache(store, clock=clock)
    await cache.get(BOX, FOLDER)
    await cache.get(BOX, "inbox")
    await cache.put(BOX, FOLDER, _round("L2"))
    store.links[(BOX, FOLDER)] = "L9"  # the lease lapsed; another replica moved the folder on
    cache.forget(BOX.lower(), FOLDER)  # any case: one mailbox
    assert await cache.get(BOX, FOLDER) == "L9"
    assert await cache.get(BOX, "inbox") == "I1" and store.reads == 3
    cache.clear()
    assert await cache.get(BOX, "inbox") == "I1" and store.reads == 4


async def test_a_round_finished_after_its_folder_was_forgotten_is_written_and_not_kept() -> None:
    store, clock = Links(), Clock()
    store.links[(BOX, FOLDER)] = "L1"
    cache = DeltaLinkCache(store, clock=clock)
    await cache.get(BOX, FOLDER)
    cache.forget(BOX, FOLDER)  # the lease lapsed while the round ran
    await cache.put(BOX, FOLDER, _round("L2"))
    assert store.links[(BOX, FOLDER)] == "L2"  # written as before issue 18
    store.links[(BOX, FOLDER)] = "L9"
    assert await cache.get(BOX, FOLDER) == "L9"  # and not kept: the next round reads the store
