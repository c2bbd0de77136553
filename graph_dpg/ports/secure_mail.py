"""The port for opening secure mail (S/MIME): decrypt and verify, answered in the domain's types.

Synchronous and CPU-bound: services call it through the CPU pool (``services.cpu``), never on the event
loop. Implemented by ``graph_dpg.adapters.smime.SmimeOpener`` with the configured certificates and trust
anchors. The decrypted content lives only in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from graph_dpg.domain.smime import OpenedMessage


class SecureMailOpener(Protocol):
    def open(self, mime: bytes, at: datetime | None) -> OpenedMessage:
        """Peel every S/MIME layer of a whole message (``$value``), checking signatures at ``at``.

        Raises core.errors SecureMailError (NoMatchingKeyError, UnsupportedAlgorithmError; ``reason``
        "no-key", "unsupported", "damaged"), NotMimeError or LimitExceededError. A bad signature is a
        verdict in the result, not an error."""
        ...
