"""Alembic revisions; each file is one schema step, never edited once released."""
