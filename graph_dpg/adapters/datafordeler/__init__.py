"""Datafordeler: CPR names through the CPR custom GraphQL services (docs/facts/datafordeler.md)."""

from graph_dpg.adapters.datafordeler.client import DatafordelerCpr

__all__ = ["DatafordelerCpr"]
