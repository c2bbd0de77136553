"""The NgDP push receiver refuses every unauthenticated call and compares the secret in constant time."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from graph_dpg.adapters.digital_post import push
from graph_dpg.adapters.digital_post.push import create_push_app

SECRET = "push-S3cret-6b1d9f"
MEMO_PATHS = ["/memos", "/memos/", "/recipient-system"]
RECEIPT_PATHS = ["/receipts", "/receipts/", "/sender-system/receipt"]


class RecordingSink:
    def __init__(self) -> None:
        self.memos: list[str] = []
        self.receipts: list[object] = []

    async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
        self.memos.append(memo_uuid)

    async def store_pushed_receipt(self, receipt: object) -> None:
        self.receipts.append(receipt)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


REFUSED: dict[str, dict[str, str]] = {
    "no header": {},
    "empty header": {"Authorization": ""},
    "bearer, wrong": {"Authorization": "Bearer wrong"},
    "bearer, empty": {"Authorization": "Bearer "},
    "bearer, prefix of the secret": {"Authorization": f"Bearer {SECRET[:-1]}"},
    "bearer, secret plus a character": {"Authorization": f"Bearer {SECRET}x"},
    "bearer, secret in another case": {"Authorization": f"Bearer {SECRET.upper()}"},
    "basic, wrong password": {"Authorization": basic("ngdp", "wrong")},
    "basic, secret as the user name": {"Authorization": basic(SECRET, "")},
    "basic, no colon": {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()},
    "basic, not base64": {"Authorization": "Basic %%%" + SECRET},
    "basic, secret not encoded": {"Authorization": f"Basic ngdp:{SECRET}"},
    "unknown scheme": {"Authorization": f"Token {SECRET}"},
    "secret without scheme": {"Authorization": SECRET},
    "digest": {"Authorization": f'Digest username="ngdp", response="{SECRET}"'},
}
ACCEPTED: dict[str, dict[str, str]] = {
    "bearer": {"Authorization": f"Bearer {SECRET}"},
    "bearer, lower-case scheme": {"Authorization": f"bearer {SECRET}"},
    "basic, any user": {"Authorization": basic("ngdp-system", SECRET)},
}


def _receipt_json() -> bytes:
    return json.dumps(
        {
            "transmissionId": str(uuid.uuid4()),
            "messageUUID": str(uuid.uuid4()),
            "receiptStatus": "COMPLETED",
            "receiptDateTime": "2026-11-22T12:00:00Z",
        }
    ).encode()


async def _post(app: object, path: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:  # type: ignore[arg-type]
        if path in MEMO_PATHS:
            memo = str(uuid.uuid4())
            return await c.post(
                path, files={"file": (f"{memo}.xml", b"<x/>", "application/xml")}, headers=headers
            )
        return await c.post(
            path, content=_receipt_json(), headers={**headers, "Content-Type": "application/json"}
        )


@pytest.mark.parametrize("path", MEMO_PATHS + RECEIPT_PATHS)
@pytest.mark.parametrize("how", list(REFUSED))
async def test_unauthenticated_push_is_refused_and_stores_nothing(path: str, how: str) -> None:
    sink = RecordingSink()
    response = await _post(create_push_app(sink, SECRET), path, REFUSED[how])
    assert response.status_code == 401
    assert SECRET not in response.text
    assert sink.memos == [] and sink.receipts == []


@pytest.mark.parametrize("path", MEMO_PATHS + RECEIPT_PATHS)
@pytest.mark.parametrize("how", list(ACCEPTED))
async def test_authenticated_push_is_stored(path: str, how: str) -> None:
    sink = RecordingSink()
    response = await _post(create_push_app(sink, SECRET), path, ACCEPTED[how])
    assert response.status_code == 200, response.text
    assert len(sink.memos) + len(sink.receipts) == 1


async def test_the_secret_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every presented credential goes through ``hmac.compare_digest`` (never ``==``)."""
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(push.hmac, "compare_digest", spy)
    sink = RecordingSink()
    app = create_push_app(sink, SECRET)
    for headers in (REFUSED["bearer, wrong"], REFUSED["basic, wrong password"], ACCEPTED["bearer"]):
        await _post(app, "/memos", headers)
    assert [b for _, b in calls] == [SECRET.encode()] * 3
    assert [a for a, _ in calls] == [b"wrong", b"wrong", SECRET.encode()]
    assert len(sink.memos) == 1


def test_an_empty_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        create_push_app(RecordingSink(), "")


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe", b"", b"null"],
    ids=["deep array", "deep object", "not UTF-8", "empty", "null"],
)
async def test_hostile_receipt_bodies_get_a_400_not_a_crash(body: bytes) -> None:
    """An authenticated but unreadable receipt is answered 400 (a 500 would make NgDP redeliver it forever)."""
    sink = RecordingSink()
    app = create_push_app(sink, SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        r = await c.post(
            "/receipts", content=body, headers={**ACCEPTED["bearer"], "Content-Type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert sink.receipts == []
