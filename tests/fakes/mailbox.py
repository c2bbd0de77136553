"""In-memory fakes of the narrow ports the services use: fast, deterministic, and honest about the contract
(the same answers the SQL store and the Graph adapter give), so service edge cases run without emulators."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from graph_dpg.core.errors import StoreError
from graph_dpg.domain.mail import MailMessage
from graph_dpg.ports.store import Effect, EffectState

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeEffects:
    """The ``Effects`` port: plan once, complete once, pending by key prefix, oldest first."""

    def __init__(self) -> None:
        self.rows: dict[str, Effect] = {}
        self._tick = itertools.count()

    def plan_effect(self, key: str, payload: Mapping[str, object]) -> bool:
        if key in self.rows:
            return False
        stamp = _EPOCH + timedelta(seconds=next(self._tick))
        self.rows[key] = Effect(key, dict(payload), EffectState.PLANNED, None, stamp, None)
        return True

    def get_effect(self, key: str) -> Effect | None:
        return self.rows.get(key)

    def pending_effects(self, limit: int = 100, prefix: str | None = None) -> list[Effect]:
        planned = [
            e for e in self.rows.values() if e.state is EffectState.PLANNED and e.key.startswith(prefix or "")
        ]
        return sorted(planned, key=lambda e: (e.created_at, e.key))[:limit]

    def complete_effect(self, key: str, result: Mapping[str, object] | None = None) -> bool:
        effect = self.rows.get(key)
        if effect is None:
            raise StoreError(f"unknown effect {key!r}")
        if effect.state is EffectState.DONE:
            return False
        done_at = _EPOCH + timedelta(seconds=next(self._tick))
        self.rows[key] = replace(effect, state=EffectState.DONE, result=result, completed_at=done_at)
        return True


@dataclass
class Stored:
    mailbox: str
    folder: str
    message: MailMessage
    properties: dict[str, str]


@dataclass
class FakeMailbox:
    """The mailbox calls that create messages and find them again by a named extended property.

    ``fail_after_create`` (a callable) runs after a message was created and may raise, e.g. to simulate a
    process that dies between the remote write and recording it."""

    messages: dict[str, Stored] = field(default_factory=dict)
    fail_after_create: Callable[[], None] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def find_by_extended_property(self, mailbox: str, folder: str, name: str, value: str) -> list[str]:
        return [
            mid
            for mid, m in self.messages.items()
            if m.mailbox == mailbox and m.folder == folder and m.properties.get(name) == value
        ]

    async def create_message(
        self,
        mailbox: str,
        folder: str,
        message: MailMessage,
        *,
        received: bool = True,
        extended_properties: Mapping[str, str] = {},
    ) -> str:
        mid = f"AAMk-{next(self._ids)}"
        self.messages[mid] = Stored(mailbox, folder, message, dict(extended_properties))
        if self.fail_after_create is not None:
            self.fail_after_create()
        return mid

    def in_folder(self, mailbox: str, folder: str) -> list[Stored]:
        return [m for m in self.messages.values() if m.mailbox == mailbox and m.folder == folder]
