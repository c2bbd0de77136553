"""CVR: company names through Erhvervsstyrelsen's CVR distribution search (docs/facts/cvr.md)."""

from graph_dpg.adapters.cvr.client import CvrSearch

__all__ = ["CvrSearch"]
