"""The static check for rule regexes that can backtrack catastrophically (graph_dpg/domain/regex_risk.py).

Source of the shapes: OWASP, "Regular expression Denial of Service - ReDoS" (evil regexes: a repetition
of a group that itself repeats, or of overlapping alternatives: (a+)+, ([a-zA-Z]+)*, (a|aa)+, (a|a?)+,
(.*a){x} for x > 10), and the star-height heuristic of the safe-regex tool."""

from __future__ import annotations

import pytest
import regex

from graph_dpg.domain.regex_risk import backtracking_risk, quote
from graph_dpg.domain.rules import compile_pattern

CATASTROPHIC = [
    r"(a+)+",
    r"(a*)*",
    r"(.*)*",
    r"(a|aa)*",
    r"(a|aa)+",
    r"(a|a)*",
    r"(a|a?)+",
    r"([a-zA-Z]+)*",
    r"(\w+\s?)+$",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"(x+x+)+y",
    r"(\d+)*$",
    r"(.*a){12}",
    r"(a{1,3})+",
    r"^(a+)+$",
    r"(aa?)*b",
    r"^((ab)*)+$",
    r"(a+|b)+",
    r"(.*,)*x",
    r"^faktura(?:\s*nr\.?\s*\d+\s*)+$",
]

FINE = [
    r"^27\.",
    r"faktura",
    r"^\d{6}-?\d{4}$",
    r"(foo|bar)+",
    r"[a-z]+@[a-z]+\.dk",
    r"(\d{1,3}\.){3}\d{1,3}",
    r"(ab?)*",
    r"^Re: .*",
    r".*faktura.*",
    r"(a|b)*c",
    r"^(?:SV|RE|VS):\s*",
    r"\b(jobcenter|ydelse)\b",
    r"(\d+,)*\d+",  # the comma separates the repetitions: one way to split
    r"[^@]+@kommune\.dk$",
    r"(?:[a-z]+\.)+[a-z]+@",
    r"(\w|\d)+",  # single characters: the parser makes it the class [\w\d]
    r"(?=.*x)(a|b)+",
    r"^Bilag \d+ af \d+$",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_pattern_is_flagged(pattern: str) -> None:
    why = backtracking_risk(pattern)
    assert why is not None and "repetition" in why


@pytest.mark.parametrize("pattern", FINE)
def test_fine_pattern_is_not_flagged(pattern: str) -> None:
    assert backtracking_risk(pattern) is None


def test_every_corpus_pattern_compiles_with_the_rules_engine() -> None:
    """The corpus is made of patterns a rule may hold (the regex package, V0, as rules.py compiles them)."""
    for pattern in CATASTROPHIC + FINE:
        assert isinstance(compile_pattern(pattern), regex.Pattern)


def test_the_message_names_both_repetitions() -> None:
    assert backtracking_risk("(a+)*") == (
        "a repetition (+) inside a repetition (*) can split the same text in exponentially many ways"
    )


def test_unparsable_or_huge_patterns_get_no_verdict() -> None:
    assert backtracking_risk("(?r)abc") is None  # regex-package-only flag: Python's parser refuses it
    assert backtracking_risk("a" * 20_000) is None


def test_quote_shortens_long_patterns() -> None:
    assert quote("(a+)+") == "'(a+)+'"
    assert len(quote("x" * 100)) == 42 and quote("x" * 100).endswith("…'")
