"""The SQL state store (SQLite by default, PostgreSQL for production and replicas).

``create_store(url)`` gives a migrated :class:`SqlStore`, which implements every port of
``graph_dpg.ports.store`` (``StatePort``); ``SqlStore.push_sink()`` adapts it to the async
NgDP push receiver.
"""

from graph_dpg.adapters.store.sql import (
    AsyncStorePushSink,
    SqlStore,
    create_store,
    known_revisions,
    pushed_receipt_id,
    redacted_url,
    schema_heads,
    sqlite_file,
)

__all__ = [
    "AsyncStorePushSink",
    "SqlStore",
    "create_store",
    "known_revisions",
    "pushed_receipt_id",
    "redacted_url",
    "schema_heads",
    "sqlite_file",
]
