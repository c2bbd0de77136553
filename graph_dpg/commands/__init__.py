"""CLI command modules (thin: parse arguments, call services, print)."""
