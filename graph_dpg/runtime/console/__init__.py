"""The admin console (issue 19): Starlette pages under /console/, signed in with Entra ID (auth.py),
answering from the store through the narrow :class:`letters.Letters` interface."""

from graph_dpg.runtime.console.app import create_console_app
from graph_dpg.runtime.console.letters import Letters, StoreLetters
from graph_dpg.runtime.console.operations import Operations, StoreOperations

__all__ = ["Letters", "Operations", "StoreLetters", "StoreOperations", "create_console_app"]
