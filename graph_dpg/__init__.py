"""graph_dpg: a Digital Post (NgDP / MeMo) gateway for Microsoft 365 function mailboxes."""

__version__ = "0.1.0"
