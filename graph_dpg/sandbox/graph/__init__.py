"""A faithful, stateful, in-memory Microsoft Graph tenant (mail subset) served as an ASGI app.

Use in-process with ``httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(tenant)),
base_url="http://graph.local/v1.0")`` or over loopback with ``with serve(tenant) as base_url: ...``.
Requests need ``Authorization: Bearer <token>`` with one of ``tenant.tokens`` (default ``sandbox-token``).
Test helpers on ``GraphTenant`` speak immutable ids.
"""

from graph_dpg.sandbox.graph.app import create_app
from graph_dpg.sandbox.graph.faults import Fault, FaultInjector, gateway_timeout, slow, throttle, unavailable
from graph_dpg.sandbox.graph.server import serve
from graph_dpg.sandbox.graph.tenant import GraphApiError, GraphTenant, LoggedRequest

__all__ = [
    "Fault",
    "FaultInjector",
    "GraphApiError",
    "GraphTenant",
    "LoggedRequest",
    "create_app",
    "gateway_timeout",
    "serve",
    "slow",
    "throttle",
    "unavailable",
]
