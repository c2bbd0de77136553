"""sandbox.graph"""
