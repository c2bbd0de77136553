"""The runtime's jobs on a gateway built by the composition root, against both emulators in-process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph_dpg.runtime import RESOURCE_HOUSEKEEPING, Runtime, RuntimeOptions, outbound_resource
from graph_dpg.services.alerts import ALERT_PROPERTY
from tests.store_rows import lease_owners

Rig = Any  # the fixture's Rig (tests/unit/runtime/conftest.py); test dirs are not packages


async def test_tick_sends_writes_receipt_and_categories(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    message_id = rig.send()
    await rig.runtime.tick()
    await rig.runtime.tick()  # business receipts arrive after the send; the second pass applies them
    assert len(rig.state.accepted) == 1
    original = rig.tenant.message("a@testby.dk", message_id)
    assert original["categories"] == ["Digital Post: Kvitteret"]
    receipts = [m for m in rig.tenant.messages("a@testby.dk", "inbox") if m["subject"].startswith("DPG")]
    assert len(receipts) == 1
    assert rig.runtime.counters.outbound.sent == 1
    names = {c["displayName"] for c in rig.tenant.master_categories("b@testby.dk")}
    assert "Digital Post: Kvitteret" in names  # master categories ensured in every function mailbox


async def test_a_failing_mailbox_backs_off_without_slowing_the_other(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    rig.tenant.set_accessible("a@testby.dk", False)  # outside the app's RBAC scope: 403
    rig.send("b@testby.dk")
    with caplog.at_level(logging.INFO, logger="graph_dpg.runtime"):
        await rig.runtime.tick()
        a = outbound_resource("a@testby.dk", "sentitems")
        assert rig.runtime.tracker.state(a).failing
        assert not rig.runtime.tracker.due(a)  # backing off
        assert len(rig.state.accepted) == 1  # b was served in the same pass
        polls_a = rig.tenant.count_requests(mailbox="a@testby.dk", endpoint="messages.delta")
        rig.send("b@testby.dk")
        await rig.runtime.tick()
        assert rig.tenant.count_requests(mailbox="a@testby.dk", endpoint="messages.delta") == polls_a
        assert len(rig.state.accepted) == 2
        rig.tenant.set_accessible("a@testby.dk", True)
        rig.runtime.tracker.state(a).next_at = 0.0  # the backoff has passed
        await rig.runtime.tick()
        await rig.runtime.tick()
    assert not rig.runtime.tracker.state(a).failing
    failures = [r for r in caplog.records if r.levelno == logging.WARNING and a in r.getMessage()]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage() and a in r.getMessage()]
    assert len(failures) == 1
    assert len(recoveries) == 1


async def test_readiness_reports_auth_failures(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.tenant.set_accessible("a@testby.dk", False)
    await rig.runtime.tick()
    checks = rig.runtime.readiness()
    assert checks["database"][0] is True
    assert checks["credentials"][0] is False
    assert "a@testby.dk" in checks["credentials"][1]


async def test_expiry_alert_once_per_threshold(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rig.ngdp.not_after = now + timedelta(days=20, hours=1)
    await rig.runtime.heartbeat()
    assert rig.runtime.leases.fresh(RESOURCE_HOUSEKEEPING)

    def alerts() -> list[str]:
        return [m["subject"] for m in rig.tenant.messages("drift@testby.dk", "inbox")]

    await rig.runtime.check_expiry(now)
    await rig.runtime.check_expiry(now)
    assert alerts() == [
        "Digital Post-gateway: NgDP OCES3-certifikatet udløber om 20 dag(e)"
    ]  # receipt_language
    await rig.runtime.check_expiry(now + timedelta(days=7))  # 13 days left: the 14-day threshold
    await rig.runtime.check_expiry(now + timedelta(days=8))
    assert len(alerts()) == 2
    await rig.runtime.check_expiry(now + timedelta(days=15))  # 5 days left: the 7-day threshold
    assert len(alerts()) == 3
    keys = {
        p["value"]
        for m in rig.tenant.messages("drift@testby.dk", "inbox")
        for p in m["singleValueExtendedProperties"]
        if p["id"].endswith(ALERT_PROPERTY)
    }
    assert {k.rsplit(":", 1)[-1] for k in keys} == {"30", "14", "7"}


async def test_expiry_far_away_sends_nothing(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.ngdp.not_after = datetime.now(UTC) + timedelta(days=200)
    await rig.runtime.heartbeat()
    await rig.runtime.check_expiry()
    assert rig.tenant.messages("drift@testby.dk", "inbox") == []


async def test_start_and_stop_release_leases(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(options=RuntimeOptions(start_http=False, heartbeat_s=0.2, jitter_s=0))
    rig.send()
    await rig.runtime.start()
    for _ in range(600):  # up to 30 s: a limit for a hang, not a speed requirement
        if rig.state.accepted:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert len(rig.state.accepted) == 1  # the scheduler ran the jobs
    await rig.runtime.stop()
    store = rig.gateway.store
    resource = outbound_resource("a@testby.dk", "sentitems")
    assert lease_owners(store, [resource]) == {resource: None}
    assert store.live_replicas(60) == []


async def test_second_replica_on_sqlite_is_warned_about(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    first = make_rig(replica="r1")
    await first.runtime.heartbeat()
    second = make_rig(replica="r2", options=RuntimeOptions(start_http=False))
    with caplog.at_level(logging.WARNING, logger="graph_dpg.runtime"):
        await second.runtime.start()
        await second.runtime.stop()
    assert any("SQLite runs one replica" in r.getMessage() and "r1" in r.getMessage() for r in caplog.records)
    assert isinstance(second.runtime, Runtime)


async def test_a_mailbox_poll_that_raises_something_unexpected_backs_off_and_the_task_ends_cleanly(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    outbound = rig.gateway.outbound
    real_poll = outbound.poll

    async def poll(mb: Any) -> int:
        if mb.address == "a@testby.dk":
            raise KeyError("a bug nobody foresaw")
        created: int = await real_poll(mb)
        return created

    outbound.poll = poll  # the last boundary, around the whole poll of one mailbox
    rig.send("b@testby.dk")
    with caplog.at_level(logging.ERROR, logger="graph_dpg.runtime"):
        await rig.runtime.tick()
    a = outbound_resource("a@testby.dk", "sentitems")
    task = rig.runtime._running[a]
    assert task.done() and task.exception() is None  # no "Task exception was never retrieved"
    assert rig.runtime.tracker.state(a).failing and not rig.runtime.tracker.due(a)
    assert len(rig.state.accepted) == 1  # b was served in the same pass
    page = rig.runtime.metrics.render().decode()
    assert 'graph_dpg_poll_failures_total{kind="outbound"} 1.0' in page
    [logged] = [r for r in caplog.records if a in r.getMessage()]
    assert logged.exc_info is not None


async def test_a_pushed_receipt_reaches_the_sender_on_the_outbound_beat_not_at_the_next_pull(
    make_rig: Callable[..., Rig],
) -> None:
    from graph_dpg.ports.digital_post import BusinessReceipt

    rig = make_rig()
    message_id = rig.send()
    await rig.runtime.heartbeat()
    await rig.runtime.poll_outbound()
    await rig.runtime.wait_polls()
    await rig.runtime.run_effects()
    assert len(rig.state.accepted) == 1
    memo_uuid = rig.state.accepted[0].message_uuid
    # NgDP pushes the business receipt (the push receiver stores it through the sink and answers 200); the
    # receipts job (pull, every receipts_poll_seconds) does not run here.
    await rig.gateway.store.push_sink().store_pushed_receipt(
        BusinessReceipt(
            id=f"push-{memo_uuid}", transmission_id=None, message_uuid=memo_uuid, receipt_status="COMPLETED"
        )
    )
    assert rig.tenant.message("a@testby.dk", message_id)["categories"] != ["Digital Post: Kvitteret"]
    await rig.runtime.apply_receipts()
    await rig.runtime.run_effects()
    assert rig.tenant.message("a@testby.dk", message_id)["categories"] == ["Digital Post: Kvitteret"]
    assert rig.runtime.counters.receipts_applied == 1
