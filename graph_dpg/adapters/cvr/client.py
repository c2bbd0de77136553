"""CVR names from the CVR distribution search (implements :class:`graph_dpg.ports.names.NameRegister`,
kind ``cvr``).

docs/facts/cvr.md, "The search (documented / reference code)": the system-to-system access is an
Elasticsearch index behind Basic authentication;
``POST {base}/cvr-permanent/virksomhed/_search`` with a ``term`` query on ``Vrvirksomhed.cvrNummer``
answers ``hits.hits[]._source.Vrvirksomhed``. Only the fields the name and status need are asked for
(``_source`` filtering). A ceased company is reported inactive, never with a name
(:func:`graph_dpg.domain.names.cvr_result`). Errors are ``graph_dpg.core.errors`` with ``service="cvr"``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from graph_dpg.adapters.lookup_http import request_json
from graph_dpg.core.errors import PermanentError
from graph_dpg.domain.names import NameKind, NameResult, cvr_result

SERVICE = "cvr"
SEARCH_PATH = "cvr-permanent/virksomhed/_search"
SOURCE_FIELDS = (
    "Vrvirksomhed.cvrNummer",
    "Vrvirksomhed.navne",
    "Vrvirksomhed.livsforloeb",
    "Vrvirksomhed.virksomhedsstatus",
    "Vrvirksomhed.virksomhedMetadata.nyesteNavn",
    "Vrvirksomhed.virksomhedMetadata.sammensatStatus",
)


def search_body(cvr: str) -> dict[str, Any]:
    return {
        "_source": list(SOURCE_FIELDS),
        "query": {"term": {"Vrvirksomhed.cvrNummer": int(cvr)}},
        "size": 1,
    }


class CvrSearch:
    kind: NameKind = "cvr"

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/" + SEARCH_PATH
        verify = ssl.create_default_context(cafile=os.fspath(ca_bundle) if ca_bundle is not None else None)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            auth=httpx.BasicAuth(username, password),
            headers={"Accept": "application/json"},
            verify=verify,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def lookup(self, number: str) -> NameResult:
        body = await request_json(
            self._http, "POST", self._url, service=SERVICE, what="CVR lookup", json=search_body(number)
        )
        return cvr_result(number, _company(body))


def _company(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    hits = body.get("hits")
    found = hits.get("hits") if isinstance(hits, Mapping) else None
    if not isinstance(found, list):
        raise PermanentError("CVR lookup: the answer has no hits.hits", SERVICE, 200)
    for hit in found:
        source = hit.get("_source") if isinstance(hit, Mapping) else None
        company = source.get("Vrvirksomhed") if isinstance(source, Mapping) else None
        if isinstance(company, Mapping):
            return company
    return None
