"""Injected latency for the emulators: a benchmark aid, NOT an emulated behaviour.

Neither Microsoft nor NgDP documents how long a request takes; the emulators answer at once unless told
otherwise. A scale benchmark (bench/scale_bench.py, issue 18) needs answers that take as long as a remote
service's might, so that the gateway's work is I/O-bound as in production. ``InjectedLatency`` draws a delay
uniformly from ``[low_ms, high_ms]`` for each request (Graph) or each send (NgDP). It is off unless set, and
no test of emulated behaviour relies on it. Part of the emulators, so it imports nothing of the gateway.
"""

from __future__ import annotations

import random
import threading


class InjectedLatency:
    """A delay in seconds drawn uniformly from ``[low_ms, high_ms]`` milliseconds, from a seeded RNG."""

    def __init__(self, low_ms: float, high_ms: float | None = None, *, seed: int = 0) -> None:
        high_ms = low_ms if high_ms is None else high_ms
        if low_ms < 0 or high_ms < low_ms:
            raise ValueError(f"latency range must be 0 <= low <= high ms, not {low_ms}-{high_ms}")
        if high_ms > 60_000:
            raise ValueError("latency above 60,000 ms is not a latency, it is an outage")
        self.low_ms = float(low_ms)
        self.high_ms = float(high_ms)
        self._lock = threading.Lock()
        # Reproducible delays, not security: a seeded PRNG is the point.
        self._rng = random.Random(seed)  # noqa: S311

    @classmethod
    def parse(cls, text: str, *, seed: int = 0) -> InjectedLatency | None:
        """``"100-300"`` (a range in ms), ``"150"`` (a fixed delay) or ``""``/``"0"`` (off: None)."""
        text = text.strip()
        if not text or text == "0":
            return None
        low, sep, high = text.partition("-")
        try:
            return cls(float(low), float(high) if sep else None, seed=seed)
        except ValueError as exc:
            raise ValueError(f"latency {text!r}: expected MS or LOW-HIGH in ms ({exc})") from None

    def draw(self) -> float:
        """The next delay, in seconds."""
        with self._lock:
            return self._rng.uniform(self.low_ms, self.high_ms) / 1000.0

    def __str__(self) -> str:
        if self.low_ms == self.high_ms:
            return f"{self.low_ms:g} ms"
        return f"{self.low_ms:g}-{self.high_ms:g} ms"
