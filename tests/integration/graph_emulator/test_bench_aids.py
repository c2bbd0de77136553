"""Benchmark aids of the emulators (issue 18), not emulated behaviour: injected latency (sandbox/latency.py)
and the Graph emulator's request counts by (method, endpoint kind, status), which outlive the bounded log."""

from __future__ import annotations

import httpx
import pytest

from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.graph.__main__ import main as graph_main
from graph_dpg.sandbox.graph.tenant import REQUEST_COUNT_KEYS
from graph_dpg.sandbox.latency import InjectedLatency
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.sandbox.ngdp import create_app as ngdp_app
from graph_dpg.sandbox.ngdp.__main__ import parser as ngdp_parser
from graph_dpg.sandbox.ngdp.__main__ import state_from

from .conftest import BASE, FUNC, TOKEN


class CountingLatency(InjectedLatency):
    """Records each draw and answers 0 s, so that the test sees where delays are asked for, not clocks."""

    def __init__(self) -> None:
        super().__init__(100, 300)
        self.draws = 0

    def draw(self) -> float:
        self.draws += 1
        return 0.0


def test_latency_draws_stay_in_the_range_and_replay_with_the_seed() -> None:
    one, two = InjectedLatency(100, 300, seed=7), InjectedLatency(100, 300, seed=7)
    draws = [one.draw() for _ in range(200)]
    assert all(0.1 <= d <= 0.3 for d in draws)
    assert draws == [two.draw() for _ in range(200)]
    assert len(set(draws)) > 100  # a range, not one value


@pytest.mark.parametrize(("text", "low", "high"), [("100-300", 100, 300), ("150", 150, 150), (" 0-5 ", 0, 5)])
def test_latency_parses_a_range_or_one_number(text: str, low: float, high: float) -> None:
    latency = InjectedLatency.parse(text)
    assert latency is not None
    assert (latency.low_ms, latency.high_ms) == (low, high)


@pytest.mark.parametrize("text", ["", "0"])
def test_latency_is_off_unless_set(text: str) -> None:
    assert InjectedLatency.parse(text) is None
    assert GraphTenant().injected_latency is None
    assert NgdpState().send_latency is None


@pytest.mark.parametrize("text", ["300-100", "-5", "abc", "1-2-3", "70000"])
def test_latency_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        InjectedLatency.parse(text)


def test_entry_points_take_the_latency_flags() -> None:
    state = state_from(ngdp_parser().parse_args(["--send-latency-ms", "200-500"]), {})
    assert state.send_latency is not None
    assert (state.send_latency.low_ms, state.send_latency.high_ms) == (200, 500)
    with pytest.raises(SystemExit):  # argparse's error exit, before any server starts
        graph_main(["--latency-ms", "300-100"])


async def test_graph_draws_one_delay_per_http_request_not_per_batch_member() -> None:
    latency = CountingLatency()
    tenant = GraphTenant(TOKEN, injected_latency=latency)
    tenant.add_mailbox(FUNC)
    transport = httpx.ASGITransport(app=create_app(tenant))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        assert (await client.get(f"/users/{FUNC}/mailFolders/inbox")).status_code == 200
        members = [
            {"id": str(i), "method": "GET", "url": f"/users/{FUNC}/mailFolders/inbox"} for i in range(3)
        ]
        assert (await client.post("/$batch", json={"requests": members})).status_code == 200
    assert latency.draws == 2


async def test_ngdp_draws_a_delay_per_send_only() -> None:
    latency = CountingLatency()
    state = NgdpState(send_latency=latency)
    transport = httpx.ASGITransport(app=ngdp_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://ngdp.local/apis/v1") as client:
        await client.post("/memos/?memo-message-uuid=x", content=b"<x/>")  # refused (no auth): still a send
        await client.get("/receipts/")
        await client.get("/memos/")
    assert latency.draws == 1


async def test_request_counts_by_method_kind_status_outlive_the_bounded_log() -> None:
    tenant = GraphTenant(TOKEN, request_log_limit=2)
    tenant.add_mailbox(FUNC)
    transport = httpx.ASGITransport(app=create_app(tenant))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        for _ in range(3):
            await client.get(f"/users/{FUNC}/mailFolders/sentitems/messages/delta")
        await client.get(f"/users/{FUNC}/messages/not-an-id")
        members = [{"id": "1", "method": "GET", "url": f"/users/{FUNC}/mailFolders/inbox"}]
        await client.post("/$batch", json={"requests": members})
    counts = tenant.request_counts()
    assert counts[("GET", "messages.delta", 200)] == 3
    assert counts[("GET", "messages.get", 400)] == 1
    assert counts[("POST", "batch", 200)] == 1
    assert counts[("GET", "mailFolders.get", 200)] == 1
    assert len(tenant.request_log) == 2  # the log kept only the newest two
    round_trips = tenant.request_counts(include_batch_members=False)
    assert ("GET", "mailFolders.get", 200) not in round_trips
    assert sum(round_trips.values()) == 5
    tenant.clear_request_log()
    assert tenant.request_counts() == {}


def test_request_count_keys_are_capped() -> None:
    from graph_dpg.sandbox.graph.tenant import LoggedRequest

    tenant = GraphTenant(TOKEN)
    for status in range(REQUEST_COUNT_KEYS + 50):
        tenant.record(LoggedRequest("GET", "/x", None, "unknown", status, 0.0, 0.0))
    counts = tenant.request_counts()
    assert len(counts) == REQUEST_COUNT_KEYS
    assert counts[("*", "other", 0)] == 51
    assert sum(counts.values()) == REQUEST_COUNT_KEYS + 50
