"""Fault injection for the Graph emulator: by rate (seeded RNG) or by script (a queue per method + path).

Faults model what Graph does under load (learn.microsoft.com/graph/throttling: 429 with ``Retry-After``;
learn.microsoft.com/graph/errors: 503 Service Unavailable, 504 Gateway Timeout) and slow answers. A fault
with ``after=True`` is applied once the request has taken effect, which is how a client sees an ambiguous
outcome (the change happened, the answer was an error).
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """One injected outcome. ``status=None`` means "answer normally" (only ``delay`` applies)."""

    status: int | None = 503
    retry_after: float | None = None
    delay: float = 0.0
    code: str | None = None
    message: str | None = None
    after: bool = False


def throttle(retry_after: float = 1.0) -> Fault:
    return Fault(
        status=429, retry_after=retry_after, code="TooManyRequests", message="Please retry again later."
    )


def unavailable(retry_after: float | None = None) -> Fault:
    return Fault(
        status=503, retry_after=retry_after, code="ServiceUnavailable", message="Service Unavailable"
    )


def gateway_timeout() -> Fault:
    return Fault(status=504, code="GatewayTimeout", message="Gateway Timeout")


def slow(delay: float) -> Fault:
    return Fault(status=None, delay=delay)


@dataclass
class _Rule:
    rate: float
    fault: Fault
    method: str
    path: re.Pattern[str]
    mailbox: str | None
    remaining: int | None = None


@dataclass
class _Script:
    method: str
    path: re.Pattern[str]
    queue: deque[Fault] = field(default_factory=deque)


class FaultInjector:
    """Decides, per request, whether to inject a fault. Scripts win over rates; both are thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        # Reproducible chaos, not security: a seeded PRNG is the point.
        self._rng = random.Random(seed)  # noqa: S311
        self._rules: list[_Rule] = []
        self._scripts: list[_Script] = []
        self.injected: list[tuple[str, str, Fault]] = []

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)  # noqa: S311

    def add_rate(
        self,
        rate: float,
        fault: Fault,
        *,
        method: str = "*",
        path: str = r".*",
        mailbox: str | None = None,
        count: int | None = None,
    ) -> None:
        """Inject ``fault`` into a fraction ``rate`` of matching requests (``path`` is a regex searched in
        the path after ``/v1.0``; ``mailbox`` a UPN; ``count`` caps how many are injected)."""
        with self._lock:
            self._rules.append(
                _Rule(
                    rate, fault, method.upper(), re.compile(path), mailbox.lower() if mailbox else None, count
                )
            )

    def script(self, method: str, path: str, *faults: Fault) -> None:
        """Queue faults for the next matching requests, in order (one fault per request)."""
        with self._lock:
            for existing in self._scripts:
                if existing.method == method.upper() and existing.path.pattern == path:
                    existing.queue.extend(faults)
                    return
            self._scripts.append(_Script(method.upper(), re.compile(path), deque(faults)))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._scripts.clear()

    def pick(self, method: str, path: str, mailbox: str | None) -> Fault | None:
        method = method.upper()
        with self._lock:
            for script in self._scripts:
                if script.queue and script.method in ("*", method) and script.path.search(path):
                    fault = script.queue.popleft()
                    self.injected.append((method, path, fault))
                    return fault
            for rule in self._rules:
                if rule.method not in ("*", method) or not rule.path.search(path):
                    continue
                if rule.mailbox is not None and rule.mailbox != (mailbox or "").lower():
                    continue
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if self._rng.random() < rule.rate:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    self.injected.append((method, path, rule.fault))
                    return rule.fault
        return None
