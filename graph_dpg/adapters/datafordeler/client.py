"""CPR names from Datafordeler (implements :class:`graph_dpg.ports.names.NameRegister`, kind ``cpr``).

docs/facts/datafordeler.md: a token by OAuth 2.0 client credentials, the client authenticated by the
organisation's OCES3 certificate over mutual TLS (the certificate registered as "OAuth certifikat" on the
IT system in Datafordeler Administration), then a GraphQL query to the CPR custom service of the sector —
``CPRCustom_PublicSectorPerson`` at ``…/CPR/custom/PublicSector/v2`` for authorities,
``CPRCustom_PrivateSectorPerson`` at ``…/CPR/custom/PrivateSector/v2`` for companies — with the token as
``Authorization: Bearer``. The token is reused until a minute before ``expires_in``.

The CPR number travels only in the POST body (GraphQL variables), never in a URL, so no access log or
httpx log line carries it. Errors are ``graph_dpg.core.errors`` with ``service="datafordeler"``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx

from graph_dpg.adapters import certificates
from graph_dpg.adapters.digital_post.tls import client_ssl_context, identity_from
from graph_dpg.adapters.lookup_http import request_json
from graph_dpg.core.errors import PermanentError
from graph_dpg.domain.names import NameKind, NameResult, cpr_result

SERVICE = "datafordeler"
LABEL = "Datafordeler"
Sector = Literal["public", "private"]

#: GraphQL entity and service path per sector
#: (docs/facts/datafordeler.md, "From REST to GraphQL (documented)").
ENTITIES: Mapping[Sector, tuple[str, str]] = {
    "public": ("CPRCustom_PublicSectorPerson", "CPR/custom/PublicSector/v2"),
    "private": ("CPRCustom_PrivateSectorPerson", "CPR/custom/PrivateSector/v2"),
}
#: The fields the gateway reads (inference: the custom schemas are behind access control; the names follow
#: the CPR entities Person, Navn and Beskyttelse of the published CPR data model).
FIELDS = (
    "personnummer status "
    "navn { adresseringsnavn fornavne mellemnavn efternavn } "
    "beskyttelse { beskyttelsestype virkningFra virkningTil }"
)
TOKEN_MARGIN_SECONDS = 60.0


def query_for(entity: str) -> str:
    return (
        f"query Navn($pnr: String!) {{ {entity}(where: {{ personnummer: {{ eq: $pnr }} }}, first: 1) "
        f"{{ nodes {{ {FIELDS} }} }} }}"
    )


class DatafordelerCpr:
    kind: NameKind = "cpr"

    def __init__(
        self,
        *,
        token_url: str,
        graphql_base_url: str,
        client_id: str,
        certificate_path: str | os.PathLike[str],
        certificate_password: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        sector: Sector = "public",
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        bundle = certificates.load_certificate_file(certificate_path, certificate_password, label=LABEL)
        identity = identity_from(bundle)
        entity, path = ENTITIES[sector]
        self._entity = entity
        self._query = query_for(entity)
        self._token_url = token_url
        self._graphql_url = graphql_base_url.rstrip("/") + "/" + path
        self._client_id = client_id
        self._clock = clock
        self._today = today
        self._token: tuple[str, float] | None = None
        timeout = httpx.Timeout(timeout_seconds)
        # The token endpoint authenticates the client by its certificate; the data endpoint by the token.
        # One client presenting the certificate serves both (a data endpoint that does not ask for it
        # ignores it).
        self._http = httpx.AsyncClient(
            timeout=timeout,
            verify=client_ssl_context(identity, ca_bundle),
            headers={"Accept": "application/json"},
            http1=True,
            http2=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _bearer(self) -> str:
        now = self._clock()
        if self._token is not None and now < self._token[1]:
            return self._token[0]
        body = await request_json(
            self._http,
            "POST",
            self._token_url,
            service=SERVICE,
            what="Datafordeler token",
            data={"grant_type": "client_credentials", "client_id": self._client_id},
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("Datafordeler token: the answer has no access_token", SERVICE, 200)
        expires = body.get("expires_in")
        lifetime = (
            float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 300
        )
        self._token = (token, now + max(0.0, lifetime - TOKEN_MARGIN_SECONDS))
        return token

    async def lookup(self, number: str) -> NameResult:
        token = await self._bearer()
        body = await request_json(
            self._http,
            "POST",
            self._graphql_url,
            service=SERVICE,
            what="CPR lookup",
            json={"query": self._query, "variables": {"pnr": number}},
            headers={"Authorization": f"Bearer {token}"},
        )
        return cpr_result(number, self._person(body), self._today())

    def _person(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        errors = body.get("errors")
        if errors:
            # GraphQL reports refusals (no access to the entity) as errors with HTTP 200; their text is
            # not shown: it may echo the query's variables.
            self._token = None
            raise PermanentError("CPR lookup: the service answered with GraphQL errors", SERVICE, 200)
        data = body.get("data")
        result = data.get(self._entity) if isinstance(data, Mapping) else None
        nodes = result.get("nodes") if isinstance(result, Mapping) else None
        if not isinstance(nodes, list):
            raise PermanentError(f"CPR lookup: the answer has no {self._entity}.nodes", SERVICE, 200)
        first = nodes[0] if nodes else None
        return first if isinstance(first, Mapping) else None
