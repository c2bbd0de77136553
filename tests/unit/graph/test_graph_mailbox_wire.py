"""GraphMailbox on the real msgraph-sdk pipeline against canned responses (httpx.MockTransport).

These pin the wire format the adapter produces (paths, query, headers, bodies) and its reaction to
Graph's answers; the behaviour against a stateful tenant is covered in tests/integration/graph.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential, property_id
from graph_dpg.core.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    SyncStateExpiredError,
    ThrottledError,
)
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage

BASE = "http://127.0.0.1:8999/v1.0"
MB = "fn@kommune.dk"
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Wire:
    """Records requests and answers them with ``handler``."""

    def __init__(
        self, handler: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
    ) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.headers: list[httpx.Headers] = []  # a snapshot: the retry handler reuses Request objects

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.requests.append(request)
        self.bodies.append(body)
        self.headers.append(httpx.Headers(request.headers))
        result = self.handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, httpx.Response)
        return result

    def paths(self) -> list[str]:
        return [f"{r.method} {unquote(r.url.raw_path.decode())}" for r in self.requests]


def mailbox(wire: Wire, **kw: Any) -> GraphMailbox:
    return GraphMailbox(
        StaticTokenCredential("sandbox-token"),
        BASE + "/",
        transport=httpx.MockTransport(wire),
        retry=RetryPolicy.fast(),
        **kw,
    )


def err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code}}, headers=headers)


async def test_every_request_has_bearer_immutable_ids_and_no_double_slash() -> None:
    wire = Wire(lambda r: httpx.Response(200, content=b"MIME-Version: 1.0\r\n\r\nhi"))
    async with mailbox(wire) as mbx:
        assert await mbx.get_mime(MB, "id-1") == b"MIME-Version: 1.0\r\n\r\nhi"
    (req,) = wire.requests
    assert wire.paths() == ["GET /v1.0/users/fn@kommune.dk/messages/id-1/$value"]
    assert "%40" in str(req.url)  # the SDK encodes the UPN's @
    assert req.headers["authorization"] == "Bearer sandbox-token"
    assert 'IdType="ImmutableId"' in req.headers["prefer"]


def test_base_url_must_be_https_or_loopback() -> None:
    cred = StaticTokenCredential("t")
    with pytest.raises(ConfigError, match="loopback"):
        GraphMailbox(cred, "http://graph.example.org/v1.0")
    with pytest.raises(ConfigError, match="absolute"):
        GraphMailbox(cred, "graph.microsoft.com/v1.0")


async def test_delta_follows_next_links_to_the_delta_link() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if "skiptoken" not in str(r.url):
            return httpx.Response(
                200,
                json={
                    "value": [{"id": "m1", "subject": "one"}],
                    "@odata.nextLink": f"{BASE}/users/{MB}/mailFolders/sentitems/messages/delta?$skiptoken=p2",
                },
            )
        return httpx.Response(
            200,
            json={
                "value": [{"id": "m2", "subject": "two"}, {"id": "m0", "@removed": {"reason": "deleted"}}],
                "@odata.deltaLink": f"{BASE}/users/{MB}/mailFolders/sentitems/messages/delta?$deltatoken=d1",
            },
        )

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        rnd = await mbx.read_delta(MB, "sentitems", None, select=["id", "subject"], page_size=7)
    assert [m.id for m in rnd.messages] == ["m1", "m2"]
    assert rnd.messages[0].mailbox == MB
    assert rnd.removed_ids == ["m0"]
    assert rnd.delta_link.endswith("$deltatoken=d1")
    assert rnd.resynced is False
    first, second = wire.requests
    assert first.url.params["changeType"] == "created"
    assert first.url.params["$select"] == "id,subject"
    assert "/messages/delta" in first.url.path
    assert "odata.maxpagesize=7" in first.headers["prefer"]
    assert "odata.maxpagesize=7" in second.headers["prefer"]
    assert str(second.url).endswith("$skiptoken=p2")  # nextLink used verbatim


async def test_expired_delta_token_restarts_a_full_sync() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if "deltatoken=old" in str(r.url):
            return err(410, "syncStateNotFound")
        return httpx.Response(
            200, json={"value": [{"id": "m1"}], "@odata.deltaLink": f"{BASE}/d?$deltatoken=new"}
        )

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        rnd = await mbx.read_delta(MB, "inbox", f"{BASE}/d?$deltatoken=old")
        assert rnd.resynced is True
        assert [m.id for m in rnd.messages] == ["m1"]
        assert rnd.delta_link.endswith("new")
        assert "changeType=created" in str(wire.requests[-1].url)


async def test_expired_token_on_a_full_sync_is_raised() -> None:
    async with mailbox(Wire(lambda r: err(410, "syncStateNotFound"))) as mbx:
        with pytest.raises(SyncStateExpiredError):
            await mbx.read_delta(MB, "inbox", None)


async def test_retry_handler_honours_retry_after_then_succeeds() -> None:
    calls = {"n": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return err(429, "TooManyRequests", {"Retry-After": "0.05"})
        if calls["n"] == 2:
            return err(503, "ServiceUnavailable")
        return httpx.Response(200, content=b"ok")

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        assert await mbx.get_mime(MB, "x") == b"ok"
    assert [h.get("retry-attempt") for h in wire.headers] == [None, "1", "2"]


async def test_persistent_throttling_becomes_throttled_error() -> None:
    wire = Wire(lambda r: err(429, "ApplicationThrottled", {"Retry-After": "0.01"}))
    async with mailbox(wire) as mbx:
        with pytest.raises(ThrottledError) as info:
            await mbx.get_mime(MB, "x")
        assert info.value.retry_after == pytest.approx(0.01)
        assert mbx.throttled[MB] == 1
    assert len(wire.requests) == 4  # first try + 3 retries


async def test_at_most_four_requests_in_flight_per_mailbox() -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handler(r: httpx.Request) -> httpx.Response:
        user = unquote(r.url.path.split("/")[3])
        in_flight[user] = in_flight.get(user, 0) + 1
        peak[user] = max(peak.get(user, 0), in_flight[user])
        await asyncio.sleep(0.01)
        in_flight[user] -= 1
        return httpx.Response(200, content=b"x")

    async with mailbox(Wire(handler)) as mbx:
        await asyncio.gather(*(mbx.get_mime(box, str(i)) for i in range(25) for box in ("a@k.dk", "B@k.dk")))
    assert peak == {"a@k.dk": 4, "B@k.dk": 4}


async def test_errors_are_translated() -> None:
    async with mailbox(Wire(lambda r: err(404, "ErrorItemNotFound"))) as mbx:
        with pytest.raises(NotFoundError):
            await mbx.get_message(MB, "gone")
    async with mailbox(Wire(lambda r: err(403, "ErrorAccessDenied"))) as mbx:
        with pytest.raises(AuthError):
            await mbx.check_mailbox(MB)


async def test_credential_failure_is_an_auth_error() -> None:
    class Broken(StaticTokenCredential):
        async def get_token(self, *scopes: str, **kw: Any) -> Any:
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

    wire = Wire(lambda r: httpx.Response(200))
    mbx = GraphMailbox(Broken("x"), BASE, transport=httpx.MockTransport(wire))
    with pytest.raises(AuthError, match="AADSTS7000215"):
        await mbx.check_mailbox(MB)
    assert wire.requests == []
    await mbx.aclose()


async def test_get_message_fetches_small_attachments_as_json_and_large_as_raw_bytes() -> None:
    big = b"B" * 700_000

    def handler(r: httpx.Request) -> httpx.Response:
        path = unquote(r.url.raw_path.decode()).split("?")[0]
        if path.endswith("/messages/m1"):
            return httpx.Response(
                200,
                json={
                    "id": "m1",
                    "hasAttachments": True,
                    "body": {"contentType": "html", "content": "<b>x</b>"},
                },
            )
        if path.endswith("/messages/m1/attachments"):
            return httpx.Response(
                200,
                json={
                    "value": [
                        {
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "id": "s",
                            "name": "s.txt",
                            "size": 5,
                        },
                        {
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "id": "l",
                            "name": "l.pdf",
                            "size": len(big),
                        },
                    ]
                },
            )
        if path.endswith("/attachments/s"):
            return httpx.Response(
                200,
                json={
                    "id": "s",
                    "name": "s.txt",
                    "contentType": "text/plain",
                    "size": 5,
                    "contentBytes": base64.b64encode(b"small").decode(),
                },
            )
        if path.endswith("/attachments/l/$value"):
            return httpx.Response(200, content=big, headers={"content-type": "application/pdf"})
        return err(404, "ErrorItemNotFound")

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        msg = await mbx.get_message(MB, "m1")
    assert msg.body == "<b>x</b>"
    assert {a.name: a.content for a in msg.attachments} == {"s.txt": b"small", "l.pdf": big}
    select = wire.requests[0].url.params["$select"].split(",")
    assert {"body", "internetMessageHeaders", "toRecipients"} <= set(select)
    assert wire.requests[1].url.params["$select"] == "id,name,contentType,size,isInline"


def _json(body: bytes) -> dict[str, Any]:
    data = json.loads(body)
    assert isinstance(data, dict)
    return data


async def test_create_message_non_draft_with_large_attachment_through_upload_session() -> None:
    big = bytes(range(256)) * 20_480  # 5 MiB
    received: list[bytes] = []

    def handler(r: httpx.Request) -> httpx.Response:
        path = unquote(r.url.raw_path.decode())
        if r.method == "POST" and path.endswith("/mailFolders/inbox/messages"):
            return httpx.Response(201, json={"id": "new-1"})
        if path.endswith("/messages/new-1/attachments/createUploadSession"):
            return httpx.Response(
                201,
                json={"uploadUrl": "https://upload.example/up/s1?authtoken=x", "nextExpectedRanges": ["0-"]},
            )
        if r.url.host == "upload.example":
            received.append(r.content)
            if sum(map(len, received)) == len(big):
                return httpx.Response(
                    201, headers={"Location": f"{BASE}/users('{MB}')/messages('new-1')/attachments('att-9')"}
                )
            return httpx.Response(200, json={"nextExpectedRanges": [f"{sum(map(len, received))}-"]})
        return err(400, "unexpected")

    wire = Wire(handler)
    msg = MailMessage(
        subject="Digital Post",
        body="<p>hej</p>",
        sender=EmailAddress("ngdp@gw.kommune.dk", "Digital Post"),
        to=[EmailAddress(MB)],
        attachments=[
            Attachment("memo.xml", "application/xml", b"<memo/>"),
            Attachment("big.pdf", "application/pdf", big),
        ],
    )
    async with mailbox(wire) as mbx:
        new_id = await mbx.create_message(MB, "inbox", msg, extended_properties={"MemoUuid": "u-1"})
    assert new_id == "new-1"
    create = _json(wire.bodies[0])
    props = {p["id"]: p["value"] for p in create["singleValueExtendedProperties"]}
    assert props["Integer 0x0E07"] == "0"  # not mfUnsent → not a draft; unread
    assert "SystemTime 0x0E06" in props
    assert "SystemTime 0x0039" in props
    assert props[property_id("MemoUuid")] == "u-1"
    assert [a["name"] for a in create["attachments"]] == ["memo.xml"]
    session = _json(wire.bodies[1])["AttachmentItem"]
    assert session == {
        "attachmentType": "file",
        "name": "big.pdf",
        "size": len(big),
        "contentType": "application/pdf",
        "isInline": False,
    }
    assert b"".join(received) == big
    puts = [r for r in wire.requests if r.url.host == "upload.example"]
    assert len(puts) == 2
    assert puts[0].headers["content-range"] == f"bytes 0-{len(received[0]) - 1}/{len(big)}"
    assert all(len(c) < 4 * 1024 * 1024 for c in received)
    # The pre-authenticated upload URL is on another host: no bearer token may leak there.
    assert all("authorization" not in r.headers for r in puts)


async def test_send_mail_small_uses_sendmail() -> None:
    wire = Wire(lambda r: httpx.Response(202))
    msg = MailMessage(subject="Kvittering", body="ok", to=[EmailAddress("a@b.dk")])
    async with mailbox(wire) as mbx:
        await mbx.send_mail(MB, msg, save_to_sent_items=False)
    assert wire.paths() == [f"POST /v1.0/users/{MB}/sendMail"]
    payload = _json(wire.bodies[0])
    assert payload["saveToSentItems"] is False
    assert payload["message"]["subject"] == "Kvittering"


async def test_send_mail_over_four_megabytes_goes_draft_upload_send() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        path = unquote(r.url.raw_path.decode())
        if path.endswith(f"/users/{MB}/messages"):
            return httpx.Response(201, json={"id": "d1"})
        if path.endswith("/attachments"):
            return httpx.Response(201, json={"id": "a1"})
        if path.endswith("/createUploadSession"):
            return httpx.Response(201, json={"uploadUrl": f"{BASE}/upload/1"})
        if "/upload/" in path:
            return httpx.Response(201, headers={"Location": "attachments('a2')"})
        if path.endswith("/messages/d1/send"):
            return httpx.Response(202)
        return err(400, "unexpected")

    wire = Wire(handler)
    atts = [Attachment(f"p{i}.pdf", "application/pdf", b"x" * 1_000_000) for i in range(3)]
    atts.append(Attachment("huge.pdf", "application/pdf", b"y" * 3_500_000))
    msg = MailMessage(subject="Stor", body="b", to=[EmailAddress("a@b.dk")], attachments=atts)
    async with mailbox(wire) as mbx:
        await mbx.send_mail(MB, msg, save_to_sent_items=False)
    paths = wire.paths()
    assert paths[0] == f"POST /v1.0/users/{MB}/messages"
    assert paths[-1] == f"POST /v1.0/users/{MB}/messages/d1/send"
    draft = _json(wire.bodies[0])
    assert len(draft["attachments"]) == 2  # what fits under the 4 MB request limit
    assert draft["singleValueExtendedProperties"] == [{"id": "Boolean 0x0E01", "value": "true"}]
    assert all(len(b) < 4 * 1024 * 1024 for b in wire.bodies)
    assert sum(p.endswith("/attachments") for p in paths) == 1
    assert sum(p.endswith("/createUploadSession") for p in paths) == 1
    # Even on the API host, the pre-authenticated upload URL gets no Authorization header.
    uploads = [h for r, h in zip(wire.requests, wire.headers, strict=True) if "/upload/" in r.url.path]
    assert len(uploads) == 2
    assert all("authorization" not in h for h in uploads)
    assert all(
        "authorization" in h
        for r, h in zip(wire.requests, wire.headers, strict=True)
        if "/upload/" not in r.url.path
    )


async def test_master_categories_created_and_recoloured() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        if r.method == "GET":
            return httpx.Response(
                200,
                json={
                    "value": [
                        {"id": "c1", "displayName": "Digital Post: sendt", "color": "preset0"},
                        {"id": "c2", "displayName": "Digital Post: fejl", "color": "preset0"},
                    ]
                },
            )
        return httpx.Response(201 if r.method == "POST" else 200, json={})

    wire = Wire(handler)
    wanted = {
        "Digital Post: sendt": "preset4",
        "Digital Post: fejl": "preset0",
        "Digital Post: modtaget": "preset7",
    }
    async with mailbox(wire) as mbx:
        created = await mbx.ensure_master_categories(MB, wanted)
    assert created == ["Digital Post: modtaget"]
    assert wire.paths()[1:] == [
        f"PATCH /v1.0/users/{MB}/outlook/masterCategories/c1",
        f"POST /v1.0/users/{MB}/outlook/masterCategories",
    ]
    assert _json(wire.bodies[1]) == {"color": "preset4"}
    assert _json(wire.bodies[2]) == {"displayName": "Digital Post: modtaget", "color": "preset7"}


async def test_master_categories_read_follows_next_link_and_translates_errors() -> None:
    second = f"{BASE}/users/{MB}/outlook/masterCategories?$skiptoken=2"

    def handler(r: httpx.Request) -> httpx.Response:
        if "$skiptoken" in str(r.url):
            return httpx.Response(200, json={"value": [{"id": "c2", "displayName": "Uden farve"}]})
        return httpx.Response(
            200,
            json={
                "value": [{"id": "c1", "displayName": "Digital Post: sendt", "color": "preset4"}],
                "@odata.nextLink": second,
            },
        )

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        assert await mbx.get_master_categories(MB) == {"Digital Post: sendt": "preset4", "Uden farve": "none"}
    assert wire.paths() == [
        f"GET /v1.0/users/{MB}/outlook/masterCategories",
        f"GET /v1.0/users/{MB}/outlook/masterCategories?$skiptoken=2",
    ]
    assert all(h["prefer"] == 'IdType="ImmutableId"' for h in wire.headers)

    async with mailbox(Wire(lambda r: err(403, "ErrorAccessDenied"))) as mbx:
        with pytest.raises(AuthError) as denied:
            await mbx.get_master_categories(MB)
    assert denied.value.status == 403 and "master categories" in str(denied.value)


async def test_find_by_extended_property_builds_the_documented_filter() -> None:
    wire = Wire(lambda r: httpx.Response(200, json={"value": [{"id": "m1"}, {"id": "m2"}]}))
    async with mailbox(wire) as mbx:
        assert await mbx.find_by_extended_property(MB, "sentitems", "ProcessedBy", "o'k") == ["m1", "m2"]
    params = wire.requests[0].url.params
    assert params["$filter"] == (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{property_id('ProcessedBy')}' and ep/value eq 'o''k')"
    )
    assert params["$select"] == "id"


async def test_ensure_folder_walks_creates_and_caches() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        path = unquote(r.url.raw_path.decode()).split("?")[0]
        if path.endswith("/mailFolders/inbox"):
            return httpx.Response(200, json={"id": "INBOX"})
        if r.method == "GET" and path.endswith("/mailFolders/INBOX/childFolders"):
            return httpx.Response(200, json={"value": [{"id": "x", "displayName": "Other"}]})
        if r.method == "POST" and path.endswith("/mailFolders/INBOX/childFolders"):
            return httpx.Response(201, json={"id": "DP", "displayName": "Digital Post"})
        return err(400, "unexpected")

    wire = Wire(handler)
    async with mailbox(wire) as mbx:
        assert await mbx.ensure_folder(MB, "Inbox/Digital Post") == "DP"
        assert await mbx.ensure_folder(MB, "inbox/digital post") == "DP"
    assert len(wire.requests) == 3
    assert _json(wire.bodies[2]) == {"displayName": "Digital Post"}


async def test_token_roles_reads_the_jwt_roles_claim() -> None:
    claims = {"aud": "https://graph.microsoft.com", "roles": ["Mail.ReadWrite", "Mail.Send"]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"
    wire = Wire(lambda r: httpx.Response(200))
    async with GraphMailbox(StaticTokenCredential(jwt), BASE, transport=httpx.MockTransport(wire)) as mbx:
        assert await mbx.token_roles() == ["Mail.ReadWrite", "Mail.Send"]
    async with mailbox(wire) as mbx:
        assert await mbx.token_roles() == []  # the sandbox token is no JWT
    assert wire.requests == []


@pytest.mark.parametrize(
    "location",
    [
        # As api-reference/v1.0/api/attachment-createuploadsession.md shows it (capital A).
        f"{BASE}/Users('{MB}')/Messages('m-1')/Attachments('att-9')",
        f"{BASE}/users('{MB}')/messages('m-1')/attachments('att-9')",
    ],
)
async def test_the_upload_sessions_location_names_the_attachment_whatever_its_case(location: str) -> None:
    big = b"z" * 3_500_000

    def handler(r: httpx.Request) -> httpx.Response:
        path = unquote(r.url.raw_path.decode())
        if path.endswith("/messages/m-1/attachments/createUploadSession"):
            return httpx.Response(201, json={"uploadUrl": "https://upload.example/up/s9?authtoken=x"})
        if r.url.host == "upload.example":
            return httpx.Response(201, headers={"Location": location})
        return err(400, "unexpected")

    async with mailbox(Wire(handler)) as mbx:
        attachment_id = await mbx.add_attachment(MB, "m-1", Attachment("big.pdf", "application/pdf", big))
    assert attachment_id == "att-9"
