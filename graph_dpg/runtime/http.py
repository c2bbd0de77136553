"""The gateway's HTTP surface (Starlette, served by uvicorn inside the ``run``/``sandbox`` process).

    GET  /healthz          liveness: the process and its event loop answer (no I/O)
    GET  /readyz           readiness: 200 when the database answers, the credentials are usable and the
                           last successful poll is recent enough; 503 with the failing checks otherwise
    GET  /metrics          Prometheus text format (GatewayMetrics below)
    POST /graph/notifications, /graph/lifecycle
                           Graph change and lifecycle notifications (served when GRAPH_DPG_NOTIFICATIONS_URL
                           is set): the validation handshake (echo ``validationToken``, text/plain, 200), or
                           a bounded JSON body checked by services.notifications.NotificationInbox (wakes
                           persisted) and answered 202 within Graph's 3 s; 503 when it could not be
                           persisted (Graph retries)
    /console/...           the admin console (runtime/console), mounted only when its sign-in is configured
    POST /ngdp/push/...    NgDP REST PUSH of memos and receipts (adapters.digital_post.create_push_app),
                           stored durably before the 200; mounted only when push is configured with
                           a check that identifies NgDP (adapters.digital_post.push_auth)

The readiness facts come from a :class:`StatusSource` (the runtime); this module reads, never decides.
:class:`HttpServer` serves the app with uvicorn in the runtime's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from graph_dpg.core.bounded import JsonLimits, load_json
from graph_dpg.core.errors import GraphDpgError, InputError
from graph_dpg.services.blocking import blocking
from graph_dpg.services.boundary import ItemFailures
from graph_dpg.services.notifications import LIFECYCLE_PATH, NOTIFICATIONS_PATH, NotificationOutcome

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: A notification POST larger than this is refused (413): Graph batches notifications, but each basic
#: notification is well under 1 KB, so 1 MB holds any batch Graph sends.
MAX_NOTIFICATION_BYTES = 1024 * 1024
NOTIFICATION_JSON = JsonLimits(max_bytes=MAX_NOTIFICATION_BYTES, max_depth=8)
#: Graph resends a notification that got no 2xx within 3 s (concepts/change-notifications-delivery-
#: webhooks.md); answering 503 before that lets it retry instead of counting us as slow.
NOTIFICATION_BUDGET_S = 2.5
#: validationToken is opaque; anything longer than this is not Graph's.
MAX_VALIDATION_TOKEN = 4096


class _CountingMailbox(Protocol):
    @property
    def requests(self) -> Mapping[str, int]: ...

    @property
    def throttled(self) -> Mapping[str, int]: ...


class _QueueStore(Protocol):
    def outbox_counts(self) -> Mapping[Any, int]: ...


class _LiveCollector(Collector):
    """Values read at scrape time from the objects that own them (no second bookkeeping to drift)."""

    def __init__(
        self, mailbox: _CountingMailbox | None, store: _QueueStore | None, failures: ItemFailures | None
    ) -> None:
        self._mailbox = mailbox
        self._store = store
        self._failures = failures

    def collect(self) -> Iterable[Metric]:
        if self._mailbox is not None:
            requests = CounterMetricFamily(
                "graph_dpg_graph_requests", "Microsoft Graph requests sent, per mailbox", labels=["mailbox"]
            )
            throttled = CounterMetricFamily(
                "graph_dpg_graph_throttled",
                "Microsoft Graph answers 429 (throttled), per mailbox",
                labels=["mailbox"],
            )
            for mailbox, n in sorted(dict(self._mailbox.requests).items()):
                requests.add_metric([mailbox], float(n))
            for mailbox, n in sorted(dict(self._mailbox.throttled).items()):
                throttled.add_metric([mailbox], float(n))
            yield requests
            yield throttled
            # Requests that waited for the next minute of their mailbox's shared request budget (issue 18).
            waits: Mapping[str, int] | None = getattr(self._mailbox, "budget_waits", None)
            if waits is not None:
                waited = CounterMetricFamily(
                    "graph_dpg_graph_budget_waits",
                    "Microsoft Graph requests that waited for the next window of the request budget, "
                    "per mailbox",
                    labels=["mailbox"],
                )
                for mailbox, n in sorted(dict(waits).items()):
                    waited.add_metric([mailbox], float(n))
                yield waited
        if self._store is not None:
            depth = GaugeMetricFamily(
                "graph_dpg_outbox_messages", "MeMo messages in the outbox by state", labels=["state"]
            )
            try:
                counts = self._store.outbox_counts()
            except GraphDpgError:
                counts = {}  # the database is down: /readyz says so; /metrics must still answer
            for state, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
                depth.add_metric([str(state)], float(n))
            yield depth
        if self._failures is not None:
            failed = CounterMetricFamily(
                "graph_dpg_item_failures",
                "Mails, memos and effects given up, per stage: after an unexpected error (internal_error) "
                "or after transient failures for longer than their limits (gave_up)",
                labels=["stage", "reason"],
            )
            for (stage, reason), n in sorted(self._failures.counts().items()):
                failed.add_metric([stage.value, reason.value], float(n))
            yield failed


class GatewayMetrics:
    """The Prometheus metrics of one gateway process, in their own registry (tests build many)."""

    def __init__(
        self,
        *,
        mailbox: _CountingMailbox | None = None,
        store: _QueueStore | None = None,
        failures: ItemFailures | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter(
            "graph_dpg_messages_sent",
            "Digital Post messages accepted by NgDP, per channel",
            ["channel"],
            registry=self.registry,
        )
        self.failed = Counter(
            "graph_dpg_messages_failed",
            "Digital Post messages refused or given up, per channel (rejected = validation or NgDP 400)",
            ["channel"],
            registry=self.registry,
        )
        self.received = Counter(
            "graph_dpg_messages_received",
            "Inbound Digital Post / secure mail delivered into mailboxes, per channel",
            ["channel"],
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "graph_dpg_poll_seconds",
            "Duration of one poll of one work item (mailbox folder or NgDP queue)",
            ["kind"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.poll_failures = Counter(
            "graph_dpg_poll_failures",
            "Polls that failed, per kind",
            ["kind"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "graph_dpg_graph_notifications",
            "Graph change/lifecycle notifications received, per outcome (accepted; dropped: clientState "
            "mismatch or unknown subscription)",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(mailbox, store, failures))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class NotificationSink(Protocol):
    """What the notification endpoints hand a decoded body to (services.notifications.NotificationInbox)."""

    def accept(self, document: object) -> NotificationOutcome: ...


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (stops reading there)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def notification_routes(sink: NotificationSink, metrics: GatewayMetrics) -> list[Route]:
    """POST /graph/notifications and /graph/lifecycle (docs/facts/graph.md, "Change notifications")."""

    async def receive(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            # The handshake: the URL-decoded token (Starlette decodes query values) as text/plain, 200,
            # within 10 s (concepts/includes/change-notifications-delivery-notificationurl-validation.md).
            if len(token) > MAX_VALIDATION_TOKEN:
                return PlainTextResponse("validationToken too long", status_code=400)
            return PlainTextResponse(token, headers={"X-Content-Type-Options": "nosniff"})
        body = await _bounded_body(request, MAX_NOTIFICATION_BYTES)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            document = load_json(body, NOTIFICATION_JSON)
        except InputError:
            return PlainTextResponse("not a JSON document", status_code=400)
        try:
            outcome = await asyncio.wait_for(blocking(sink.accept, document), NOTIFICATION_BUDGET_S)
        except InputError:
            return PlainTextResponse("not a change notification collection", status_code=400)
        except (GraphDpgError, TimeoutError):
            # Not persisted: a 5xx makes Graph retry (change-notifications-delivery-webhooks.md).
            return PlainTextResponse("not persisted, retry", status_code=503)
        if outcome.accepted:
            metrics.notifications.labels("accepted").inc(outcome.accepted)
        if outcome.dropped:
            metrics.notifications.labels("dropped").inc(outcome.dropped)
        return Response(status_code=202)

    return [
        Route(NOTIFICATIONS_PATH, receive, methods=["POST"]),
        Route(LIFECYCLE_PATH, receive, methods=["POST"]),
    ]


class StatusSource(Protocol):
    """What /readyz asks the runtime (``graph_dpg.runtime.Runtime`` implements it)."""

    def readiness(self) -> dict[str, tuple[bool, str]]:
        """Check name → (ok, detail). Blocking calls (database ping) are allowed: run in a thread."""
        ...


def create_http_app(
    metrics: GatewayMetrics,
    status: StatusSource,
    *,
    push_app: Any | None = None,
    notifications: NotificationSink | None = None,
    console_app: Any | None = None,
) -> Starlette:
    """The Starlette app of the gateway process (see the module docstring)."""
    started = time.monotonic()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "uptime_s": round(time.monotonic() - started, 1)})

    async def readyz(request: Request) -> Response:
        checks = await blocking(status.readiness)
        ready = all(ok for ok, _ in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        # outbox_counts is a database query: keep it off the event loop.
        payload = await blocking(metrics.render)
        return PlainTextResponse(payload, media_type=PROMETHEUS_CONTENT_TYPE)

    routes: list[Route | Mount] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if notifications is not None:
        routes.extend(notification_routes(notifications, metrics))
    if push_app is not None:
        routes.append(Mount("/ngdp/push", app=push_app))
    if console_app is not None:
        routes.append(Mount("/console", app=console_app))
    return Starlette(routes=routes)


class HttpServer:
    """uvicorn serving ``app`` inside this process (started and stopped by the runtime)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server = _QuietServer(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve in a task of the running loop; return once the socket listens (a bind error is raised)."""
        self._task = asyncio.create_task(self._server.serve(), name="http")
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raises the bind error
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        """The address served (with the port the system chose when it was 0)."""
        port = self.port
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                port = sock.getsockname()[1]
        return f"http://{self.host}:{port}"

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=5)


class _QuietServer(uvicorn.Server):
    """uvicorn inside our process: the runtime owns SIGTERM/SIGINT, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
