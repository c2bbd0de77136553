"""The scheduled service: what one gateway process does, on a timer, until it is told to stop.

Jobs (APScheduler 3 ``AsyncIOScheduler``; intervals from Settings, random jitter, ``max_instances=1`` and
``coalesce`` so a job never overlaps itself and missed runs collapse into one)::

    heartbeat        lease_seconds/3   replica heartbeat; renew held leases; claim a fair share of free ones
    outbound         outbound_poll     per held function-mailbox folder: delta poll → plan/send its jobs
                                       (poll_interval_with_notifications while notifications are on)
    wakes            1 s               notifications on: poll at once the held folders a notification woke
                                       (a wake row, written by whichever replica received it)
    subscriptions    5 min             notifications on: create/renew/reauthorize/recreate the Graph
                                       subscription of each held folder (services.notifications)
    effects          outbound_poll     receipt mails and categories of the held mailboxes (each effect
                                       follows its mailbox's lease; unowned ones: the housekeeping lease)
    receipts         receipts_poll     pull NgDP business receipts, record, delete at NgDP, apply
    apply_receipts   outbound_poll     apply recorded receipts (pushed ones reach the sender without waiting);
                                       every replica, each a batch it claims (receipts.claimed_until)
    inbound          inbound_poll      lease-guarded (ngdp:memos): pull NgDP's memos, route secure mail,
                                       mail planned alerts; delivers/acknowledges what it claims, too
    inbound_delivery inbound_poll      every replica: deliver and acknowledge stored memos, each a small
                                       batch it claims (inbound_memos.claimed_until), pushed ones included
    categories       refresh           master categories in every function mailbox
    contact_points   refresh           NgDP contact points (limits) refreshed
    expiry           6 h               certificate/credential expiry → one alert mail per threshold 30/14/7
    smime_keyvault   keyvault_refresh  S/MIME certificates re-read from Key Vault (when configured; the
                                       first read happens in start(); a failure keeps the last good set)
    cleanup          24 h              retention of finished state

Work items and leases. Every (mailbox, folder) and each singleton (NgDP memo pull, receipt pull,
housekeeping) is a lease row; an outbound effect runs under its mailbox's lease; a replica works only on
what it holds (``LeaseKeeper`` in :mod:`graph_dpg.runtime.work`). Rows any replica may work on (recorded
business receipts, stored inbound memos) are claimed in small batches instead, with an expiry (issue 18).
Per item, failures back off without delaying other items (``WorkTracker`` there): each mailbox poll is its
own task, and an item still running is simply not started again.

Shutdown (SIGTERM/SIGINT): stop scheduling, let in-flight work finish (bounded), release every lease,
forget the replica row, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from graph_dpg.bootstrap import Gateway
from graph_dpg.core.errors import GraphDpgError
from graph_dpg.ports.digital_post import ContactPointInfo
from graph_dpg.ports.store import OutboundJob
from graph_dpg.runtime.credentials import expiring_credentials
from graph_dpg.runtime.http import GatewayMetrics, HttpServer, create_http_app
from graph_dpg.runtime.work import LeaseKeeper, WorkTracker
from graph_dpg.services.alerts import AlertService
from graph_dpg.services.blocking import blocking
from graph_dpg.services.expiry import ExpiryAlerts
from graph_dpg.services.outbound import CycleStats, FunctionMailbox

log = logging.getLogger(__name__)

OUTBOUND_PREFIX = "outbound:"
#: No longer a lease (issue 18: effects follow their mailbox's lease); kept as the name of the effects job's
#: backoff, and so that a lease row of an earlier version is recognised.
RESOURCE_EFFECTS = "outbound:effects"
RESOURCE_RECEIPTS = "ngdp:receipts"
RESOURCE_INBOUND = "ngdp:memos"
#: Not a lease: the backoff key of the every-replica delivery of claimed inbound memos.
INBOUND_DELIVERY = "inbound delivery"
RESOURCE_HOUSEKEEPING = "housekeeping"
RETENTION = timedelta(days=30)
#: How long start() waits for the first Key Vault read of the S/MIME certificates.
KEYVAULT_START_TIMEOUT_S = 60


def outbound_resource(mailbox: str, folder: str) -> str:
    return f"{OUTBOUND_PREFIX}{mailbox.lower()}:{folder}"


# ============================================================================ the runtime


@dataclass
class RuntimeOptions:
    """Knobs the settings do not carry (tests, the sandbox and benchmarks shorten them)."""

    jitter_s: float | None = None  # None: settings.poll_jitter_seconds
    mailbox_concurrency: int = 16
    shutdown_grace_s: float = 30.0
    lease_margin_s: float | None = None  # None: a third of the lease
    effects_batch: int = 200
    effects_budget_s: float = 20.0
    backoff_base_s: float = 5.0
    start_http: bool = True
    expiry_interval_s: float = 6 * 3600
    cleanup_interval_s: float = 24 * 3600
    heartbeat_s: float | None = None  # None: lease_seconds / 3
    join_delay_s: float = 2.0  # PostgreSQL: wait after announcing this replica before the first claim
    wake_check_s: float = 1.0  # notifications on: how often the wake rows of held folders are checked
    subscription_check_s: float = 300.0  # notifications on: how often subscriptions are kept alive


@dataclass
class RuntimeCounters:
    outbound_polls: int = 0
    outbound: CycleStats = field(default_factory=CycleStats)
    effects_done: int = 0
    receipts_pulled: int = 0
    receipts_applied: int = 0
    inbound_runs: int = 0
    inbound_delivery_runs: int = 0
    inbound_delivered: int = 0  # memos this replica delivered (both inbound jobs)
    alerts: int = 0
    wakes: int = 0  # folder polls started by a wake row (a change notification, or a new subscription)
    subscriptions: dict[str, int] = field(default_factory=dict)  # SubscriptionAction value -> count


class Runtime:
    """Runs a :class:`~graph_dpg.bootstrap.Gateway` on a schedule (see the module docstring), and owns the
    process's Prometheus metrics, which its HTTP server exposes."""

    def __init__(self, gateway: Gateway, options: RuntimeOptions | None = None) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.options = options or RuntimeOptions()
        s = self.settings
        self.tracker = WorkTracker(
            self.options.backoff_base_s,
            float(s.max_backoff_seconds),
            rng=random.Random(),  # noqa: S311
        )
        self.leases = LeaseKeeper(gateway.store, gateway.replica, float(s.lease_seconds))
        self.counters = RuntimeCounters()
        self.metrics = GatewayMetrics(mailbox=gateway.mailbox, store=gateway.store, failures=gateway.failures)
        alerts = AlertService(
            gateway.mailbox,
            gateway.store,
            monitoring_mailbox=gateway.config.monitoring_mailbox,
            language=s.receipt_language,
            failures=gateway.failures,
        )
        self.expiry = ExpiryAlerts(
            alerts, lambda: expiring_credentials(gateway.ngdp, gateway.settings, gateway.keyring)
        )
        self.contact_points: list[ContactPointInfo] = []
        self.started_at = time.monotonic()
        self.last_outbound_success: float | None = None
        self._mailboxes: dict[str, FunctionMailbox] = {
            outbound_resource(mb.address, mb.outgoing_folder): mb
            for mb in gateway.outbound.settings.mailboxes
        }
        self._running: dict[str, asyncio.Task[None]] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(self.options.mailbox_concurrency)
        self._scheduler: AsyncIOScheduler | None = None
        self._http: HttpServer | None = None
        self._stopping = False
        # Items whose effects run right now (kept through a heartbeat like a running poll).
        self._effects_busy: set[str] = set()
        # Function mailbox (lower case) -> the lease its effects run under: its first folder's (sorted), so
        # one mailbox with two polled folders still has its effects run by one replica only.
        self._effect_leases: dict[str, str] = {}
        for resource in sorted(self._mailboxes):
            self._effect_leases.setdefault(self._mailboxes[resource].address.lower(), resource)
        self._active: set[str] = set()  # items being worked on right now (not merely queued)
        self._lease_lock = asyncio.Lock()

    # ------------------------------------------------------------------ work items

    @property
    def resources(self) -> list[str]:
        items = [*self._mailboxes, RESOURCE_RECEIPTS, RESOURCE_HOUSEKEEPING]
        if self.gateway.inbound is not None:
            items.append(RESOURCE_INBOUND)
        return items

    @property
    def lease_margin(self) -> float:
        m = self.options.lease_margin_s
        return m if m is not None else self.settings.lease_seconds / 3

    def _holds(self, resource: str) -> bool:
        return self.leases.fresh(resource, self.lease_margin)

    # ------------------------------------------------------------------ jobs

    async def heartbeat(self) -> None:
        try:
            # Under the lock no work item starts, so "busy" cannot change while the refresh decides what
            # to hand back (an item released while a poll on it is starting would be polled twice).
            async with self._lease_lock:
                busy = set(self._active)
                busy |= self._effects_busy
                await blocking(self.leases.refresh, self.resources, busy)
                self._forget_lapsed(self.leases.lapsed)
        except GraphDpgError as exc:
            # Without the database nothing can be claimed; whatever we hold expires by itself.
            self.tracker.failure("leases", exc)
            self.share_graph_budget(lead=False)
            return
        self.tracker.success("leases")
        self.share_graph_budget()

    def _forget_lapsed(self, lapsed: set[str]) -> None:
        """What this replica kept in memory about items whose lease lapsed or went (the folders' delta
        links): read from the store again by the next holder's first poll, which may be this replica's."""
        for resource in lapsed:
            mb = self._mailboxes.get(resource)
            if mb is not None:
                self.gateway.outbound.delta_links.forget(mb.address, mb.outgoing_folder)
            elif resource == RESOURCE_INBOUND and self.gateway.inbound is not None:
                self.gateway.inbound.forget_delta_links()

    def share_graph_budget(self, *, lead: bool = True) -> None:
        """This replica's share of each mailbox's Graph concurrency (issue 18): from the live replica count
        and the mailboxes it leads: a function mailbox whose (effects) lease it holds, and, while it holds
        the NgDP memo queue, the other mailboxes memos are delivered to. ``lead=False`` (the heartbeat
        failed): lead none, the safe side while other replicas may take the leases over."""
        leaders: set[str] = set()
        if lead:
            leaders = {m for m, r in self._effect_leases.items() if self._holds(r)}
            if self._holds(RESOURCE_INBOUND):
                leaders |= {a.lower() for a in self.gateway.config.mailboxes} - set(self._effect_leases)
        budget = getattr(self.gateway.mailbox, "budget", None)  # tests may run on a fake mailbox
        if budget is not None:
            budget.update(len(self.leases.live), leaders)

    @property
    def outbound_interval(self) -> int:
        """Seconds between polls of a folder: longer while change notifications wake the polls."""
        s = self.settings
        if self.gateway.notifications is not None:
            return s.poll_interval_with_notifications_seconds
        return s.outbound_poll_seconds

    def _idle(self, resource: str) -> bool:
        """Held, not backing off, no poll running: a poll may start now."""
        if self._stopping or not self._holds(resource) or not self.tracker.due(resource):
            return False
        running = self._running.get(resource)
        return running is None or running.done()

    def _start_poll(self, resource: str, *, woken: bool = False) -> None:
        task = asyncio.create_task(
            self._poll_mailbox(resource, self._mailboxes[resource], woken=woken), name=f"poll {resource}"
        )
        self._running[resource] = task
        self._track(task)

    async def poll_outbound(self) -> None:
        """Start a poll task for every held, due, idle mailbox folder; do not wait for slow ones."""
        for resource in self._mailboxes:
            if self._idle(resource):
                self._start_poll(resource)

    async def check_wakes(self) -> None:
        """Poll at once every held, idle folder a change notification woke. A wake of a folder being polled
        stays in the table until that poll ends, so a change that arrived during a round is not lost."""
        if self.gateway.notifications is None:
            return
        idle = [r for r in self._mailboxes if self._idle(r)]
        if not idle:
            return
        try:
            taken = await blocking(self.gateway.store.take_wakes, idle)
        except GraphDpgError as exc:
            self.tracker.failure("wakes", exc)
            return
        for resource in taken:
            if self._idle(resource):
                self.counters.wakes += 1
                self._start_poll(resource, woken=True)

    async def maintain_subscriptions(self) -> None:
        """Keep the Graph subscription of every held folder alive (one folder's failure backs off alone)."""
        if self.gateway.subscriptions is None:
            return
        for resource, mb in self._mailboxes.items():
            if self._stopping or not self._holds(resource):
                continue
            await self._maintain_subscription(resource, mb)

    async def _maintain_subscription(
        self, resource: str, mb: FunctionMailbox, *, polled_next: bool = False
    ) -> None:
        keeper = self.gateway.subscriptions
        key = f"subscription {resource}"
        if keeper is None or not self.tracker.due(key):
            return
        try:
            action = await keeper.maintain(resource, mb.address, mb.outgoing_folder, polled_next=polled_next)
        except GraphDpgError as exc:
            # Polling goes on at its safety-net interval; the subscription is tried again on the next check.
            self.tracker.failure(key, exc)
            return
        self.counters.subscriptions[action.value] = self.counters.subscriptions.get(action.value, 0) + 1
        self.tracker.success(key)

    async def _poll_mailbox(self, resource: str, mb: FunctionMailbox, *, woken: bool = False) -> None:
        svc = self.gateway.outbound
        metrics = self.metrics
        async with self._slots:
            async with self._lease_lock:
                if not self._holds(resource):
                    return
                self._active.add(resource)
            if woken:
                # A lifecycle notification may have asked to reauthorize or recreate the subscription:
                # recreate first, then the delta round below picks up what was missed meanwhile.
                await self._maintain_subscription(resource, mb, polled_next=True)
            started = time.perf_counter()
            stats = CycleStats()
            try:
                stats.new_jobs += await svc.poll(mb)
                mine = {mb.address.lower()}
                # An idle folder: one indexed read instead of a page per unfinished state (issue 18).
                if stats.new_jobs or await svc.has_unfinished_jobs(mine):
                    await svc.process_jobs(
                        mine, stats, keep_going=lambda: self._still_mine(resource), on_job=self._count_job
                    )
            except GraphDpgError as exc:
                metrics.poll_failures.labels("outbound").inc()
                self.tracker.failure(resource, exc)
                return
            except Exception as exc:
                # Each job has its own boundary (OutboundService._settle); this is the last one, so the poll
                # task never dies with its exception unretrieved, and the mailbox backs off.
                log.exception("outbound poll of %s failed unexpectedly", resource)
                metrics.poll_failures.labels("outbound").inc()
                self.tracker.failure(resource, exc)
                return
            finally:
                self._active.discard(resource)
                metrics.poll_seconds.labels("outbound").observe(time.perf_counter() - started)
                self._count(stats)
            self.tracker.success(resource)
            self.counters.outbound_polls += 1
            self.last_outbound_success = time.monotonic()

    def _still_mine(self, resource: str) -> bool:
        """Go on with the next job only while not stopping and while the lease is fresh: a stalled
        heartbeat lets the lease go stale, and another replica may own the mailbox then."""
        return not self._stopping and self._holds(resource)

    def _count_job(self, job: OutboundJob, one: CycleStats) -> None:
        self.metrics.sent.labels(job.channel).inc(one.sent)
        self.metrics.failed.labels(job.channel).inc(one.rejected + one.send_rejected + one.send_failed)

    async def run_effects(self) -> None:
        """Receipt mails and categories of the function mailboxes this replica holds (issue 18: an effect
        follows its mailbox's lease, so effects spread with the mailboxes and one effect never runs on two
        replicas at once); the housekeeping lease holder also runs effects owned by no mailbox (planned
        before migration 0010). A batch stops as soon as any of those leases may have gone stale."""
        if not self.tracker.due(RESOURCE_EFFECTS):
            return
        async with self._lease_lock:
            mine = {m: r for m, r in self._effect_leases.items() if self._holds(r)}
            unowned = self._holds(RESOURCE_HOUSEKEEPING)
            if self._stopping or (not mine and not unowned):
                return
            leases = set(mine.values()) | ({RESOURCE_HOUSEKEEPING} if unowned else set())
            self._effects_busy = leases

        def still_mine() -> bool:
            return not self._stopping and all(self._holds(r) for r in leases)

        svc, owners = self.gateway.outbound, sorted(mine)
        deadline = time.monotonic() + self.options.effects_budget_s
        try:
            # Nothing planned (the usual case between letters): one read, not one per effect kind.
            while (
                await svc.has_pending_effects(mailboxes=owners, unowned=unowned)
                and time.monotonic() < deadline
                and still_mine()
            ):
                done = await svc.run_effects(
                    limit=self.options.effects_batch, mailboxes=owners, unowned=unowned, keep_going=still_mine
                )
                self.counters.effects_done += done
                if done == 0:
                    break
        except GraphDpgError as exc:
            self.tracker.failure(RESOURCE_EFFECTS, exc)
            return
        finally:
            self._effects_busy = set()
        self.tracker.success(RESOURCE_EFFECTS)

    async def _apply_claimed_receipts(self) -> int:
        """Apply a batch of recorded business receipts this replica claims (any replica may: issue 18)."""
        return await self.gateway.outbound.apply_business_receipts(
            claim_as=self.leases.owner, claim_s=2.0 * self.settings.lease_seconds
        )

    async def pull_receipts(self) -> None:
        """Pull NgDP's receipt queue (one replica: the ``ngdp:receipts`` lease), then apply a batch."""
        if not self._holds(RESOURCE_RECEIPTS) or not self.tracker.due(RESOURCE_RECEIPTS):
            return
        svc = self.gateway.outbound
        try:
            self.counters.receipts_pulled += await svc.pull_business_receipts()
            self.counters.receipts_applied += await self._apply_claimed_receipts()
        except GraphDpgError as exc:
            self.tracker.failure(RESOURCE_RECEIPTS, exc)
            return
        self.tracker.success(RESOURCE_RECEIPTS)

    async def apply_receipts(self) -> None:
        """Apply business receipts already recorded (pushed by NgDP, or pulled) on the outbound poll's
        beat, so a pushed receipt reaches the case worker within ``outbound_poll_seconds``, not at the
        next pull. Every replica applies, each a batch it claims (rows with an expiry), not one lease
        holder."""
        if self._stopping:
            return
        try:
            self.counters.receipts_applied += await self._apply_claimed_receipts()
        except GraphDpgError as exc:
            log.warning("applying recorded business receipts failed, retried next round: %s", exc)

    async def run_inbound(self) -> None:
        """The ``ngdp:memos`` lease holder's inbound cycle: the NgDP pull and secure-mail routing (singletons:
        see ``services.inbound``), the claimed delivery every replica also runs, the planned alerts."""
        inbound = self.gateway.inbound
        if inbound is None or not self._holds(RESOURCE_INBOUND) or not self.tracker.due(RESOURCE_INBOUND):
            return
        started = time.perf_counter()
        try:
            stats = await inbound.run_once()
        except GraphDpgError as exc:
            self.metrics.poll_failures.labels("inbound").inc()
            self.tracker.failure(RESOURCE_INBOUND, exc)
            return
        except Exception as exc:  # each memo and mail has its own boundary; this is the last one
            log.exception("inbound run failed unexpectedly")
            self.metrics.poll_failures.labels("inbound").inc()
            self.tracker.failure(RESOURCE_INBOUND, exc)
            return
        finally:
            self.metrics.poll_seconds.labels("inbound").observe(time.perf_counter() - started)
        self.counters.inbound_runs += 1
        self.counters.inbound_delivered += stats.delivered
        if stats.delivered:
            self.metrics.received.labels("ngdp").inc(stats.delivered)
        if stats.mail_routed:
            self.metrics.received.labels("mail").inc(stats.mail_routed)
        if stats.errors:
            # The service carries on past single failures and reports them; back off the queue as a whole.
            self.tracker.failure(RESOURCE_INBOUND, GraphDpgError("; ".join(stats.errors[:3])))
            return
        self.tracker.success(RESOURCE_INBOUND)

    async def deliver_inbound(self) -> None:
        """Deliver and acknowledge stored inbound memos on every replica, each a small batch it claims
        (issue 18; the pull and secure mail stay with the ``ngdp:memos`` holder, see ``run_inbound``)."""
        inbound = self.gateway.inbound
        if inbound is None or self._stopping or not self.tracker.due(INBOUND_DELIVERY):
            return
        started = time.perf_counter()
        try:
            stats = await inbound.deliver_claimed()
        except GraphDpgError as exc:
            self.metrics.poll_failures.labels("inbound_delivery").inc()
            self.tracker.failure(INBOUND_DELIVERY, exc)
            return
        except Exception as exc:  # each memo has its own boundary; this is the last one
            log.exception("inbound delivery failed unexpectedly")
            self.metrics.poll_failures.labels("inbound_delivery").inc()
            self.tracker.failure(INBOUND_DELIVERY, exc)
            return
        finally:
            self.metrics.poll_seconds.labels("inbound_delivery").observe(time.perf_counter() - started)
        self.counters.inbound_delivery_runs += 1
        self.counters.inbound_delivered += stats.delivered
        if stats.delivered:
            self.metrics.received.labels("ngdp").inc(stats.delivered)
        if stats.errors:
            self.tracker.failure(INBOUND_DELIVERY, GraphDpgError("; ".join(stats.errors[:3])))
            return
        self.tracker.success(INBOUND_DELIVERY)

    async def ensure_categories(self) -> None:
        if not self._holds(RESOURCE_HOUSEKEEPING):
            return
        key = "categories"
        try:
            await self.gateway.outbound.ensure_categories()
        except GraphDpgError as exc:
            self.tracker.failure(key, exc)
            return
        self.tracker.success(key)

    async def refresh_contact_points(self) -> None:
        # Every replica plans outbound mail, so every replica refreshes the limits it plans with; only the
        # housekeeping lease holder reports differences to the gateway file.
        key = "contact points"
        try:
            points = await self.gateway.ngdp.list_contact_points()
        except GraphDpgError as exc:
            self.tracker.failure(key, exc)
            return
        self.gateway.outbound.use_contact_points(points)
        if not self._holds(RESOURCE_HOUSEKEEPING):
            self.tracker.success(key)
            return
        known = {p.id for p in self.contact_points}
        if {p.id for p in points} != known:
            log.info("NgDP lists %d contact point(s) for the organisation", len(points))
        self.contact_points = points
        configured = {cp.id for cp in self.gateway.config.contact_points}
        missing = sorted(configured - {p.id.lower() for p in points})
        if points and missing:
            log.warning("contact points in the gateway file that NgDP does not list: %s", ", ".join(missing))
        self.tracker.success(key)

    async def check_expiry(self, now: datetime | None = None) -> None:
        """Alert the monitoring mailbox once per threshold (30/14/7 days) before a certificate expires."""
        if not self._holds(RESOURCE_HOUSEKEEPING):
            return
        try:
            async for _ in self.expiry.run(now or datetime.now(UTC)):
                self.counters.alerts += 1
        except GraphDpgError as exc:
            self.tracker.failure("expiry alert", exc)
            return
        self.tracker.success("expiry alert")

    async def refresh_keyvault(self) -> None:
        """Re-read the organisation's S/MIME certificates from Key Vault; every replica keeps its own keys
        in memory, so each refreshes (no lease). A failure keeps the last good set and is logged for IT."""
        source, ring = self.gateway.keyvault, self.gateway.keyring
        if source is None or ring is None:
            return
        error = await source.refresh(ring)
        if error is not None:
            self.tracker.failure("smime keyvault", error)
        else:
            self.tracker.success("smime keyvault")

    async def cleanup(self) -> None:
        if not self._holds(RESOURCE_HOUSEKEEPING):
            return
        try:
            report = await blocking(self.gateway.store.cleanup, datetime.now(UTC) - RETENTION)
        except GraphDpgError as exc:
            self.tracker.failure("cleanup", exc)
            return
        if any(report.values()):
            log.info("cleanup: %s", ", ".join(f"{k}={v}" for k, v in report.items() if v))
        self.tracker.success("cleanup")

    # ------------------------------------------------------------------ one pass (sandbox, tests)

    async def tick(self) -> None:
        """Run every job once, in dependency order, and wait for the mailbox polls it started."""
        await self.heartbeat()
        if self._holds(RESOURCE_HOUSEKEEPING) and self.tracker.state("categories").last_success is None:
            await self.ensure_categories()
        await self.poll_outbound()
        await self.wait_polls()
        await self.run_effects()
        await self.pull_receipts()
        await self.run_inbound()
        await self.deliver_inbound()
        await self.run_effects()

    async def wait_polls(self) -> None:
        tasks = [t for t in self._running.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ scheduling and lifecycle

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _job(self, name: str, func: Callable[[], Awaitable[None]]) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            if self._stopping:
                return
            task = asyncio.current_task()
            if task is not None:
                self._track(task)
            try:
                await func()
            except Exception:  # a bug in one job must not kill the scheduler; logged with its traceback
                log.exception("job %s crashed", name)

        run.__name__ = name
        return run

    def _schedule(self) -> AsyncIOScheduler:
        s, o = self.settings, self.options
        jitter = o.jitter_s if o.jitter_s is not None else s.poll_jitter_seconds
        heartbeat = o.heartbeat_s if o.heartbeat_s is not None else max(1.0, s.lease_seconds / 3)
        now = datetime.now(UTC)
        scheduler = AsyncIOScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}, timezone=UTC
        )
        plan: list[tuple[str, Callable[[], Awaitable[None]], float, float]] = [
            ("heartbeat", self.heartbeat, heartbeat, 0.0),
            ("outbound", self.poll_outbound, self.outbound_interval, jitter),
            ("effects", self.run_effects, s.outbound_poll_seconds, jitter),
            ("receipts", self.pull_receipts, s.receipts_poll_seconds, jitter),
            ("apply_receipts", self.apply_receipts, s.outbound_poll_seconds, jitter),
            ("inbound", self.run_inbound, s.inbound_poll_seconds, jitter),
            ("inbound_delivery", self.deliver_inbound, s.inbound_poll_seconds, jitter),
            ("categories", self.ensure_categories, s.contact_points_refresh_seconds, jitter),
            ("contact_points", self.refresh_contact_points, s.contact_points_refresh_seconds, jitter),
            ("expiry", self.check_expiry, o.expiry_interval_s, jitter),
            ("cleanup", self.cleanup, o.cleanup_interval_s, jitter),
        ]
        if self.gateway.notifications is not None:
            plan.append(("wakes", self.check_wakes, o.wake_check_s, 0.0))
            plan.append(("subscriptions", self.maintain_subscriptions, o.subscription_check_s, jitter))
        if self.gateway.keyvault is not None:
            plan.append(("smime_keyvault", self.refresh_keyvault, s.smime_keyvault_refresh_seconds, jitter))
        for index, (name, func, every, jit) in enumerate(plan):
            scheduler.add_job(
                self._job(name, func),
                IntervalTrigger(seconds=every, jitter=jit or None),
                id=name,
                name=name,
                # Heartbeat first (it claims the leases the others need), the rest right after it.
                next_run_time=now + timedelta(milliseconds=0 if index == 0 else 300 + 50 * index),
            )
        return scheduler

    async def start(self) -> None:
        store = self.gateway.store
        if store.dialect == "sqlite":
            alive = await blocking(store.live_replicas, 2.0 * self.settings.lease_seconds)
            others = [r for r in alive if r != self.gateway.replica]
            if others:
                log.warning(
                    "SQLite runs one replica; other replicas seem alive on the same database (%s): "
                    "use PostgreSQL for several replicas",
                    ", ".join(others),
                )
            log.info("single replica on SQLite (%s)", self.gateway.replica)
        quiet_library_logs()
        if store.dialect != "sqlite" and self.options.join_delay_s > 0:
            # Announce ourselves and give replicas starting at the same moment time to do the same, so
            # the first claim is already a fair share rather than everything.
            await blocking(store.replica_heartbeat, self.gateway.replica)
            await asyncio.sleep(self.options.join_delay_s)
        await self.heartbeat()
        if self.gateway.keyvault is not None:
            # The organisation's S/MIME keys before the first mail is opened (bounded: an unreachable vault
            # must not hold the start; mail encrypted to a key not yet loaded waits and is tried again).
            try:
                await asyncio.wait_for(self.refresh_keyvault(), KEYVAULT_START_TIMEOUT_S)
            except TimeoutError:
                log.error(
                    "Key Vault did not answer within %d s at start; retried on schedule",
                    KEYVAULT_START_TIMEOUT_S,
                )
        if self.options.start_http:
            await self.start_http()
        self._scheduler = self._schedule()
        self._scheduler.start()
        log.info(
            "gateway replica %s started: %d function mailbox folder(s), polling every %ds%s",
            self.gateway.replica,
            len(self._mailboxes),
            self.outbound_interval,
            " (Graph change notifications on)" if self.gateway.notifications is not None else "",
        )

    async def start_http(self) -> str:
        push_app = None
        if self.settings.push_enabled:
            from graph_dpg.adapters.digital_post import create_push_app
            from graph_dpg.bootstrap import make_push_auth

            auth = make_push_auth(self.settings)
            problems = auth.problems()
            if problems:
                # Served as it is, every push would be refused (or anyone could push): not served at all;
                # NgDP keeps the items, `graph-dpg doctor` tells IT what to set.
                log.error("NgDP push endpoints not served: %s", "; ".join(problems))
            else:
                push_app = create_push_app(self.gateway.store.push_sink(), auth)
                log.info("NgDP push endpoints served; push is accepted on: %s", auth.describe())
        app = create_http_app(
            self.metrics,
            self,
            push_app=push_app,
            notifications=self.gateway.notifications,
            console_app=self._console_app(),
        )
        self._http = HttpServer(app, self.settings.http_host, self.settings.http_port)
        await self._http.start()
        return self.http_url

    def _console_app(self) -> Any | None:
        """The admin console when its sign-in is configured (issue 19); its problems logged otherwise."""
        from graph_dpg.bootstrap.console import console_options, console_problems

        problems = console_problems(self.settings)
        if problems:
            log.error("admin console not served: %s", "; ".join(problems))
        options = console_options(self.settings)
        if options is None:
            return None
        from graph_dpg.runtime.console import StoreOperations, create_console_app
        from graph_dpg.services.letters import LettersService

        log.info("admin console served at /console/ (sign-in at %s)", options.authority)
        store = self.gateway.store
        gateway = self.gateway
        operations = StoreOperations(
            store, credentials=lambda: expiring_credentials(gateway.ngdp, gateway.settings, gateway.keyring)
        )
        # One letters service per page language (the timeline's words), with the names of issue 20 in
        # search results where a register is configured.
        services = {
            lang: LettersService(store, language=lang, names=gateway.outbound.names) for lang in ("da", "en")
        }
        # The routing page: the inbound rules and contact points of this gateway (none when it only sends).
        routing = None
        if gateway.inbound is not None:
            from graph_dpg.runtime.console.rules import RulesConsole

            routing = RulesConsole(
                gateway.inbound.settings,
                disabled=lambda: store.disabled_rules(),
                ngdp_contact_points=gateway.ngdp.list_contact_points,
            )
        return create_console_app(options, services.__getitem__, operations=operations, routing=routing)

    @property
    def http_url(self) -> str:
        if self._http is not None:
            return self._http.url
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    async def stop(self) -> None:
        """Stop scheduling, finish in-flight work (bounded), release leases, stop the HTTP server."""
        if self._stopping:
            return
        self._stopping = True
        if self._scheduler is not None:
            # Pause, not shut down: APScheduler's asyncio executor cancels running jobs on shutdown,
            # and those are exactly the in-flight work we want to let finish.
            self._scheduler.pause()
        current = asyncio.current_task()
        pending = [t for t in self._inflight if t is not current and not t.done()]
        if pending:
            log.info("finishing %d in-flight task(s) before exit", len(pending))
            _, late = await asyncio.wait(pending, timeout=self.options.shutdown_grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        try:
            released = await blocking(self.leases.release_all)
            self._forget_lapsed(self.leases.lapsed)
            log.info("released %d lease(s)", released)
        except GraphDpgError as exc:
            log.warning("could not release leases (they expire by themselves): %s", exc)
        if self._http is not None:
            await self._http.stop()

    async def run_until_signalled(self) -> None:
        """``graph-dpg run``: start, wait for SIGTERM/SIGINT, stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
            log.info("signal received: shutting down")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    # ------------------------------------------------------------------ health

    def readiness(self) -> dict[str, tuple[bool, str]]:
        checks: dict[str, tuple[bool, str]] = {}
        try:
            self.gateway.store.ping()
            checks["database"] = (True, "reachable")
        except GraphDpgError as exc:
            checks["database"] = (False, str(exc))
        auth = sorted(k for k, st in self.tracker.failing().items() if st.auth_failure)
        days_left = self.gateway.ngdp.certificate_days_left()
        if auth:
            checks["credentials"] = (False, "authentication failing for " + ", ".join(auth))
        elif days_left is not None and days_left < 0:
            checks["credentials"] = (False, "the NgDP certificate has expired")
        else:
            shown = f"NgDP certificate: {days_left} day(s) left" if days_left is not None else "usable"
            checks["credentials"] = (True, shown)
        checks["polling"] = self._polling_check()
        return checks

    def _polling_check(self) -> tuple[bool, str]:
        held = [r for r in self._mailboxes if r in self.leases.held]
        if not held:
            return True, "no function mailbox held by this replica"
        interval = self.outbound_interval
        limit = 3 * interval + self.settings.poll_jitter_seconds + self.settings.lease_seconds
        since = self.last_outbound_success if self.last_outbound_success is not None else self.started_at
        age = time.monotonic() - since
        if age > limit:
            return False, f"no successful poll for {age:.0f}s (limit {limit:.0f}s)"
        if self.last_outbound_success is None:
            return True, "starting"
        return True, f"last successful poll {age:.0f}s ago"

    def _count(self, stats: CycleStats) -> None:
        self.counters.outbound.add(stats)


class _MaxInstancesFilter(logging.Filter):
    """APScheduler warns each time a run is skipped because the previous one still runs: that is the
    intended no-overlap behaviour here, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def quiet_library_logs() -> None:
    logger = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _MaxInstancesFilter) for f in logger.filters):
        logger.addFilter(_MaxInstancesFilter())
    # Per-run, per-request and per-migration-step INFO lines would drown the state changes we log
    # ("one line per state change"); their warnings and errors still get through.
    for name in ("apscheduler", "httpx", "alembic", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
