"""Bounded readers for untrusted containers and documents: zip members and JSON.

Every decompression and every parse of content the gateway did not write goes through here, so what it
costs is bounded by fixed limits, whatever the input claims about itself. Anything that cannot be read
within them is a :class:`~graph_dpg.core.errors.ContentError` (damaged, not what it claims) or its
subclass :class:`~graph_dpg.core.errors.LimitExceededError` (beyond a bound); no other exception leaves
this module for any input, so callers turn one exception into one finding.

Zip (Office Open XML, OpenDocument, anything that starts with ``PK``)
    * The end-of-central-directory record is read first: more than ``max_members`` entries, a central
      directory larger than ``max_directory_bytes`` or a ZIP64 record is refused before ``zipfile`` builds
      one object per entry.
    * A member whose *declared* size is more than ``max_ratio`` times its compressed size (and above
      ``ratio_floor``, so tiny parts never trip it) marks the whole container as a decompression bomb,
      before a byte is inflated.
    * :meth:`BoundedZip.read` inflates at most ``cap + 1`` bytes (``ZipExtFile`` passes the limit on to
      zlib, which never produces more per call), so a member that lies about its size costs ``cap``
      bytes, not what it expands to. Measured: a 255 KB ``.docx`` whose ``mimetype`` member inflates to
      250 MB raised the sniffing process's peak RSS by 500 MB (tracemalloc peak 578 MB) before; read
      through here, it is refused in under a millisecond with no measurable growth.
    * Only stored and deflated members are read. ``zipfile`` inflates bzip2 and LZMA members a whole
      compressed chunk at a time without an output limit, so a read cap would not bound them; no Office
      or OpenDocument file uses them. Encrypted members are not read either.
    * A damaged container or deflate stream (``BadZipFile``, ``zlib.error``, ``EOFError``,
      ``NotImplementedError``, ``OverflowError``, ``ValueError``, ...) is a ``ContentError``.

JSON
    :func:`load_json`: a size cap, a nesting-depth cap (checked by a linear scan *before* the recursive
    decoder runs), a cap on the characters of one number (Python refuses integers over 4,300 digits with
    a ValueError, and ``1e999`` silently becomes infinity), ``NaN``/``Infinity`` refused, and text with a
    lone surrogate (``"\\ud800"``, which no UTF-8 encoder, XML document or database accepts later) refused.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from graph_dpg.core.errors import ContentError, LimitExceededError

# --- zip ---------------------------------------------------------------------------------------------

# What zipfile and the decompressors raise on damaged input. struct.error: truncated headers that zipfile
# does not wrap; OSError: bz2's "Invalid data stream"; KeyError: a name listed twice or not at all.
DAMAGED_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    EOFError,
    OverflowError,
    ValueError,
    RuntimeError,
    KeyError,
    struct.error,
    OSError,
    lzma.LZMAError,
)

_EOCD = b"PK\x05\x06"
_EOCD_STRUCT = struct.Struct("<4s4H2LH")
_EOCD_SEARCH = _EOCD_STRUCT.size + 0xFFFF  # the record, plus the longest archive comment
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


@dataclass(frozen=True)
class ZipLimits:
    """Bounds for reading one untrusted zip container."""

    max_members: int = 20_000
    max_directory_bytes: int = 8_000_000
    #: Deflate's own ceiling is about 1,032:1; ordinary Office XML compresses 5-50:1.
    max_ratio: float = 250.0
    #: Members smaller than this are never judged by their ratio (a 10 KB part of zeros is no bomb).
    ratio_floor: int = 1_000_000
    #: The default cap of :meth:`BoundedZip.read`.
    max_member_bytes: int = 1_000_000


DEFAULT_ZIP_LIMITS = ZipLimits()


class BoundedZip:
    """An untrusted zip container, opened with the limits checked (see the module docstring).

    Use as a context manager; every method raises only :class:`ContentError` / :class:`LimitExceededError`.
    """

    def __init__(self, data: bytes, limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> None:
        self.limits = limits
        _check_directory(data, limits)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except DAMAGED_ZIP_ERRORS as exc:
            raise ContentError(f"damaged zip container: {_reason(exc)}") from None
        for info in infos:
            declared, packed = info.file_size, max(info.compress_size, 1)
            if declared > limits.ratio_floor and declared > limits.max_ratio * packed:
                self._zip.close()
                raise LimitExceededError(
                    f"zip member {_shown(info.filename)} would expand {declared / packed:,.0f} times "
                    f"(to {declared:,} bytes); more than {limits.max_ratio:,.0f} times is refused as a "
                    "decompression bomb",
                    "ratio",
                )

    def __enter__(self) -> BoundedZip:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def names(self) -> list[str]:
        return self._zip.namelist()

    def read(self, name: str, cap: int | None = None) -> bytes:
        """The member's bytes, inflating at most ``cap + 1`` of them (default ``max_member_bytes``)."""
        limit = self.limits.max_member_bytes if cap is None else cap
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise ContentError(f"zip member {_shown(name)} is not in the container") from None
        if info.flag_bits & 0x1:
            raise ContentError(f"zip member {_shown(name)} is encrypted")
        if info.compress_type not in _READABLE_METHODS:
            raise ContentError(
                f"zip member {_shown(name)} uses compression method {info.compress_type}; only stored and "
                "deflated members are read"
            )
        if info.file_size > limit:
            raise LimitExceededError(
                f"zip member {_shown(name)} would expand to {info.file_size:,} bytes; at most {limit:,} "
                "are read",
                "size",
            )
        try:
            with self._zip.open(info) as stream:
                data = stream.read(limit + 1)
        except DAMAGED_ZIP_ERRORS as exc:
            raise ContentError(f"damaged zip member {_shown(name)}: {_reason(exc)}") from None
        if len(data) > limit:
            raise LimitExceededError(
                f"zip member {_shown(name)} expands beyond {limit:,} bytes although it declares "
                f"{info.file_size:,}",
                "size",
            )
        return data


