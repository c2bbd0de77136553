"""adapters.graph"""
