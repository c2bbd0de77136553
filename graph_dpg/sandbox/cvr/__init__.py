"""The CVR distribution search emulator (``cvr-permanent/virksomhed/_search`` behind Basic authentication)
for the sandbox and the tests. Imports nothing of the gateway.

Sources: Erhvervsstyrelsen's "System-til-system adgang til CVR-data" is an Elasticsearch service at
``distribution.virk.dk`` with user name and password (datacvr.virk.dk/artikel/system-til-system-adgang-til-
cvr-data, as cited by github openownership/register ``content/data_sources/dk-cvr-register/
data_availability.en.md``); answers in Elasticsearch's shape ``hits.hits[]._source.Vrvirksomhed`` with
``cvrNummer``, ``navne[]{navn, periode{gyldigFra, gyldigTil}}``, ``livsforloeb[]``, ``virksomhedsstatus[]``
and ``virksomhedMetadata`` (real answers stored in github Andreasbirch/Andreasbirch.github.io
``apps/HvemErEjeren/data.js`` and alexdor/regtic ``workers/vat-dk/cvr_parser.js``). ``_source`` filtering
and ``term`` queries are Elasticsearch's (Elasticsearch reference, "Query DSL: term", "_source filtering").
Inferences: ``sammensatStatus`` values ("Aktiv", "Ophørt"), 401 without credentials (Elasticsearch with
security answers 401), https on the real service.

Samples (sandbox data): an active company, a ceased one, the sandbox scenario's sender (29189846);
``UNKNOWN_CVR`` is a valid number the index does not hold.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_dpg.sandbox.datafordeler.server import serve_app

SANDBOX_USER = "graph-dpg-sandbox"
SANDBOX_PASSWORD = "sandbox"  # noqa: S105 - emulator credentials
UNKNOWN_CVR = "10000009"
SEARCH_PATH = "/cvr-permanent/virksomhed/_search"
MAX_BODY = 64 * 1024


def _company(cvr: str, name: str, *, ceased: bool = False) -> dict[str, Any]:
    end = "2021-06-30" if ceased else None
    return {
        "cvrNummer": int(cvr),
        "navne": [{"navn": name, "periode": {"gyldigFra": "2010-01-01", "gyldigTil": end}}],
        "livsforloeb": [{"periode": {"gyldigFra": "2010-01-01", "gyldigTil": end}}],
        "virksomhedsstatus": (
            [{"status": "OPHØRT", "periode": {"gyldigFra": "2021-06-30", "gyldigTil": None}}]
            if ceased
            else []
        ),
        "virksomhedMetadata": {
            "nyesteNavn": {"navn": name, "periode": {"gyldigFra": "2010-01-01", "gyldigTil": end}},
            "sammensatStatus": "Ophørt" if ceased else "Aktiv",
        },
    }


def sample_companies() -> dict[str, dict[str, Any]]:
    return {
        "12345674": _company("12345674", "Eksempel Handel ApS"),
        "13748136": _company("13748136", "Lukket Værksted I/S", ceased=True),
        "29189846": _company("29189846", "Byg & Anlæg A/S"),  # the sandbox scenario's sender
    }


@dataclass
class CvrState:
    username: str = SANDBOX_USER
    password: str = SANDBOX_PASSWORD
    companies: dict[str, dict[str, Any]] = field(default_factory=sample_companies)
    fail_next: int = 0
    searches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def sample_numbers(self) -> list[str]:
        return [*self.companies, UNKNOWN_CVR]


def _filtered(company: dict[str, Any], wanted: object) -> dict[str, Any]:
    """Elasticsearch ``_source`` filtering for paths under ``Vrvirksomhed.`` (one or two levels)."""
    if not isinstance(wanted, list):
        return {"Vrvirksomhed": company}
    out: dict[str, Any] = {}
    for path in wanted:
        parts = str(path).split(".")
        if parts[0] != "Vrvirksomhed":
            continue
        if len(parts) == 1:
            return {"Vrvirksomhed": company}
        value: Any = company
        target = out
        for i, part in enumerate(parts[1:]):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
            if i == len(parts) - 2:
                target[part] = value
            else:
                target = target.setdefault(part, {})
    return {"Vrvirksomhed": out}


def create_app(state: CvrState) -> Starlette:
    expected = "Basic " + base64.b64encode(f"{state.username}:{state.password}".encode()).decode()

    async def search(request: Request) -> Response:
        if request.headers.get("authorization") != expected:
            return JSONResponse(
                {"error": {"type": "security_exception"}, "status": 401},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="security"'},
            )
        if state.take_failure():
            return JSONResponse({"error": {"type": "unavailable"}, "status": 503}, status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": {"type": "too_large"}, "status": 413}, status_code=413)
        try:
            query = json.loads(body)
            term = query["query"]["term"]["Vrvirksomhed.cvrNummer"]
            if isinstance(term, dict):
                term = term["value"]
            cvr = str(int(term)).zfill(8)
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": {"type": "parsing_exception"}, "status": 400}, status_code=400)
        state.searches += 1
        company = state.companies.get(cvr)
        hits = (
            []
            if company is None
            else [
                {"_index": "cvr-v-sandbox", "_id": cvr, "_source": _filtered(company, query.get("_source"))}
            ]
        )
        return JSONResponse(
            {"took": 1, "timed_out": False, "hits": {"total": len(hits), "max_score": None, "hits": hits}}
        )

    return Starlette(routes=[Route(SEARCH_PATH, search, methods=["POST", "GET"])])


@dataclass(frozen=True)
class RunningCvr:
    state: CvrState
    base_url: str


@contextmanager
def running_cvr(
    *, server_cert: Path, server_key: Path, state: CvrState | None = None
) -> Iterator[RunningCvr]:
    state = state or CvrState()
    with serve_app(create_app(state), certfile=server_cert, keyfile=server_key, name="cvr-emulator") as app:
        yield RunningCvr(state, app.url)
