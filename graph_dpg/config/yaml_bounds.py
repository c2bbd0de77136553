"""Bounds for the YAML the gateway reads (the gateway file, sandbox scenarios): size, encoding, nesting depth
and alias expansion, each refused with a ``FILE:LINE: what is wrong`` problem before a tree is built.

Why each bound:

- size: a gateway file with a thousand rules is about 200 KB; reading stops after ``max_bytes`` + 1, so a
  multi-gigabyte file (or ``/dev/zero``) costs no memory;
- encoding: the file is UTF-8 text; binary content (a NUL byte) and invalid UTF-8 are named with their
  position instead of a decoder traceback;
- depth: ruamel.yaml composes nested collections recursively, so ``a: [[[[...`` 100,000 deep ends in a
  RecursionError; no configuration needs more than a few levels;
- alias expansion: ``&a``/``*a`` let ten lines stand for a billion nodes ("billion laughs"), and the loader
  copies every alias into plain data; the nodes a document stands for, aliases expanded, are counted,
  and an alias to a collection that is not finished yet (a document that contains itself) is refused.

The checks read the parser's event stream (ruamel's scanner and parser keep explicit stacks, so they do not
recurse), which costs about as much as the parse that follows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    ScalarEvent,
)

from graph_dpg.core.errors import ConfigError


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 2_000_000
    max_depth: int = 64
    max_nodes: int = 200_000  # scalars and collections, aliases expanded


GATEWAY_FILE_LIMITS = YamlLimits()


def read_yaml_file(path: str | Path, source: str, limits: YamlLimits = GATEWAY_FILE_LIMITS) -> str:
    """The text of a YAML file, read within ``limits.max_bytes``; :class:`ConfigError` for a file that is
    missing, a directory, too big, binary or not UTF-8."""
    try:
        size = os.stat(path).st_size
        if size > limits.max_bytes:
            raise _error(source, 1, _too_big(size, limits))
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise _error(source, None, "file not found") from None
    except IsADirectoryError:
        raise _error(source, None, "is a directory, not a file") from None
    except OSError as exc:
        raise _error(source, None, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise _error(source, 1, _too_big(None, limits))
    return decode_yaml(data, source)


def decode_yaml(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text (a BOM is dropped); binary content and invalid UTF-8 are named by position."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise _error(source, line, f"binary content (a NUL byte at column {column}): not a YAML text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise _error(
            source,
            line,
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); save the file as UTF-8",
        ) from None


def check_yaml(text: str, source: str, limits: YamlLimits = GATEWAY_FILE_LIMITS) -> None:
    """Raise :class:`ConfigError` when ``text`` exceeds ``limits`` (see the module docstring). YAML syntax
    errors are left to the loader, which reports them with their line."""
    if len(text) > limits.max_bytes:
        raise _error(source, 1, _too_big(len(text.encode("utf-8", "surrogatepass")), limits))
    try:
        _walk(YAML(typ="safe", pure=True).parse(text), source, limits)
    except (MarkedYAMLError, YAMLError):
        return  # the loader reports the syntax error with its line


def _walk(events: Iterable[Event], source: str, limits: YamlLimits) -> None:
    sizes: dict[str, int] = {}  # anchor → nodes it stands for (its collection is finished)
    open_anchors: set[str] = set()
    stack: list[tuple[str | None, int]] = []  # open collections: (anchor, nodes so far)
    total = 0
    for event in events:
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, DocumentStartEvent):
            sizes.clear()
            open_anchors.clear()
            continue
        if isinstance(event, CollectionStartEvent):
            if len(stack) >= limits.max_depth:
                raise _error(
                    source,
                    line,
                    f"nested more than {limits.max_depth} levels deep; no setting needs that many",
                )
            anchor = event.anchor
            if anchor is not None:
                open_anchors.add(anchor)
            stack.append((anchor, 1))
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, nodes = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                sizes[anchor] = nodes
        elif isinstance(event, ScalarEvent):
            nodes = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            name = event.anchor
            if name in open_anchors:
                raise _error(source, line, f"alias *{name} refers to a collection that contains it")
            nodes = sizes.get(name, 1)  # an unknown alias: the loader names it
        else:
            continue
        if stack:
            anchor, so_far = stack[-1]
            stack[-1] = (anchor, so_far + nodes)
        else:
            total += nodes
        if total + sum(n for _, n in stack) > limits.max_nodes:
            raise _error(
                source,
                line,
                f"stands for more than {limits.max_nodes:,} values once its aliases (*name) are expanded; "
                "write the values out or use fewer aliases",
            )


def _too_big(size: int | None, limits: YamlLimits) -> str:
    shown = f" ({size:,} bytes)" if size is not None else ""
    return f"the file is too big{shown}: at most {limits.max_bytes:,} bytes are read"


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of ``offset``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _error(source: str, line: int | None, message: str) -> ConfigError:
    where = f"{source}:{line}" if line is not None else source
    return ConfigError(f"{where}: {message}", [f"{where}: {message}"])