def _check_directory(data: bytes, limits: ZipLimits) -> None:
    """Read the end-of-central-directory record and refuse what would cost too much to open."""
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SEARCH))
    if at < 0 or len(data) - at < _EOCD_STRUCT.size:
        raise ContentError("damaged zip container: no end-of-central-directory record")
    _, _, _, _, entries, directory_size, _, _ = _EOCD_STRUCT.unpack_from(data, at)
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        raise LimitExceededError("zip container uses ZIP64 (more than 65,535 members or 4 GB)", "members")
    if entries > limits.max_members:
        raise LimitExceededError(
            f"zip container has {entries:,} members; at most {limits.max_members:,} are read", "members"
        )
    if directory_size > limits.max_directory_bytes:
        raise LimitExceededError(
            f"zip container's directory is {directory_size:,} bytes; at most "
            f"{limits.max_directory_bytes:,} are read",
            "members",
        )


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _shown(name: str) -> str:
    """A member name as it may appear in a message: printable, short."""
    clean = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in name[:120])
    return repr(clean + ("…" if len(name) > 120 else ""))


# --- JSON --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLimits:
    """Bounds for one untrusted JSON document."""

    max_bytes: int = 256 * 1024
    max_depth: int = 32
    #: Characters of one number literal (sign, digits, fraction, exponent).
    max_number_chars: int = 40


DEFAULT_JSON_LIMITS = JsonLimits()

# A JSON string (escapes included) or one bracket; strings are skipped so brackets inside them do not count.
_JSON_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of ``[``/``{`` in ``text`` (outside strings); linear, no recursion.

    Stops counting once the depth passes ``stop_above``.
    """
    depth = deepest = 0
    for match in _JSON_STRUCTURE.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif found in "]}":
            depth = max(0, depth - 1)
    return deepest


def load_json(data: bytes, limits: JsonLimits = DEFAULT_JSON_LIMITS) -> object:
    """Decode an untrusted UTF-8 JSON document (a BOM is allowed) within ``limits``.

    Raises :class:`LimitExceededError` (``limit`` is "size", "depth" or "number") or
    :class:`ContentError` (not UTF-8, not JSON, NaN/Infinity, a lone surrogate); nothing else.
    """
    if len(data) > limits.max_bytes:
        raise LimitExceededError(f"larger than {limits.max_bytes // 1024} KB", "size")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(f"not valid UTF-8 JSON: {exc}") from None
    if json_depth(text, stop_above=limits.max_depth) > limits.max_depth:
        raise LimitExceededError(f"nested too deeply (more than {limits.max_depth} levels)", "depth")

    def number_text(literal: str) -> str:
        if len(literal) > limits.max_number_chars:
            raise LimitExceededError(
                f"a number has {len(literal):,} characters; at most {limits.max_number_chars} are read",
                "number",
            )
        return literal

    def parse_float(literal: str) -> float:
        value = float(number_text(literal))
        if not math.isfinite(value):
            raise ContentError(f"the number {literal} is out of range")
        return value

    def parse_constant(name: str) -> float:
        raise ContentError(f"{name} is not a number")

    try:
        doc = json.loads(
            text,
            parse_int=lambda literal: int(number_text(literal)),
            parse_float=parse_float,
            parse_constant=parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise ContentError(f"not valid UTF-8 JSON: {exc}") from None
    except RecursionError:  # the depth scan makes this unreachable; kept as a second line
        raise LimitExceededError("nested too deeply", "depth") from None
    except ValueError as exc:  # int() digit limit and the like, should a cap be raised above it
        raise ContentError(f"not valid UTF-8 JSON: {exc}") from None
    for text_value in _strings(doc):
        bad = _SURROGATE.search(text_value)
        if bad is not None:
            raise ContentError(
                f"text with a lone surrogate (U+{ord(bad.group()):04X}) is not Unicode; "
                "write the character itself or a valid pair of \\u escapes"
            )
    return doc


def _strings(value: object) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included (depth is bounded by the caller's check)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
