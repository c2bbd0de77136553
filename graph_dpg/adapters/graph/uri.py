"""The URL of a request from its kiota URI template, without the general RFC 6570 expander.

kiota (``RequestInformation.url``) expands every request's template with ``stduritemplate``, which
percent-encodes value by value, character by character: ~3.5 ms of the gateway's CPU per request for a
Graph message id and a long ``$select`` (bench/cost_bench.py --profile, issue 18). The templates the
adapter sends use three forms of RFC 6570 (www.rfc-editor.org/rfc/rfc6570): ``{+baseurl}`` (reserved
expansion), ``{user%2Did}`` (simple string expansion) and ``{?%24select,%24top}`` (form-style query);
:func:`expand` does those with one ``urllib.parse.quote`` per value and returns None for anything else (an
operator, a modifier or a value type it does not know), and the caller then lets kiota expand the template.
tests/unit/graph/test_uri_template.py checks that both give the same URL.

Both steps are cached (``functools.lru_cache``): a template's parse (a few dozen templates exist), and each
value's percent-encoding (the base URL and the mailbox in every request, a message id in the 3-5 requests of
one letter): ~23 µs → ~9 µs per request (``timeit`` of ``GraphMailbox._info`` for a message URL, issue 18).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote

_EXPRESSION = re.compile(r"\{([^}]*)\}")
# RFC 6570 section 1.5: reserved = gen-delims / sub-delims; "+" expansion passes them (and unreserved).
_RESERVED = ":/?#[]@!$&'()*+,;="
_VARNAME = re.compile(r"^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*$")


class _Unsupported(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _quote(value: str, safe: str) -> str:
    return quote(value, safe=safe)


@functools.lru_cache(maxsize=256)
def _parse(template: str) -> tuple[tuple[str, str, tuple[str, ...]], ...] | None:
    """``template`` as literal text and expressions: ``(literal, "", ())`` or ``("", operator, names)``;
    None when an expression is outside what :func:`expand` does (an explode, a prefix, another operator)."""
    parts: list[tuple[str, str, tuple[str, ...]]] = []
    at = 0
    for found in _EXPRESSION.finditer(template):
        if found.start() > at:
            parts.append((template[at : found.start()], "", ()))
        body = found.group(1)
        operator = body[:1] if body[:1] in ("+", "?") else ""
        names = tuple(body[len(operator) :].split(","))
        if not all(_VARNAME.match(name) for name in names):
            return None
        parts.append(("", operator, names))
        at = found.end()
    if at < len(template):
        parts.append((template[at:], "", ()))
    return tuple(parts)


def _encode(value: object, reserved: bool) -> str | None:
    """One value, percent-encoded; None: undefined (RFC 6570 section 2.3: skipped)."""
    if isinstance(value, str):
        if reserved:
            if "%" in value:  # a pct-encoded triplet passes through "+" expansion: not worth the case
                raise _Unsupported
            return _quote(value, _RESERVED)
        return _quote(value, "")
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        if not value:
            return None  # an empty list is undefined (section 2.3)
        return ",".join(_quote(v, _RESERVED if reserved else "") for v in value)
    if value is None:
        return None
    raise _Unsupported


def _expression(operator: str, names: tuple[str, ...], data: Mapping[str, object]) -> str:
    parts: list[str] = []
    for name in names:
        encoded = _encode(data.get(name), operator == "+")
        if encoded is None:
            continue
        parts.append(f"{name}={encoded}" if operator == "?" else encoded)
    if not parts:
        return ""
    if operator == "?":
        return "?" + "&".join(parts)
    return ",".join(parts)


def expand(template: str, data: Mapping[str, object]) -> str | None:
    """``template`` expanded with ``data`` (RFC 6570 level 1 and 2 ``+``, level 3 ``?``); None when the
    template or a value needs more than that."""
    parsed = _parse(template)
    if parsed is None:  # explode (*), prefix (:n) or something else: kiota's expander
        return None
    try:
        return "".join(literal or _expression(operator, names, data) for literal, operator, names in parsed)
    except _Unsupported:
        return None


def query_string(query: Mapping[str, object]) -> str:
    """``name=value&...`` as kiota sends a ``{?%24select,...}`` query: each value expanded like the
    form-style ``?`` expression above (a list joined by ``,``, an empty list or None left out), and the
    names as given, e.g. ``$select``: kiota's ParametersNameDecodingHandler decodes the ``%24`` that a
    template's variable name needs back to ``$`` before the request leaves (kiota-python
    ``kiota_http/middleware/parameters_name_decoding_handler.py``)."""
    parts: list[str] = []
    for name, value in query.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            encoded = _encode(value, False)
        except _Unsupported:
            raise TypeError(f"query value of {name!r}: {type(value).__name__}") from None
        if encoded is not None:
            parts.append(f"{name}={encoded}")
    return "&".join(parts)
