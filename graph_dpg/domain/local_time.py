"""Times as case workers read them: Danish local time (Europe/Copenhagen), Danish format.

The gateway records times in UTC; a person in Denmark reads ``14.03.2026 kl. 09:30`` in local time (summer
time included), in receipts and findings alike, in both languages (the format is unambiguous in English).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def local_time(moment: datetime) -> str:
    """``moment`` (naive means UTC) in Copenhagen time: ``dd.mm.yyyy HH:MM``."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(COPENHAGEN).strftime("%d.%m.%Y %H:%M")
