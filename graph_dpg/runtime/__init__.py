"""One gateway process.

* :mod:`.scheduler` - :class:`Runtime`: the APScheduler jobs, their order, start-up and graceful shutdown;
* :mod:`.work` - per-work-item backoff with failures logged once, and this replica's leases;
* :mod:`.credentials` - the certificates this process uses and when they expire;
* :mod:`.http` - /healthz, /readyz, /metrics and the NgDP push receiver, served by uvicorn in-process.

This package re-exports the names callers use (``from graph_dpg.runtime import Runtime``).
"""

from graph_dpg.runtime.scheduler import (
    OUTBOUND_PREFIX,
    RESOURCE_EFFECTS,
    RESOURCE_HOUSEKEEPING,
    RESOURCE_INBOUND,
    RESOURCE_RECEIPTS,
    RETENTION,
    Runtime,
    RuntimeCounters,
    RuntimeOptions,
    outbound_resource,
    quiet_library_logs,
)
from graph_dpg.runtime.work import ItemState, LeaseKeeper, WorkTracker

__all__ = [
    "OUTBOUND_PREFIX",
    "RESOURCE_EFFECTS",
    "RESOURCE_HOUSEKEEPING",
    "RESOURCE_INBOUND",
    "RESOURCE_RECEIPTS",
    "RETENTION",
    "ItemState",
    "LeaseKeeper",
    "Runtime",
    "RuntimeCounters",
    "RuntimeOptions",
    "WorkTracker",
    "outbound_resource",
    "quiet_library_logs",
]
