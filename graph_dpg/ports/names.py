"""Ports for names: a register that names a number (CPR through Datafordeler, CVR through the CVR
distribution search), and the lookup the rest of the gateway uses.

:class:`NameRegister` is what an adapter implements (``graph_dpg.adapters.datafordeler``,
``graph_dpg.adapters.cvr``): it answers a :class:`~graph_dpg.domain.names.NameResult` with status active,
inactive, protected or unknown, and raises ``graph_dpg.core.errors`` on failure (``AuthError`` for refused
credentials or certificate, ``TransientError`` for 5xx and connection problems, ``PermanentError`` for an
answer it cannot read).

:class:`NameLookup` is what services and commands call (``graph_dpg.services.names.NameService``): it never
raises for a failed lookup; the answer then has status ``error`` and a ``reason``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from graph_dpg.domain.names import NameKind, NameResult


@runtime_checkable
class NameRegister(Protocol):
    kind: NameKind

    async def lookup(self, number: str) -> NameResult:
        """``number`` is normalised (CPR 10 digits, CVR 8 digits)."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class NameLookup(Protocol):
    def enabled(self, kind: NameKind) -> bool: ...

    async def lookup(self, number: str) -> NameResult:
        """Any CPR or CVR number (raises ``IdentifierError`` only when it is neither)."""
        ...

    async def name_of(self, number: str) -> str | None:
        """The name to show next to ``number`` (None: not active, protected, failed, not configured)."""
        ...
