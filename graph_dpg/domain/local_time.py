"""Times as case workers read them: Danish local time (Europe/Copenhagen), whatever the language.

The gateway records times in UTC; a person in Denmark reads them in local time (summer time included). Two
shapes, one conversion (:func:`to_local`):

- :func:`local_time`, compact, in receipts and findings alike in both languages (the format is
  unambiguous in English): ``14.03.2026 09:30``;
- :func:`format_local_datetime`, in words, in the delivered mail's overview: "3. december 2026 kl. 14.05"
  (Danish) or "3 December 2026, 14:05" (English), the month names from the message catalogue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from graph_dpg.domain.texts import Text, text

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def to_local(moment: datetime) -> datetime:
    """``moment`` in Copenhagen time; a value without a zone is taken as UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(COPENHAGEN)


def local_time(moment: datetime) -> str:
    """``moment`` (naive means UTC) in Copenhagen time: ``dd.mm.yyyy HH:MM``."""
    return to_local(moment).strftime("%d.%m.%Y %H:%M")


def format_local_datetime(value: datetime | None, language: str = "da") -> str:
    """``value`` in Danish local time for people: "3. december 2026 kl. 14.05" (Danish) or
    "3 December 2026, 14:05" (English); a value without a zone is taken as UTC; None gives ""."""
    if value is None:
        return ""
    local = to_local(value)
    month = text(Text.INB_MONTHS, language).split()[local.month - 1]
    return text(
        Text.INB_DATETIME,
        language,
        day=local.day,
        month=month,
        year=local.year,
        hour=f"{local.hour:02d}",
        minute=f"{local.minute:02d}",
    )
