"""Alembic environment: runs on the connection ``SqlStore.migrate`` hands over in ``config.attributes``.

With no connection given (the ``alembic`` command line), it connects to ``sqlalchemy.url`` itself.
``render_as_batch`` lets later revisions alter tables on SQLite, which has only a limited ALTER TABLE.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from graph_dpg.adapters.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection in config.attributes and no sqlalchemy.url set")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


_main()
