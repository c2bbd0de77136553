"""In-memory fakes of the ports (``graph_dpg.ports``): fast, deterministic, and answering as the adapters
do, so service edge cases run without the emulators (which stay the witnesses of fidelity).

``tests/integration/store/test_store_contract.py`` holds the store fake to the SQL store."""

from tests.fakes.digital_post import FakeDigitalPost, MemoReceipt
from tests.fakes.mailbox import FakeMailbox, Stored
from tests.fakes.store import AuditEvent, FakeEffects, FakeStore

__all__ = [
    "AuditEvent",
    "FakeDigitalPost",
    "FakeEffects",
    "FakeMailbox",
    "FakeStore",
    "MemoReceipt",
    "Stored",
]
