"""The admin console (issue 19): Starlette pages under /console/, signed in with Entra ID (auth.py),
answering through the letters service (``services.letters``) seen as the narrow :class:`letters.Letters`."""

from graph_dpg.runtime.console.app import create_console_app
from graph_dpg.runtime.console.letters import Letters, LettersFactory, actor_of
from graph_dpg.runtime.console.operations import Operations, StoreOperations

__all__ = [
    "Letters",
    "LettersFactory",
    "Operations",
    "StoreOperations",
    "actor_of",
    "create_console_app",
]
