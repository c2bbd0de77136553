"""A static check for rule regexes that can backtrack catastrophically (ReDoS); pure, no matching.

The rules engine already bounds every match in time (``rules.DEFAULT_RULE_TIMEOUT_SECONDS``, the ``regex``
package's ``timeout=``), and a rule that runs out of time is disabled and alerted. This check lets
``check-config`` warn *before* that happens, naming the rule.

What is flagged (the classic shapes, as in OWASP's "Regular expression Denial of Service - ReDoS" page and
the star-height heuristic of the safe-regex tool; a heuristic, so it can miss a slow pattern or flag a
harmless one - it only warns):

* a repetition inside a repetition where one of the two is unbounded and the other can repeat more than
  once: ``(a+)+``, ``(a*)*``, ``(.*)*``, ``(\\w+\\s?)+``, ``(.*a){12}``, ``(a{1,3})+``;
* inside an unbounded repetition, alternatives that can start with the same character, or an alternative /
  optional part that can match nothing while overlapping what starts the repetition: ``(a|aa)*``,
  ``(a|a)*``, ``(\\w|\\d)+``, ``(a a?)*``.

The pattern is parsed with Python's own regular-expression parser (``re._parser``, CPython 3.11+), whose
syntax the ``regex`` package's V0 mode shares; a pattern it cannot parse gets no verdict (``None``).
First characters are compared on a sample alphabet (ASCII and the Danish letters), which is enough to tell
``a`` from ``b`` and ``\\w`` from ``,``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

# The stdlib's own parser and opcode names (no type stubs: typeshed leaves the private modules out).
sre: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

MAXREPEAT = C.MAXREPEAT
# ASCII plus the Danish letters and é (as code points: a Danish letter in a string literal means a sentence
# written outside the catalogue, tests/unit/domain/test_texts.py).
_DANISH = (0xE6, 0xF8, 0xE5, 0xC6, 0xD8, 0xC5, 0xE9)
_ALPHABET = frozenset(chr(c) for c in range(128)) | frozenset(map(chr, _DANISH))
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)

#: How many characters of the pattern a warning quotes.
QUOTE = 40


def backtracking_risk(pattern: str) -> str | None:
    """Why ``pattern`` can backtrack catastrophically (one short English sentence for IT), or None."""
    if len(pattern) > 10_000:
        return None  # the gateway file's bounds keep values far smaller; no verdict on a monster
    try:
        parsed = sre.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _walk(list(parsed), outer=None)


def _walk(items: Iterable[Any], outer: tuple[int, int] | None) -> str | None:
    """``outer``: (min, max) of an enclosing repetition that can repeat more than once and whose body holds
    ``items`` somewhere not judged by :func:`_nested` (an alternative, for instance): judged strictly."""
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if high > 1 and outer is not None and _pair(outer, (low, high)):
                return _nested_message(outer, (low, high))
            found = _repetition(low, high, list(body))
            if found is not None:
                return found
        elif op == C.SUBPATTERN:
            found = _walk(av[-1], outer)
            if found is not None:
                return found
        elif op == C.BRANCH:
            for alternative in av[1]:
                found = _walk(alternative, outer)
                if found is not None:
                    return found
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found = _walk(av[1], None)
            if found is not None:
                return found
    return None


def _repetition(low: int, high: int, body: list[Any]) -> str | None:
    if high == MAXREPEAT:
        ambiguous = _ambiguous_in(body)
        if ambiguous is not None:
            return ambiguous
    flat = _flat(body)
    start = _first(body)
    for k, (op, av) in enumerate(flat):
        if op in _REPEATS:
            if high > 1 and av[1] > 1 and _pair((low, high), (av[0], av[1])):
                # Ambiguous only when what the inner repetition eats can also be eaten by what follows it
                # (the rest of this iteration, or the next iteration): (\d+,)* is safe, (\w+\s?)+ is not.
                rest = flat[k + 1 :]
                follow = _first(rest) | (start if _can_be_empty(rest) else frozenset())
                if _first(list(av[2])) & follow:
                    return _nested_message((low, high), (av[0], av[1]))
            found = _walk([(op, av)], None)
        elif op == C.BRANCH:
            found = _walk([(op, av)], (low, high) if high > 1 else None)
        else:
            found = _walk([(op, av)], None)
        if found is not None:
            return found
    return None


def _pair(outer: tuple[int, int], inner: tuple[int, int]) -> bool:
    return inner[1] > 1 and (outer[1] == MAXREPEAT or inner[1] == MAXREPEAT)


def _nested_message(outer: tuple[int, int], inner: tuple[int, int]) -> str:
    return (
        f"a repetition ({_shown(*inner)}) inside a repetition ({_shown(*outer)}) "
        "can split the same text in exponentially many ways"
    )


def _ambiguous_in(body: list[Any]) -> str | None:
    """Inside an unbounded repetition: overlapping alternatives, or an optional part overlapping the start
    of the repeated text (both give the engine many ways to split one input)."""
    start = _first(body)
    for op, av in _flat(body):
        if op == C.BRANCH:
            alternatives = [list(a) for a in av[1]]
            firsts = [_first(a) for a in alternatives]
            for i in range(len(alternatives)):
                for j in range(i + 1, len(alternatives)):
                    if firsts[i] & firsts[j] or alternatives[i] == alternatives[j]:
                        return "alternatives inside a repetition can match the same text"
                if _can_be_empty(alternatives[i]) and _overlaps_rest(alternatives, i, start):
                    return (
                        "an optional alternative inside a repetition overlaps the start of the repeated text"
                    )
        elif op in _REPEATS and av[1] == 1 and _first(list(av[2])) & start:
            return "an optional part inside a repetition overlaps the start of the repeated text"
    return None


def _overlaps_rest(alternatives: list[list[Any]], empty: int, start: frozenset[str]) -> bool:
    return any(_first(a) & start for k, a in enumerate(alternatives) if k != empty)


def _flat(items: list[Any]) -> list[Any]:
    """The items of a sequence with groups opened (not repetitions: those are judged on their own)."""
    out: list[Any] = []
    for op, av in items:
        if op == C.SUBPATTERN:
            out += _flat(list(av[-1]))
        else:
            out.append((op, av))
    return out


def _first(items: list[Any]) -> frozenset[str]:
    """The characters (of the sample alphabet) a match of the sequence can start with."""
    chars: frozenset[str] = frozenset()
    for op, av in items:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if op == C.SUBPATTERN:
            inner = list(av[-1])
            chars |= _first(inner)
            if _can_be_empty(inner):
                continue
            return chars
        if op in _REPEATS:
            chars |= _first(list(av[2]))
            if av[0] == 0 or _can_be_empty(list(av[2])):
                continue
            return chars
        if op == C.BRANCH:
            alternatives = [list(a) for a in av[1]]
            for alternative in alternatives:
                chars |= _first(alternative)
            if any(_can_be_empty(a) for a in alternatives):
                continue
            return chars
        return chars | _single(op, av)
    return chars


def _single(op: Any, av: Any) -> frozenset[str]:
    if op == C.LITERAL:
        return frozenset({chr(av)})
    if op == C.NOT_LITERAL:
        return _ALPHABET - {chr(av)}
    if op == C.ANY:
        return _ALPHABET - {"\n"}
    if op == C.IN:
        return _in(av)
    return _ALPHABET  # a back-reference or anything else: assume the worst


def _in(items: list[Any]) -> frozenset[str]:
    negate = False
    chars: set[str] = set()
    for op, av in items:
        if op == C.NEGATE:
            negate = True
        elif op == C.LITERAL:
            chars.add(chr(av))
        elif op == C.RANGE:
            chars |= {c for c in _ALPHABET if av[0] <= ord(c) <= av[1]}
        elif op == C.CATEGORY:
            chars |= {c for c in _ALPHABET if _CATEGORIES.get(av, lambda _c: True)(c)}
        else:
            chars |= _ALPHABET
    return frozenset(_ALPHABET - chars if negate else chars)


_CATEGORIES: dict[Any, Any] = {
    C.CATEGORY_DIGIT: str.isdigit,
    C.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    C.CATEGORY_SPACE: str.isspace,
    C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _can_be_empty(items: list[Any]) -> bool:
    for op, av in items:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if op == C.SUBPATTERN:
            if not _can_be_empty(list(av[-1])):
                return False
        elif op in _REPEATS:
            if av[0] > 0 and not _can_be_empty(list(av[2])):
                return False
        elif op == C.BRANCH:
            if not any(_can_be_empty(list(a)) for a in av[1]):
                return False
        else:
            return False
    return True


def _shown(low: int, high: int) -> str:
    if high == MAXREPEAT:
        return "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
    return f"{{{low},{high}}}" if low != high else f"{{{low}}}"


def quote(pattern: str) -> str:
    """The pattern as a warning shows it (shortened)."""
    return repr(pattern if len(pattern) <= QUOTE else pattern[: QUOTE - 1] + "…")
