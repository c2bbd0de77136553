"""Microsoft Graph adapter: the mailbox port on msgraph-sdk, credentials, error translation."""

from graph_dpg.adapters.graph.client import GRAPH_BASE_URL, RetryPolicy
from graph_dpg.adapters.graph.credentials import StaticTokenCredential, credential_from
from graph_dpg.adapters.graph.mailbox import GraphMailbox
from graph_dpg.adapters.graph.translate import PROPERTY_SET_GUID, property_id

__all__ = [
    "GRAPH_BASE_URL",
    "PROPERTY_SET_GUID",
    "GraphMailbox",
    "RetryPolicy",
    "StaticTokenCredential",
    "credential_from",
    "property_id",
]
