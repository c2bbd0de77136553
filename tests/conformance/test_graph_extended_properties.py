"""Extended properties: api-reference/v1.0/resources/extended-properties-overview.md ("id formats"): a named
property is "{type} {guid} Name {name}"; "After you have chosen one format for the id, you should access
that extended property by only that format". The page does not say how names compare; the emulator keeps
the name case-sensitive (MAPI named properties: [MS-OXCDATA] 2.6.1 PropertyName; treating the type and GUID
case-insensitively and the name as given is an inference), so the gateway must write and read one spelling,
which it does through ``translate.property_id`` only.
"""

from __future__ import annotations

import httpx

from graph_dpg.adapters.graph.translate import PROPERTY_SET_GUID, property_id
from graph_dpg.sandbox.graph import GraphTenant

from .conftest import FUNC, make_mailbox


async def _find(client: httpx.AsyncClient, prop: str, value: str) -> list[str]:
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq '{value}')"
    r = await client.get(
        f"/users/{FUNC}/mailFolders/inbox/messages",
        params={"$filter": flt},
        headers={"Prefer": 'IdType="ImmutableId"'},
    )
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["value"]]


async def test_extended_properties_overview_md_name_is_case_sensitive_guid_and_type_are_not(
    tenant: GraphTenant, client: httpx.AsyncClient
) -> None:
    written = property_id("EffectKey")
    mid = tenant.deliver_to_inbox(FUNC, "Hej", "<p>x</p>")
    r = await client.patch(
        f"/users/{FUNC}/messages/{mid}",
        json={"singleValueExtendedProperties": [{"id": written, "value": "k1"}]},
    )
    assert r.status_code == 200
    assert await _find(client, written, "k1") == [mid]
    guid_lower = f"string {{{PROPERTY_SET_GUID.lower()}}} Name EffectKey"
    assert await _find(client, guid_lower, "k1") == [mid]
    assert await _find(client, property_id("effectkey"), "k1") == []
    assert await _find(client, property_id("EFFECTKEY"), "k1") == []


async def test_gateway_writes_and_finds_with_one_spelling(tenant: GraphTenant) -> None:
    mid = tenant.deliver_to_inbox(FUNC, "Hej", "<p>x</p>")
    async with make_mailbox(tenant) as mbx:
        await mbx.set_extended_property(FUNC, mid, "EffectKey", "k2")
        assert await mbx.find_by_extended_property(FUNC, "inbox", "EffectKey", "k2") == [mid]
        assert await mbx.find_by_extended_property(FUNC, "inbox", "effectkey", "k2") == []
    [stored] = [p for p in tenant.message(FUNC, mid)["singleValueExtendedProperties"] if p["value"] == "k2"]
    assert stored["id"] == f"String {{{PROPERTY_SET_GUID}}} Name EffectKey"
