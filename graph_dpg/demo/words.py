"""The sandbox's check of the words in the mails the gateway wrote (issue 17, "Evidence"): in a Danish
mailbox no English catalogue sentence, and no raw finding code or raw NgDP status outside the one support
line a mail may carry for IT.

What is checked is the gateway's own text: a receipt or an alert whole; of delivered post and opened secure
mail only the parts the gateway writes (its banners, the overview, "why the letter is here": the elements
whose class starts with ``dpg-``), not the letter or mail a sender wrote. Alerts go to IT (the monitoring
mailbox): they may name codes and configuration, so only the language is checked there.

The check knows the words from the message catalogue (:mod:`graph_dpg.domain.texts`): an English sentence
is a run of an English template's literal text that the Danish template does not share; a finding code is a
dotted rule with a catalogue sentence (``finding.<rule>``); a support line starts like one of the catalogue's
support lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from string import Formatter
from typing import Any

from graph_dpg.domain.texts import CATALOGUE, Text

#: The statuses NgDP answers with (business receipts, inbound receipts, error codes): shown raw they tell a
#: case worker nothing; the receipt says what they mean.
NGDP_STATUSES = ("NOT_ALLOWED", "INVALID_MEMO", "INVALID", "COMPLETED", "REJECTED", "FAILED", "ACCEPTED")
_STATUS = re.compile(r"(?<![\w-])(" + "|".join(NGDP_STATUSES) + r")(?![\w-])")
#: The shortest literal run of an English template taken as a sentence (shorter runs are names, units).
_MIN_RUN = 24
_SUPPORT_KEYS = (
    Text.INB_SUPPORT,
    Text.RECEIPT_SUPPORT_LINE,
    Text.RECEIPT_SUPPORT_REFERENCE,
    Text.SMIME_FAILED_SUPPORT,
)
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"})
_BLOCK = frozenset({"p", "li", "tr", "td", "th", "caption", "div", "h1", "h2", "h3", "h4", "table", "ul"})


@dataclass(frozen=True)
class WordProblem:
    mail: str  # the exported name's stem, or mailbox + subject
    what: str  # english | code | status
    found: str  # the words found
    line: str  # the line they stand in (shortened)

    def to_json(self) -> dict[str, str]:
        return {"mail": self.mail, "what": self.what, "found": self.found, "line": self.line[:200]}


def _literal_runs(template: str) -> list[str]:
    return [lit for lit, _, _, _ in Formatter().parse(template) if lit]


@cache
def english_sentences() -> tuple[str, ...]:
    """Runs of English catalogue text a Danish mail must never show."""
    runs: set[str] = set()
    for key, entry in CATALOGUE.items():
        if key.name.endswith("_HTML") or entry.en == entry.da:
            continue
        danish = entry.da
        for run in _literal_runs(entry.en):
            run = run.strip(" .,:;()'\"")
            if len(run) >= _MIN_RUN and " " in run and run not in danish:
                runs.add(run)
    return tuple(sorted(runs, key=len, reverse=True))


@cache
def _finding_codes() -> re.Pattern[str]:
    # Dotted codes only (cpr.date, policy.count): the few plain ones (error, warning, memo) are words too.
    rules = (k.value.removeprefix("finding.") for k in Text if k.value.startswith("finding."))
    codes = sorted((r for r in rules if "." in r), key=len)
    alternatives = "|".join(re.escape(c) for c in reversed(codes))
    return re.compile(r"(?<![\w.@/-])(" + alternatives + r")(?![\w@/-]|\.\w)")


@cache
def support_prefixes() -> tuple[str, ...]:
    """How a support line begins, in either language (the text before the first placeholder)."""
    out: set[str] = set()
    for key in _SUPPORT_KEYS:
        entry = CATALOGUE[key]
        for template in (entry.da, entry.en):
            out.add(_literal_runs(template)[0])
    return tuple(out)


class _Gateway(HTMLParser):
    """Lines of text; with ``only_marked``, only those inside elements whose class starts with ``dpg-``."""

    def __init__(self, only_marked: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.only_marked = only_marked
        self.depth = 0
        self.marked_at: int | None = None
        self.lines: list[str] = []
        self._line: list[str] = []

    def _break(self) -> None:
        line = " ".join("".join(self._line).split())
        if line:
            self.lines.append(line)
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._break()
        if tag in _VOID:
            return
        self.depth += 1
        classes = (dict(attrs).get("class") or "").split()
        if self.marked_at is None and any(c.startswith("dpg-") for c in classes):
            self.marked_at = self.depth

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self._break()
        if tag in _VOID:
            return
        if self.marked_at is not None and self.depth == self.marked_at:
            self.marked_at = None
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.only_marked or self.marked_at is not None:
            self._line.append(data)


def gateway_lines(body_html: str, *, whole: bool) -> list[str]:
    """The gateway's lines of a mail body: all of it (``whole``: a receipt, an alert) or its marked parts
    (delivered post, opened secure mail: banners, overview, why the letter is here)."""
    parser = _Gateway(only_marked=not whole)
    parser.feed(body_html)
    parser.close()
    parser._break()
    return parser.lines


def check_lines(mail: str, lines: Iterable[str], *, codes: bool = True) -> list[WordProblem]:
    """The problems of a Danish mail's ``lines``: English catalogue text anywhere, and (``codes``) raw
    finding codes or NgDP statuses outside its support line."""
    problems: list[WordProblem] = []
    english = english_sentences()
    prefixes = support_prefixes()
    for line in lines:
        for run in english:
            if run in line:
                problems.append(WordProblem(mail, "english", run, line))
                break
        if not codes or line.startswith(prefixes):
            continue
        for match in _finding_codes().finditer(line):
            problems.append(WordProblem(mail, "code", match.group(1), line))
        for match in _STATUS.finditer(line):
            problems.append(WordProblem(mail, "status", match.group(1), line))
    return problems


def check_mail(name: str, message: Mapping[str, Any], *, alert: bool) -> list[WordProblem]:
    """The problems of one mail the gateway wrote in a Danish mailbox (Graph JSON with its body)."""
    body = message.get("body") or {}
    content = str(body.get("content") or "")
    html_body = str(body.get("contentType", "html")).lower() == "html"
    whole = alert or not html_body or "dpg-" not in content
    if not html_body:
        lines = [" ".join(x.split()) for x in content.splitlines() if x.strip()]
    else:
        lines = gateway_lines(content, whole=whole)
    # The subject of delivered post or secure mail is its sender's (the MeMo label, the mail's subject).
    subject = [str(message.get("subject") or "")] if whole else []
    return check_lines(name, [*subject, *lines], codes=not alert)


def check_mails(mails: Iterable[tuple[str, Mapping[str, Any], bool]], language: str) -> dict[str, Any]:
    """The report's ``words`` entry for (name, Graph message, is an alert) of every mail the gateway wrote:
    ``checked`` (how many), ``problems`` (each: mail, what, found, line) and ``passed``. Only a Danish
    gateway is checked (``language``: the mailboxes' language)."""
    if language == "en":
        return {"language": language, "checked": 0, "problems": [], "passed": True}
    checked = 0
    problems: list[WordProblem] = []
    for name, message, alert in mails:
        checked += 1
        problems += check_mail(name, message, alert=alert)
    return {
        "language": language,
        "checked": checked,
        "problems": [p.to_json() for p in problems],
        "passed": not problems,
    }


def describe(words: Mapping[str, Any]) -> str:
    """One line for the summary."""
    if words["passed"]:
        return (
            f"Words: {words['checked']} mail(s) the gateway wrote checked: no English sentence, raw finding "
            "code or raw NgDP status outside the support line."
        )
    shown = "; ".join(f"{p['mail']}: {p['what']} {p['found']!r}" for p in words["problems"][:5])
    more = len(words["problems"]) - 5
    return f"Words: {len(words['problems'])} problem(s) in Danish mails: {shown}" + (
        f" (+{more} more)" if more > 0 else ""
    )
