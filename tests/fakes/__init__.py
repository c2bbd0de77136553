"""In-memory fakes of the ports (``graph_dpg.ports``): fast, deterministic, and answering as the adapters
do, so service edge cases run without the emulators."""

from tests.fakes.mailbox import FakeEffects, FakeMailbox

__all__ = ["FakeEffects", "FakeMailbox"]
