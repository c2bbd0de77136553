"""Narrow protocols the services need (mailbox, Digital Post, store parts) and the record types that
cross them; adapters implement them, tests fake them."""
