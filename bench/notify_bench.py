"""Graph change notifications vs polling: Sent Items → NgDP latency, idle Graph requests per mailbox per hour.

Both emulators in this process (Graph through an ASGI transport for the gateway's calls; the Graph emulator
validates the gateway's notification URLs and delivers notifications to the gateway's HTTP server over
loopback), one replica on SQLite, the real scheduler. Prints:

1. latency from a mail placed in Sent Items to its MeMo accepted by NgDP (p50/p95), mails arriving at random
   moments, (a) polling at ``--poll-seconds`` (default 30, the setting's default) and (b) with notifications
   on (safety-net poll at the default 300 s, so every mail here is carried by a notification);
2. idle Graph requests per mailbox per hour: the requests one idle poll of a folder costs (measured), times
   polls per hour, plus, with notifications, the subscription renewals per hour (one PATCH per renewal
   period, services.notifications); for polling at 10 s (the issue's baseline), at ``--poll-seconds``, and
   with notifications. Jobs that run hourly in both modes (categories, contact points) are left out of both.

Run: ``.venv/bin/python bench/notify_bench.py [--mailboxes 10] [--messages 20] [--poll-seconds 30]
[--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import add_json_option, write_json

from graph_dpg.bootstrap import Gateway, build_gateway
from graph_dpg.config import load_gateway_text, load_settings
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.demo.scenario import mass_recipients
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.notifications import RENEW_BEFORE, REQUESTED_LIFETIME

CVR = "12345674"
NOTIFY_POLL_S = 300  # GRAPH_DPG_POLL_INTERVAL_WITH_NOTIFICATIONS_SECONDS default


def gateway_yaml(n: int) -> str:
    boxes = "\n".join(f'  - {{address: fp{i:03d}@bench.dk, cvrs: ["{CVR}"]}}' for i in range(n))
    return (
        f'organisation: {{cvr: "{CVR}", name: Benchby}}\n'
        "main_mailbox: post@bench.dk\nmonitoring_mailbox: drift@bench.dk\n"
        f"function_mailboxes:\n{boxes}\n"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class World:
    def __init__(self, mailboxes: int) -> None:
        self.config = load_gateway_text(gateway_yaml(mailboxes))
        self.tenant = GraphTenant()
        for address in self.config.mailboxes:
            self.tenant.add_mailbox(address)
        self.state = NgdpState(organisation_cvr=CVR)
        self.people = mass_recipients(1, 1000)
        for cpr in self.people:
            self.state.register(cpr=cpr)
        self.boxes = [b.address for b in self.config.function_mailboxes]

    def gateway(self, db: str, *, poll_s: int, notify: bool) -> Gateway:
        port = free_port()
        settings = load_settings(
            env_file=None,
            graph_base_url="http://localhost/v1.0",
            database_url=db,
            replica_id="bench",
            lease_seconds=30,
            outbound_poll_seconds=poll_s,
            poll_jitter_seconds=0,
            http_host="127.0.0.1",
            http_port=port,
            notifications_url=f"http://127.0.0.1:{port}" if notify else "",
            poll_interval_with_notifications_seconds=NOTIFY_POLL_S,
        )
        return build_gateway(
            settings,
            self.config,
            graph_transport=httpx.ASGITransport(app=create_app(self.tenant)),
            ngdp_client=in_process_client(self.state),
        )

    def put(self, index: int) -> tuple[str, datetime]:
        cpr = self.people[index]
        self.tenant.put_sent_message(
            self.boxes[index % len(self.boxes)],
            f"Brev {index}",
            "<p>Hej</p>",
            to=[("", f"{cpr}@{CVR}.ngdp.digital-post.dk")],
        )
        return cpr, datetime.now(UTC)


async def wait_for(condition: Any, bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # the emulator's state has no event to wait on
    return True


async def run_mode(
    mailboxes: int, messages: int, *, poll_s: int, notify: bool, window_s: float
) -> dict[str, float]:
    """Latency p50/p95 of ``messages`` mails placed over ``window_s``, and one idle poll's Graph requests."""
    world = World(mailboxes)
    with tempfile.TemporaryDirectory() as tmp:
        gw = world.gateway(f"sqlite:///{Path(tmp) / 'b.db'}", poll_s=poll_s, notify=notify)
        rt = Runtime(gw, RuntimeOptions(jitter_s=0, join_delay_s=0, subscription_check_s=3600))
        await rt.start()
        try:
            await wait_for(lambda: rt.counters.outbound_polls >= mailboxes, 60)
            if notify:
                await wait_for(lambda: rt.counters.subscriptions.get("created", 0) >= mailboxes, 60)
            # Idle cost of one poll of every folder (the first, full rounds and the master categories are
            # done, so the log holds only what the polls themselves ask).
            await wait_for(lambda: rt.tracker.state("categories").last_success is not None, 60)
            await rt.wait_polls()
            world.tenant.clear_request_log()
            for box in gw.outbound.settings.mailboxes:
                await gw.outbound.poll(box)
            idle_per_poll = statistics.mean(world.tenant.count_requests(mailbox=b) for b in world.boxes)
            rng = random.Random(7)
            sent: list[tuple[str, datetime]] = []
            gaps = [rng.random() for _ in range(messages)]
            scale = window_s / sum(gaps)
            for i, gap in enumerate(gaps):
                await asyncio.sleep(gap * scale)
                sent.append(world.put(i))
            done = await wait_for(lambda: len(world.state.accepted) >= len(sent), 3 * poll_s + 60)
        finally:
            await rt.stop()
            await gw.aclose()
    accepted = {m.summary.recipient_id: m.accepted_at for m in world.state.accepted}
    waits = sorted((accepted[cpr] - at).total_seconds() for cpr, at in sent if cpr in accepted)
    return {
        "p50_s": statistics.median(waits) if waits else float("nan"),
        "p95_s": waits[min(len(waits) - 1, int(0.95 * len(waits)))] if waits else float("nan"),
        "delivered": float(len(waits)),
        "complete": float(done),
        "idle_requests_per_poll": idle_per_poll,
        "wakes": float(rt.counters.wakes),
    }


