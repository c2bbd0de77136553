"""What the Datafordeler emulator holds: the OAuth clients it knows, the tokens it issued, the CPR persons.

Sample persons (sandbox data, not real people): one active, one with name and address protection, one
dead, one emigrated; ``UNKNOWN_CPR`` is a valid number the register does not hold. Person status codes are
CPR's (01 resident, 80 emigrated, 90 dead; docs/facts/datafordeler.md, "Person status").
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SANDBOX_CLIENT_ID = "graph-dpg-sandbox"
UNKNOWN_CPR = "0505901234"


def _person(pnr: str, status: str, first: str, last: str, protected: bool = False) -> dict[str, Any]:
    return {
        "personnummer": pnr,
        "status": status,
        "navn": {
            "adresseringsnavn": f"{first} {last}",
            "fornavne": first,
            "mellemnavn": None,
            "efternavn": last,
        },
        "beskyttelse": (
            [
                {
                    "beskyttelsestype": "NAVNE_OG_ADRESSEBESKYTTELSE",
                    "virkningFra": "2020-01-01",
                    "virkningTil": None,
                }
            ]
            if protected
            else []
        ),
    }


def sample_persons() -> dict[str, dict[str, Any]]:
    people = [
        _person("0101708881", "01", "Jens", "Hansen"),
        _person("0202804442", "01", "Beskyttet", "Borger", protected=True),
        _person("0303405553", "90", "Afdød", "Person"),
        _person("0404656664", "80", "Udrejst", "Person"),
    ]
    return {p["personnummer"]: p for p in people}


@dataclass
class DatafordelerState:
    client_ids: set[str] = field(default_factory=lambda: {SANDBOX_CLIENT_ID})
    persons: dict[str, dict[str, Any]] = field(default_factory=sample_persons)
    token_lifetime: int = 300
    #: Answer the next N data requests with 503 (tests of the error status).
    fail_next: int = 0
    tokens_issued: int = 0
    queries: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def take_failure(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def sample_numbers(self) -> list[str]:
        return [*self.persons, UNKNOWN_CPR]
