"""Exponential backoff with a cap and optional jitter, honouring a server's Retry-After: the one rule for
every wait before a retry in the gateway (the NgDP client's retries of a request, the runtime's backoff of a
failing work item, the outbound service's retry time of a MeMo that could not be sent yet)::

    ceiling(attempt) = min(cap, base * 2^(attempt - 1))     attempt 1 = the wait after the first failure

Without jitter the delay is the ceiling. With ``jitter`` j (0 to 1) and a random source the delay is drawn
uniformly from [ceiling * (1 - j), ceiling]: things that failed together do not all retry at the same
instant, and the cap still holds (j = 0.5 is the "equal jitter" of "Exponential Backoff And Jitter",
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A Retry-After the server sent
replaces the computed delay, capped and never negative. Pure: the random source is the caller's, so a test
passes a seeded one or none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2^64 times any sensible base is far above any cap; the exponent stops there so a long failure streak
# cannot overflow a float.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0 or not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"invalid backoff {self!r}: base and cap >= 0, jitter in [0, 1]")

    def ceiling(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` without jitter."""
        return min(self.cap_s, self.base_s * 2.0 ** min(max(0, attempt - 1), _MAX_EXPONENT))

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (1 after the first failure)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.cap_s)
        ceiling = self.ceiling(attempt)
        if rng is None or self.jitter == 0.0:
            return ceiling
        return ceiling * (1.0 - self.jitter) + rng.uniform(0.0, ceiling * self.jitter)
