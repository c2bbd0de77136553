"""Wiring-level diagnostics beside the composition root: ``graph-dpg doctor`` checks a configured gateway."""
