"""One gateway process: the scheduler (:mod:`.scheduler`) and what it runs. This package re-exports the
names callers use, so ``from graph_dpg.runtime import Runtime`` works whichever module holds them."""

from graph_dpg.runtime.expiry import ALERT_PROPERTY, EXPIRY_THRESHOLDS_DAYS, ExpiryAlerts
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
    "ALERT_PROPERTY",
    "EXPIRY_THRESHOLDS_DAYS",
    "OUTBOUND_PREFIX",
    "RESOURCE_EFFECTS",
    "RESOURCE_HOUSEKEEPING",
    "RESOURCE_INBOUND",
    "RESOURCE_RECEIPTS",
    "RETENTION",
    "ExpiryAlerts",
    "ItemState",
    "LeaseKeeper",
    "Runtime",
    "RuntimeCounters",
    "RuntimeOptions",
    "WorkTracker",
    "outbound_resource",
    "quiet_library_logs",
]
