"""The OData subset the Graph emulator understands: ``$filter``, ``$select``, ``$expand``, ``Prefer``.

``$filter`` grammar (the forms Outlook's Graph endpoints accept; operators are case-insensitive)::

    expr    := and ( 'or' and )*
    and     := unary ( 'and' unary )*
    unary   := 'not' unary | '(' expr ')' | func '(' operand ',' operand ')' | operand [ cmp operand ]
    operand := literal | path | path '/' ('any'|'all') '(' var ':' expr ')'
    cmp     := eq | ne | gt | ge | lt | le
    literal := 'str''ing' | true | false | null | number | 2024-01-02T03:04:05Z

Examples pinned by the tests come from the Graph docs:
``singleValueExtendedProperties/Any(ep: ep/id eq 'String {guid} Name X' and ep/value eq 'y')``
(learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get, "Get resource instances ... filtered by
a single-value extended property"), ``receivedDateTime ge 2024-01-01T00:00:00Z`` and ``isRead eq false``
(learn.microsoft.com/graph/api/user-list-messages; learn.microsoft.com/graph/filter-query-parameter).
Exchange compares strings case-insensitively, so ``eq`` on strings does too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class ODataError(ValueError):
    """A query option the emulator (and Graph) cannot parse; becomes a 400 ``BadRequest``."""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),:/])
  | (?P<ident>[A-Za-z_@$][\w.@$-]*)
    """,
    re.VERBOSE,
)

_CMP_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_EXT_ID_RE = re.compile(
    r"^\s*(?P<type>[A-Za-z]+)\s+(?:(?P<guid>\{[0-9A-Fa-f-]{36}\})\s+(?P<kind>Name|Id)\s+(?P<name>.+?)|(?P<tag>0x[0-9A-Fa-f]{1,4}))\s*$"
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ODataError(f"Invalid filter clause: unexpected character at position {pos}.")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group()))
    return out


Env = Mapping[str, Any]
Node = Callable[[Any, Env], Any]


@functools.lru_cache(maxsize=4096)
def canonical_ext_id(prop_id: str) -> str:
    """Normalise an extended-property id so that equal properties compare equal.

    Property type names and GUIDs are case-insensitive and proptags are numbers (``0x0E07`` == ``0xe07``);
    named-property names stay as given: they compare case-sensitively (inference; see tests/conformance/
    test_graph_extended_properties.py). The result is itself an id of the same form, so that a
    canonical id compared with another in ``$filter`` is recognised as one (not lower-cased as a string).
    Source: learn.microsoft.com/graph/api/resources/extended-properties-overview
    ("id formats").
    """
    m = _EXT_ID_RE.match(prop_id)
    if m is None:
        return prop_id.strip()
    ptype = m.group("type").lower()
    if m.group("tag"):
        return f"{ptype} 0x{int(m.group('tag'), 16):04x}"
    name = m.group("name")
    if m.group("kind") == "Id":
        name = f"0x{int(name, 16):04x}" if name.lower().startswith("0x") else name
    return f"{ptype} {m.group('guid').lower()} {m.group('kind')} {name}"


@functools.lru_cache(maxsize=4096)
def is_ext_id(text: str) -> bool:
    return _EXT_ID_RE.match(text) is not None


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Literal:
    def __init__(self, value: Any) -> None:
        self.value = value


def _get_path(item: Any, env: Env, segments: list[str]) -> Any:
    first = segments[0]
    if first in env:
        cur = env[first]
        rest = segments[1:]
    else:
        cur = item
        rest = segments
    for seg in rest:
        if not isinstance(cur, Mapping):
            return None
        if seg in cur:
            cur = cur[seg]
            continue
        lowered = seg.lower()
        cur = next((v for k, v in cur.items() if k.lower() == lowered), None)
    return cur


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        try:
            left = parse_datetime(left) if isinstance(left, str) else left
            right = parse_datetime(right) if isinstance(right, str) else right
        except ValueError:
            return False
    elif isinstance(left, str) and isinstance(right, str):
        if is_ext_id(left) and is_ext_id(right):
            left, right = canonical_ext_id(left), canonical_ext_id(right)
        else:
            left, right = left.lower(), right.lower()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def _or(a: Node, b: Node) -> Node:
    return lambda it, env: bool(a(it, env)) or bool(b(it, env))


