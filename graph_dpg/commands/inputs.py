"""The files a command is given to read (a MeMo, a mail): read within a size bound, and when they cannot be
read, a sentence that says why instead of a traceback (the commands then exit 2)."""

from __future__ import annotations

import os
import sys

#: The largest message file a command reads: a MeMo holds at most 99.5 MB of files (about 135 MB as base64
#: XML), and Exchange Online accepts mails up to 150 MB.
MAX_MESSAGE_FILE_BYTES = 160_000_000


class UnreadableInput(Exception):
    """The file cannot be read; the message says why in words (without the path)."""


def read_input(path: str, limit: int = MAX_MESSAGE_FILE_BYTES) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit`` of them."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            size = os.stat(path).st_size
            if size > limit:
                raise UnreadableInput(_too_big(limit, size))
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except FileNotFoundError:
        raise UnreadableInput("no such file") from None
    except IsADirectoryError:
        raise UnreadableInput("is a directory, not a file") from None
    except OSError as exc:
        raise UnreadableInput(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnreadableInput(_too_big(limit))
    return data


def _too_big(limit: int, size: int | None = None) -> str:
    shown = f" ({size:,} bytes)" if size is not None else ""
    return f"too big{shown}: at most {limit:,} bytes are read"
