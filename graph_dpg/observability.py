"""Logging set-up: structlog for our code, the standard library's loggers routed through the same chain.

Pipeline (the same for structlog and for stdlib records of libraries such as httpx or msal)::

    event ─► contextvars ─► level/logger name ─► UTC timestamp ─► %-args ─► stack/exception → text
          ─► mask_cpr_processor ─► console (key=value) or JSON (one object per line)

CPR numbers are personal data that must never reach a log in clear (docs/product.md, "Personal data").
``mask_cpr_processor`` runs *after* exceptions and stack traces have been turned into text and *before*
rendering, so it sees every string that will be written: the event text, every value (nested dicts/lists too),
every key, and the traceback. Objects that are not JSON primitives are turned into their ``str`` first,
because the renderers would otherwise ``repr`` them later, after masking. Exceptions are always rendered as
plain text (never the "pretty" formatters that can print local variables).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from graph_dpg.domain.identifiers import mask_cprs

FORMATS = ("console", "json")
_HANDLER_NAME = "graph_dpg"


def mask_cpr_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask anything that looks like a CPR number anywhere in the event."""
    return {_mask_key(key): _mask_value(value) for key, value in event_dict.items()}


def _mask_key(key: Any) -> Any:
    return mask_cprs(key) if isinstance(key, str) else key


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_cprs(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_cprs(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {_mask_key(k): _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(v) for v in value]
    return mask_cprs(str(value))


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        mask_cpr_processor,
    ]


def configure_logging(fmt: str = "console", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog and the root logger. Safe to call again (replaces its own handler only)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")

    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        target = stream or sys.stderr
        renderer = structlog.dev.ConsoleRenderer(
            colors=target.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