def per_hour(requests_per_poll: float, poll_s: float, *, notify: bool) -> float:
    renewals = 3600 / (REQUESTED_LIFETIME - RENEW_BEFORE).total_seconds() if notify else 0.0
    return requests_per_poll * 3600 / poll_s + renewals


async def main(args: argparse.Namespace) -> None:
    configure_logging(level="WARNING")
    poll_s = 10 if args.quick else args.poll_seconds
    messages = 8 if args.quick else args.messages
    window = 2.0 * poll_s
    print(
        f"notify bench: {args.mailboxes} mailboxes, {messages} mails over {window:.0f} s per mode", flush=True
    )
    polling = await run_mode(args.mailboxes, messages, poll_s=poll_s, notify=False, window_s=window)
    notified = await run_mode(args.mailboxes, messages, poll_s=poll_s, notify=True, window_s=min(window, 20))
    idle = polling["idle_requests_per_poll"]
    rows = {
        "polling_10s": per_hour(idle, 10, notify=False),
        f"polling_{poll_s}s": per_hour(idle, poll_s, notify=False),
        "notifications": per_hour(notified["idle_requests_per_poll"], NOTIFY_POLL_S, notify=True),
    }
    print(
        f"Sent Items → NgDP accepted, polling every {poll_s:>3d} s: p50 {polling['p50_s']:5.2f} s, "
        f"p95 {polling['p95_s']:5.2f} s ({polling['delivered']:.0f}/{messages} delivered)"
    )
    print(
        f"Sent Items → NgDP accepted, notifications:       p50 {notified['p50_s']:5.2f} s, "
        f"p95 {notified['p95_s']:5.2f} s ({notified['delivered']:.0f}/{messages} delivered, "
        f"{notified['wakes']:.0f} woken polls)"
    )
    print(
        f"idle Graph requests per folder poll: {idle:.2f} (polling), {notified['idle_requests_per_poll']:.2f}"
    )
    for name, value in rows.items():
        print(f"idle Graph requests per mailbox per hour, {name:<14}: {value:7.1f}")
    ratio = rows["polling_10s"] / rows["notifications"] if rows["notifications"] else float("inf")
    print(f"polling at 10 s / notifications: {ratio:.1f}x fewer idle requests (goal ≥ 5x)")
    write_json(
        args.json,
        {
            "poll_seconds": poll_s,
            "mailboxes": args.mailboxes,
            "mails": messages,
            "delivered": {"polling": polling["delivered"], "notifications": notified["delivered"]},
            "woken_polls": notified["wakes"],
            "latency_s": {
                "polling": {"p50": polling["p50_s"], "p95": polling["p95_s"]},
                "notifications": {"p50": notified["p50_s"], "p95": notified["p95_s"]},
            },
            "idle_requests_per_mailbox_per_hour": rows,
            "idle_ratio_10s_vs_notifications": ratio,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--poll-seconds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 s polling, 8 mails (about a minute)")
    add_json_option(parser)
    asyncio.run(main(parser.parse_args()))
