"""Settings → the letters service (``graph-dpg letters`` and the admin console): the state database named by
the settings, and the language of the receipt mails for the words it shows."""

from __future__ import annotations

from graph_dpg.adapters.store import create_store
from graph_dpg.adapters.store.sql import SqlStore
from graph_dpg.config import Settings
from graph_dpg.services.letters import LettersService


def open_letters(
    settings: Settings | None, *, database_url: str | None = None, language: str | None = None
) -> tuple[LettersService, SqlStore]:
    """The service on the settings' database (or ``database_url``); the caller closes the store."""
    url = database_url or (settings.database_url if settings is not None else "")
    store = create_store(url)
    words = language or (settings.receipt_language if settings is not None else "da")
    return LettersService(store, language=words), store
