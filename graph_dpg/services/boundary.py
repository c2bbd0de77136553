"""The failure boundary around one item: an outbound job, an inbound memo, a routed mail, an effect.

Whatever goes wrong while one item is handled ends that item, never the loop that handles the next one.
The services catch the project's own errors (``graph_dpg.core.errors``) where they decide what to do with
them (retry later, error receipt, fallback mailbox). Anything else (a ``ValueError`` from a parser, an
``OverflowError`` from a date, a ``KeyError`` from a bug) reaches the boundary, which

- turns the item into a terminal, answered state: the service decides which (an error receipt and the
  FAILED category for a mail, the memo delivered raw with a banner, an effect closed as failed);
- logs it once, at ERROR, with its traceback (the logging pipeline masks CPR numbers, in tracebacks too:
  ``graph_dpg.observability``);
- counts it per stage in :class:`ItemFailures`, which ``/metrics`` shows as
  ``graph_dpg_item_failures_total{stage, reason="internal_error"}``;

and the loop goes on with the next item. Items given up after their transient failures ran out of
attempts or time are counted there too (``reason="gave_up"``), logged once at WARNING.
"""

from __future__ import annotations

import enum
import logging
import threading

from graph_dpg.domain.identifiers import mask_cprs

log = logging.getLogger(__name__)

#: The longest description of an error kept in a record a person may read (receipt, banner, audit).
DESCRIPTION_LIMIT = 300


class Stage(enum.StrEnum):
    """Where an item failed: the ``stage`` label of the failure counter."""

    OUTBOUND_POLL = "outbound.poll"  # reading a function mailbox's outgoing folder
    OUTBOUND_PLAN = "outbound.plan"  # mail → MeMo messages
    OUTBOUND_SEND = "outbound.send"  # MeMo → NgDP
    OUTBOUND_EFFECT = "outbound.effect"  # receipt mail, state category
    INBOUND_MEMO = "inbound.memo"  # read, route, render and deliver one memo
    INBOUND_RECEIPT = "inbound.receipt"  # the business receipt for a delivered memo
    INBOUND_MAIL = "inbound.mail"  # route one secure mail
    ALERT = "alert"  # a mail to the monitoring mailbox


class Reason(enum.StrEnum):
    """Why an item was given up: the ``reason`` label of the failure counter."""

    INTERNAL_ERROR = "internal_error"  # an exception nobody foresaw (a bug, or an input the code cannot take)
    GAVE_UP = "gave_up"  # transient failures for longer than the attempt or time limit


def describe(exc: BaseException) -> str:
    """``ValueError: what it said``, CPR-masked and at most :data:`DESCRIPTION_LIMIT` characters."""
    try:
        said = str(exc)
    except Exception:  # an exception whose __str__ fails must still be described
        said = ""
    shown = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    shown = mask_cprs(shown.replace("\x00", "").encode("utf-8", "replace").decode("utf-8"))
    return shown if len(shown) <= DESCRIPTION_LIMIT else shown[: DESCRIPTION_LIMIT - 3] + "..."


class ItemFailures:
    """Items given up, counted per (stage, reason), each logged once. Shared by the services of one
    process (the composition root creates it); ``/metrics`` reads :meth:`counts` from another thread."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        self._counts: dict[tuple[Stage, Reason], int] = {}

    def crashed(self, stage: Stage, item: str, exc: BaseException) -> str:
        """An unexpected exception ended ``item``: log it with its traceback, count it; its description."""
        shown = describe(exc)
        self._count(stage, Reason.INTERNAL_ERROR)
        self._logger.error(
            "%s: %s given up after an unexpected error: %s",
            stage.value,
            mask_cprs(item),
            shown,
            exc_info=exc,
        )
        return shown

    def gave_up(self, stage: Stage, item: str, why: str) -> None:
        """``item`` failed for longer than its limits allow (``why`` says how): log it, count it."""
        self._count(stage, Reason.GAVE_UP)
        self._logger.warning("%s: %s given up: %s", stage.value, mask_cprs(item), mask_cprs(why))

    def counts(self) -> dict[tuple[Stage, Reason], int]:
        """Every (stage, reason), zero included, with how many items it ended."""
        with self._lock:
            counted = dict(self._counts)
        return {(s, r): counted.get((s, r), 0) for s in Stage for r in Reason}

    def _count(self, stage: Stage, reason: Reason) -> None:
        with self._lock:
            self._counts[(stage, reason)] = self._counts.get((stage, reason), 0) + 1
