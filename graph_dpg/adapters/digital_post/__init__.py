"""NgDP (Næste generation Digital Post) adapter: REST v1 client with mutual TLS, REST PUSH receiver."""

from graph_dpg.adapters.digital_post.client import NgdpClient
from graph_dpg.adapters.digital_post.push import create_push_app

__all__ = ["NgdpClient", "create_push_app"]
