"""Client CPU per message of a 50-message delta page: GraphMailbox (raw JSON) vs msgraph-sdk models.

Both paths use the same GraphServiceClient pipeline (auth provider, middleware, httpx) and the same
response bytes; the only difference is what happens to the body:

- adapter: ``GraphMailbox.read_delta`` → NativeResponseHandler → ``json.loads`` → ``MailMessage``;
- SDK:     ``client.users.by_user_id(u).mail_folders.by_mail_folder_id(f).messages.delta.get()`` →
           kiota JSON parse nodes → ``Message`` models (docs/facts/graph.md, "msgraph-sdk:
           deserialisation cost").

Two transports: a canned response (client CPU only) and the Graph emulator in-process through
``httpx.ASGITransport`` (emulator CPU included in both columns). Prints numbers; asserts nothing.

    python bench/graph_bench.py [--rounds-adapter 200] [--rounds-sdk 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
from _common import add_json_option, write_json

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.ports.mailbox import DEFAULT_DELTA_SELECT

warnings.filterwarnings("ignore", category=DeprecationWarning)

from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (  # noqa: E402
    DeltaRequestBuilder,
)

BASE = "http://127.0.0.1/v1.0"
MAILBOX = "post@kommune.dk"
PAGE = 50


def canned_page(n: int = PAGE) -> bytes:
    """A realistic delta page of ``n`` messages with the adapter's default $select."""
    value: list[dict[str, Any]] = []
    for i in range(n):
        value.append(
            {
                "@odata.type": "#microsoft.graph.message",
                "@odata.etag": f'W/"CQAAABYAAAD{i:08d}"',
                "id": f"AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{i:012d}AAA=",
                "subject": f"Afgørelse om boligstøtte nr. {i}",
                "from": {"emailAddress": {"name": "Borgerservice", "address": MAILBOX}},
                "sender": {"emailAddress": {"name": "Borgerservice", "address": MAILBOX}},
                "toRecipients": [
                    {"emailAddress": {"name": "Borger", "address": f"ngdp-cpr-01010{i:05d}@gw.kommune.dk"}}
                ],
                "ccRecipients": [{"emailAddress": {"name": "Kollega", "address": "kollega@kommune.dk"}}],
                "bccRecipients": [],
                "replyTo": [],
                "internetMessageId": f"<{i:032x}@kommune.dk>",
                "conversationId": f"AAQkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAQA{i:06d}=",
                "parentFolderId": "AAMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAuAAAAAAAAA=",
                "receivedDateTime": "2026-11-22T10:05:00Z",
                "sentDateTime": "2026-11-22T10:04:59Z",
                "categories": [],
                "isRead": True,
                "isDraft": False,
                "hasAttachments": i % 3 == 0,
            }
        )
    page = {
        "@odata.context": f"{BASE}/$metadata#Collection(message)",
        "value": value,
        "@odata.deltaLink": f"{BASE}/users/{MAILBOX}/mailFolders/sentitems/messages/delta?$deltatoken=abc",
    }
    return json.dumps(page).encode()


def canned_transport(body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


async def _measure(rounds: int, call: Callable[[], Any]) -> tuple[float, float, int]:
    """(CPU s, wall s, messages) for ``rounds`` calls, after one warm-up call."""
    await call()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    messages = 0
    for _ in range(rounds):
        messages += await call()
    return time.process_time() - cpu0, time.perf_counter() - wall0, messages


async def compare(name: str, mbx: GraphMailbox, rounds_adapter: int, rounds_sdk: int) -> tuple[float, float]:
    select = list(DEFAULT_DELTA_SELECT)

    async def adapter() -> int:
        rnd = await mbx.read_delta(MAILBOX, "sentitems", None, select=select, page_size=PAGE)
        return len(rnd.messages)

    async def sdk() -> int:
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=select, change_type="created"
        )
        cfg: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
        cfg.headers.add("Prefer", [f"odata.maxpagesize={PAGE}", 'IdType="ImmutableId"'])
        builder = (
            mbx.client.users.by_user_id(MAILBOX).mail_folders.by_mail_folder_id("sentitems").messages.delta
        )
        page = await builder.get(request_configuration=cfg)
        return len(page.value or []) if page is not None else 0

    a_cpu, a_wall, a_n = await _measure(rounds_adapter, adapter)
    s_cpu, s_wall, s_n = await _measure(rounds_sdk, sdk)
    a_us = a_cpu / a_n * 1e6
    s_us = s_cpu / s_n * 1e6
    print(f"\n{name}")
    rows = [
        ("adapter (NativeResponseHandler)", rounds_adapter, a_us, a_wall / rounds_adapter),
        ("msgraph-sdk models (.delta.get())", rounds_sdk, s_us, s_wall / rounds_sdk),
    ]
    print(f"  {'path':<34}{'pages':>7}{'CPU µs/msg':>14}{'wall ms/page':>15}")
    for label, pages, us, wall in rows:
        print(f"  {label:<34}{pages:>7}{us:>14.1f}{wall * 1e3:>15.2f}")
    print(f"  ratio (SDK / adapter CPU per message): {s_us / a_us:.1f}x   (goal >= 20x)")
    return a_us, s_us


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds-adapter", type=int, default=200)
    parser.add_argument("--rounds-sdk", type=int, default=8)
    add_json_option(parser)
    args = parser.parse_args()
    results: dict[str, Any] = {"page_messages": PAGE}
    print(
        f"graph_bench: {PAGE}-message delta page; Python {platform.python_version()} on {platform.machine()}"
    )
    print(f"CPU: {platform.processor() or 'unknown'}; one process, one core, time.process_time()")

    cred = StaticTokenCredential("sandbox-token")
    body = canned_page()
    async with GraphMailbox(cred, BASE, transport=canned_transport(body), retry=RetryPolicy.fast()) as mbx:
        a_us, s_us = await compare(
            f"canned response ({len(body) / 1024:.0f} KiB JSON): client CPU only",
            mbx,
            args.rounds_adapter,
            args.rounds_sdk,
        )
    results["canned"] = {"adapter_cpu_us_per_msg": a_us, "sdk_cpu_us_per_msg": s_us}

    from graph_dpg.sandbox.graph import GraphTenant, create_app

    tenant = GraphTenant("sandbox-token", request_budget=10**9)
    tenant.add_mailbox(MAILBOX, "Borgerservice")
    for i in range(PAGE):
        tenant.put_sent_message(
            MAILBOX,
            f"Afgørelse nr. {i}",
            "<p>Hej</p>",
            to=[("Borger", f"ngdp-cpr-01010{i:05d}@gw.kommune.dk")],
            cc=["kollega@kommune.dk"],
        )
    transport = httpx.ASGITransport(app=create_app(tenant))
    async with GraphMailbox(cred, BASE, transport=transport, retry=RetryPolicy.fast()) as mbx:
        a_us, s_us = await compare(
            "Graph emulator in-process (ASGITransport): client + emulator CPU",
            mbx,
            max(20, args.rounds_adapter // 4),
            args.rounds_sdk,
        )
    results["emulator"] = {"adapter_cpu_us_per_msg": a_us, "sdk_cpu_us_per_msg": s_us}
    write_json(args.json, results)


if __name__ == "__main__":
    asyncio.run(main())
