"""The demo organisation and scenario of ``graph-dpg sandbox``, and the scenario player."""
