"""HTTP plumbing shared by the Graph and NgDP adapters: the aiohttp-backed httpx transport."""

from graph_dpg.adapters.http.aiohttp_transport import TRANSPORT_KINDS, AiohttpTransport, network_transport

__all__ = ["TRANSPORT_KINDS", "AiohttpTransport", "network_transport"]
