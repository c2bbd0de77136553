"""The Datafordeler emulator: the OAuth token endpoint and the CPR custom GraphQL services.

Two apps, served separately so the token endpoint can demand a client certificate while the data endpoint
takes a bearer token (``graph_dpg.sandbox.datafordeler.start``):

    POST /oauth/token                       (mutual TLS)  grant_type=client_credentials&client_id=…
         200 {"access_token", "token_type": "Bearer", "expires_in"}
         400 {"error": "unsupported_grant_type"} | 401 {"error": "invalid_client"}
    POST /CPR/custom/PublicSector/v2        Bearer token; GraphQL {"query", "variables": {"pnr"}}
    POST /CPR/custom/PrivateSector/v2       200 {"data": {"<entity>": {"nodes": [person…]}}}
         401 without a valid token; 503 when a failure is injected

Sources: a certificate ("OAuth certifikat", OCES3) registered on the IT system in Datafordeler
Administration authenticates the client, like an OAuth shared secret (confluence.sdfi.dk pageId=193921084);
the GraphQL endpoints ``https://graphql.datafordeler.dk/CPR/custom/<entity>/<version>`` with the schemas
``…/CPR/custom/PublicSector/v2/schema`` and ``…/PrivateSector/v2/schema`` and the entities
``CPRCustom_PublicSectorPerson`` / ``CPRCustom_PrivateSectorPerson`` (confluence.sdfi.dk/x/WYBGDg);
client credentials and its error codes: RFC 6749 sections 4.4 and 5.2; client authentication by mutual
TLS: RFC 8705. The private-sector services leave out the name of a person with name and address
protection ("I tilfælde hvor der er navne- og adressebeskyttelse på personer, vil adresser,
udrejse/indrejse og navn ikke medtages i output", confluence.sdfi.dk pageId=17138963); the public-sector
services return it (authorities may see it).

Inferences (the custom schemas are behind access control): the token path, its ``expires_in``, the field
names of a person (``personnummer``, ``status``, ``navn{…}``, ``beskyttelse{…}``, after the CPR entities
Person, Navn and Beskyttelse), the ``where: {personnummer: {eq: …}}`` filter and GraphQL errors with 200.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_dpg.sandbox.datafordeler.state import DatafordelerState

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
SECTORS = {
    "PublicSector": "CPRCustom_PublicSectorPerson",
    "PrivateSector": "CPRCustom_PrivateSectorPerson",
}
_EQ = re.compile(r'personnummer\s*:\s*\{\s*eq\s*:\s*"(\d{10})"')
MAX_BODY = 64 * 1024


def create_token_app(state: DatafordelerState) -> Starlette:
    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if form.get("client_id") not in state.client_ids:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(
            {"access_token": state.issue_token(), "token_type": "Bearer", "expires_in": state.token_lifetime}
        )

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])])


def create_data_app(state: DatafordelerState) -> Starlette:
    async def graphql(request: Request) -> Response:
        sector = request.path_params["sector"]
        entity = SECTORS.get(sector)
        if entity is None:
            return JSONResponse({"errors": [{"message": "unknown service"}]}, status_code=404)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.token_valid(auth[7:].strip()):
            return JSONResponse({"errors": [{"message": "unauthorized"}]}, status_code=401)
        if state.take_failure():
            return JSONResponse({"errors": [{"message": "service unavailable"}]}, status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"errors": [{"message": "request too large"}]}, status_code=413)
        try:
            payload = json.loads(body)
            query = payload["query"]
            variables = payload.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": [{"message": "not a GraphQL request"}]}, status_code=400)
        if not isinstance(query, str) or entity not in query:
            return JSONResponse({"errors": [{"message": f"the query must select {entity}"}]})
        pnr = variables.get("pnr") if isinstance(variables, dict) else None
        if not isinstance(pnr, str):
            match = _EQ.search(query)
            pnr = match.group(1) if match else None
        state.queries += 1
        person = state.persons.get(pnr or "")
        nodes: list[dict[str, Any]] = []
        if person is not None:
            shown = copy.deepcopy(person)
            if sector == "PrivateSector" and shown.get("beskyttelse"):
                shown["navn"] = None
            nodes.append(shown)
        return JSONResponse({"data": {entity: {"nodes": nodes}}})

    return Starlette(routes=[Route("/CPR/custom/{sector}/v2", graphql, methods=["POST"])])
