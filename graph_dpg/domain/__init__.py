"""Pure domain code: no I/O, no SDKs, no settings. See docs/architecture.md."""
