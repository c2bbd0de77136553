"""Rows of the state store read directly, for what the gateway writes but never reads back itself.

The audit log is for operators (they query the table), and a lease's owner only matters to the replica
that holds it (it learns from ``renew``/``acquire_some``). Tests that observe them read the tables here
instead of the store growing methods only tests call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from graph_dpg.adapters.store import SqlStore
from graph_dpg.adapters.store import schema as t


def lease_owners(store: SqlStore, resources: Iterable[str]) -> dict[str, str | None]:
    """Owner of each resource's lease row (None when free or when no row exists yet)."""
    wanted = list(resources)
    le = t.leases
    with store.engine.connect() as conn:
        rows = dict(conn.execute(select(le.c.resource, le.c.owner).where(le.c.resource.in_(wanted))).all())
    return {resource: rows.get(resource) for resource in wanted}


def audit_rows(store: SqlStore, *, action: str | None = None) -> list[dict[str, Any]]:
    """The audit events as stored, oldest first (optionally only one ``action``)."""
    ae = t.audit_events
    query = select(ae).order_by(ae.c.id)
    if action is not None:
        query = query.where(ae.c.action == action)
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
