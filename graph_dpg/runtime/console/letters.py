"""What the console asks about letters: the letters service (``services.letters.LettersService``, the same
engine as ``graph-dpg letters``), seen through the narrow :class:`Letters` protocol the pages use.

The console builds one service per page language (``LettersFactory``: the timeline's words are in the
reader's language) and asks it as the signed-in person (:func:`actor_of`: audited ``console:<username>``
with ``via="console"``, the role from the ID token). The service does the work and the audit: search,
timeline, mass progress, retry (same messageUUID after a transport failure; a new, linked letter for a
refused one), cancel (``console_cancellations``: the worker fails what is not yet sent), resend the receipt
mail, reveal a CPR number. Every list it answers is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from graph_dpg.runtime.console.auth import User
from graph_dpg.services.letters import (
    ActionResult,
    Actor,
    MassDelivery,
    Query,
    Role,
    SearchResult,
    Timeline,
)

MAX_RESULTS = 100


class Letters(Protocol):
    """The parts of ``LettersService`` the console calls."""

    async def search(self, query: Query, actor: Actor) -> SearchResult: ...

    async def timeline(self, ident: str, actor: Actor) -> Timeline: ...

    async def progress(self, ident: str, actor: Actor) -> dict[str, int]: ...

    async def mass_deliveries(
        self, actor: Actor, *, active_only: bool = False, limit: int = 50
    ) -> list[MassDelivery]: ...

    async def retry(self, ident: str, actor: Actor) -> ActionResult: ...

    async def cancel(self, ident: str, actor: Actor) -> ActionResult: ...

    async def resend_receipt(self, ident: str, actor: Actor) -> ActionResult: ...

    async def reveal_cpr(self, message_uuid: str, actor: Actor) -> str: ...


#: The service in a language ("da" | "en").
LettersFactory = Callable[[str], Letters]


def actor_of(user: User) -> Actor:
    """The signed-in person as the service audits them."""
    return Actor(user.actor, Role.ADMIN if user.is_admin else Role.READER, via="console")


def progress_view(counts: Mapping[str, int]) -> dict[str, int]:
    """The service's counts by outbox state as the pages and ``static/console.js`` show them."""
    pending, accepted = int(counts.get("pending", 0)), int(counts.get("accepted", 0))
    rejected, failed = int(counts.get("rejected", 0)), int(counts.get("failed", 0))
    total = pending + accepted + rejected + failed
    return {
        "total": total,
        "done": total - pending,
        "pending": pending,
        "accepted": accepted,
        "rejected": rejected,
        "failed": failed,
    }