def _and(a: Node, b: Node) -> Node:
    return lambda it, env: bool(a(it, env)) and bool(b(it, env))


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ODataError("Invalid filter clause: unexpected end of expression.")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ODataError(f"Invalid filter clause: expected '{text}' but found '{tok.text}'.")

    def is_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "ident" and tok.text.lower() == word

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ODataError(f"Invalid filter clause: unexpected '{self.take().text}'.")
        return node

    def expr(self) -> Node:
        node = self.conj()
        while self.is_word("or"):
            self.take()
            node = _or(node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.is_word("and"):
            self.take()
            node = _and(node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_word("not"):
            self.take()
            inner = self.unary()
            return lambda it, env: not inner(it, env)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        if (
            tok is not None
            and tok.kind == "ident"
            and tok.text.lower() in {"contains", "startswith", "endswith"}
            and (nxt := self.peek(1)) is not None
            and nxt.text == "("
        ):
            return self.func()
        left = self.operand()
        op_tok = self.peek()
        if op_tok is not None and op_tok.kind == "ident" and op_tok.text.lower() in _CMP_OPS:
            op = self.take().text.lower()
            right = self.operand()
            return lambda it, env: _compare(op, self._value(left, it, env), self._value(right, it, env))
        return lambda it, env: bool(self._value(left, it, env))

    def func(self) -> Node:
        name = self.take().text.lower()
        self.expect("(")
        a = self.operand()
        self.expect(",")
        b = self.operand()
        self.expect(")")

        def run(it: Any, env: Env) -> bool:
            hay, needle = self._value(a, it, env), self._value(b, it, env)
            if not isinstance(hay, str) or not isinstance(needle, str):
                return False
            hay, needle = hay.lower(), needle.lower()
            if name == "contains":
                return needle in hay
            if name == "startswith":
                return hay.startswith(needle)
            return hay.endswith(needle)

        return run

    @staticmethod
    def _value(operand: Any, item: Any, env: Env) -> Any:
        if isinstance(operand, _Literal):
            return operand.value
        return operand(item, env)

    def operand(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return _Literal(tok.text[1:-1].replace("''", "'"))
        if tok.kind == "dt":
            try:
                return _Literal(parse_datetime(tok.text))
            except ValueError as exc:
                raise ODataError(f"Invalid filter clause: bad date '{tok.text}'.") from exc
        if tok.kind == "num":
            return _Literal(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind != "ident":
            raise ODataError(f"Invalid filter clause: unexpected '{tok.text}'.")
        low = tok.text.lower()
        if low in {"true", "false"}:
            return _Literal(low == "true")
        if low == "null":
            return _Literal(None)
        segments = [tok.text]
        while (nxt := self.peek()) is not None and nxt.text == "/":
            self.take()
            seg = self.take()
            if seg.kind != "ident":
                raise ODataError(f"Invalid filter clause: bad path segment '{seg.text}'.")
            if seg.text.lower() in {"any", "all"} and (p := self.peek()) is not None and p.text == "(":
                return self.lambda_(segments, seg.text.lower())
            segments.append(seg.text)
        path = list(segments)
        return lambda it, env: _get_path(it, env, path)

    def lambda_(self, coll_path: list[str], quantifier: str) -> Node:
        self.expect("(")
        var = self.take()
        if var.kind != "ident":
            raise ODataError("Invalid filter clause: lambda variable expected.")
        self.expect(":")
        body = self.expr()
        self.expect(")")
        name = var.text

        def run(it: Any, env: Env) -> bool:
            coll = _get_path(it, env, coll_path) or []
            if not isinstance(coll, list):
                return False
            results = (bool(body(it, {**env, name: element})) for element in coll)
            return any(results) if quantifier == "any" else all(results)

        return run


def compile_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile ``$filter`` text into a predicate over a message's full JSON view."""
    node = _Parser(text).parse()
    return lambda item: bool(node(item, {}))


def filter_properties(text: str) -> list[str]:
    """The message properties a ``$filter`` names, first path segment, in order of first appearance."""
    try:
        toks = _tokenize(text)
    except ODataError:
        return []
    reserved = _CMP_OPS | {"and", "or", "not", "true", "false", "null", "any", "all"}
    lambda_vars = {toks[i - 1].text for i in range(1, len(toks)) if toks[i].text == ":"}
    out: list[str] = []
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text.lower() in reserved or tok.text in lambda_vars:
            continue
        if i > 0 and toks[i - 1].text == "/":
            continue
        if i + 1 < len(toks) and toks[i + 1].text == "(":
            continue  # a function name
        if tok.text not in out:
            out.append(tok.text)
    return out


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes (``$expand=a($filter=x eq 'a,b'),b``)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    cur: list[str] = []
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


@dataclass(frozen=True)
class Expand:
    name: str
    options: dict[str, str]


def parse_expand(text: str) -> list[Expand]:
    """``$expand`` items; a navigation of a derived type is spelled with its cast
    (``microsoft.graph.eventMessage/event``, api-reference/v1.0/api/eventmessage-get.md example 2)."""
    out: list[Expand] = []
    for part in split_top_level(text):
        m = re.match(r"^([\w.]+(?:/[\w.]+)?)\s*(?:\((.*)\))?$", part, re.DOTALL)
        if m is None:
            raise ODataError(f"Invalid $expand clause '{part}'.")
        options: dict[str, str] = {}
        for opt in split_top_level(m.group(2) or "", ";"):
            key, _, value = opt.partition("=")
            options[key.strip().lower()] = value.strip()
        out.append(Expand(m.group(1), options))
    return out


def parse_select(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


@dataclass(frozen=True)
class Prefer:
    """The ``Prefer`` header preferences Graph honours for Outlook resources.

    ``IdType="ImmutableId"`` (learn.microsoft.com/graph/outlook-immutable-id), ``odata.maxpagesize=N``
    (learn.microsoft.com/graph/delta-query-messages) and ``outlook.body-content-type="text"``
    (learn.microsoft.com/graph/api/message-get, "Prefer: outlook.body-content-type").
    """

    immutable_ids: bool = False
    max_page_size: int | None = None
    body_text: bool = False

    @classmethod
    def parse(cls, values: list[str]) -> Prefer:
        immutable = False
        page: int | None = None
        body_text = False
        for header in values:
            for pref in split_top_level(header):
                key, _, value = pref.partition("=")
                key, value = key.strip().lower(), value.strip().strip('"').lower()
                if key == "idtype":
                    immutable = value == "immutableid"
                elif key == "odata.maxpagesize" and value.isdigit():
                    page = int(value)
                elif key == "outlook.body-content-type":
                    body_text = value == "text"
        return cls(immutable, page, body_text)
