"""The emulator's contacts, as far as the gateway reads them for S/MIME certificates (sandbox/graph/contacts.py):
user-list-contacts.md ($filter=emailAddresses/any(a:a/address eq '...'), the only address filter allowed),
contact-get.md with multivaluelegacyextendedproperty-get.md ($expand=multiValueExtendedProperties($filter=id
eq 'BinaryArray 0x3A70')), and Contacts.Read checked by the permission model (403 ErrorAccessDenied)."""

from __future__ import annotations

import base64

from graph_dpg.sandbox.graph import GraphTenant
from graph_dpg.sandbox.graph.permissions import GATEWAY_ROLES
from tests.integration.graph_emulator.conftest import FUNC, make_client

EXPAND = "multiValueExtendedProperties($filter=id eq 'BinaryArray 0x3A70')"


async def _get(tenant: GraphTenant, token: str, path: str, **params: str) -> tuple[int, dict]:
    async with make_client(tenant, token) as client:
        r = await client.get(path, params=params)
        return r.status_code, r.json()


async def test_contact_found_by_address_and_its_certificates_expanded(tenant: GraphTenant) -> None:
    cid = tenant.add_contact(FUNC, "Nabokommunen", ["Post@Nabokommune.dk"], [b"\x30\x01", b"\x01\x00"])
    tenant.add_contact(FUNC, "Andre", ["andre@x.dk"])
    tenant.grant("t", GATEWAY_ROLES)
    status, listed = await _get(
        tenant,
        "t",
        f"/users/{FUNC}/contacts",
        **{"$filter": "emailAddresses/any(a:a/address eq 'post@nabokommune.dk')", "$select": "id"},
    )
    assert status == 200
    assert listed["value"] == [{"id": cid}]
    status, one = await _get(tenant, "t", f"/users/{FUNC}/contacts/{cid}", **{"$expand": EXPAND})
    assert status == 200
    [prop] = one["multiValueExtendedProperties"]
    assert prop["id"] == "BinaryArray 0x3A70"
    assert [base64.b64decode(v) for v in prop["value"]] == [b"\x30\x01", b"\x01\x00"]
    # Without $expand the property is not there (multivaluelegacyextendedproperty-get.md: only via $expand).
    status, plain = await _get(tenant, "t", f"/users/{FUNC}/contacts/{cid}")
    assert status == 200 and "multiValueExtendedProperties" not in plain


async def test_contacts_need_contacts_read(tenant: GraphTenant) -> None:
    cid = tenant.add_contact(FUNC, "Nabokommunen", ["post@nabokommune.dk"], [b"\x30\x01"])
    tenant.grant("no-contacts", GATEWAY_ROLES - {"Contacts.Read"})
    for path in (f"/users/{FUNC}/contacts", f"/users/{FUNC}/contacts/{cid}"):
        status, body = await _get(tenant, "no-contacts", path)
        assert (status, body["error"]["code"]) == (403, "ErrorAccessDenied")
    tenant.grant("readwrite", (GATEWAY_ROLES - {"Contacts.Read"}) | {"Contacts.ReadWrite"})
    status, _ = await _get(tenant, "readwrite", f"/users/{FUNC}/contacts")
    assert status == 200


async def test_other_address_filters_are_refused(tenant: GraphTenant) -> None:
    # user-list-contacts.md: only any() with eq on the address sub-property.
    tenant.grant("t", GATEWAY_ROLES)
    status, body = await _get(
        tenant, "t", f"/users/{FUNC}/contacts", **{"$filter": "emailAddresses/any(a:a/name eq 'x')"}
    )
    assert (status, body["error"]["code"]) == (400, "BadRequest")
    status, _ = await _get(tenant, "t", f"/users/{FUNC}/contacts/unknown-id")
    assert status == 404
