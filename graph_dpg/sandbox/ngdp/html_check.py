"""The emulator's ``POST validations/`` check of an HTML document (NgDP OpenAPI 1.68.0, ValidateAsync: "Runs
a validation on provided resource. Currently only text/html validation is supported. ErrorMessage object is
used as response entity and the code will state approved or rejected."; ``policy`` "can be STRICT or
LENIENT (default)").

What NgDP checks is not published ("Principper for dokumenter og HTML i Digital Post.pdf" could not be
read). Everything below is an inference, chosen so that what it refuses is what a viewing client must not
run or fetch:

* both policies: ``<script>``; ``on*`` event-handler attributes; ``javascript:``/``vbscript:`` URLs;
  active or embedding elements (``iframe``, ``frame``, ``frameset``, ``object``, ``embed``, ``applet``,
  ``form``, ``input``, ``button``, ``select``, ``textarea``, ``base``); ``<meta http-equiv="refresh">``;
* STRICT also: anything the viewer would fetch from elsewhere - ``src``/``srcset``/``background``/
  ``poster`` or a stylesheet ``<link>`` that is not a ``data:`` or ``cid:`` URL, and ``url(...)`` or
  ``@import`` of a remote resource in ``<style>`` or a ``style`` attribute. Links the reader clicks
  (``<a href="https://...">``) are allowed;
* a document that is not UTF-8 is refused (the gateway always sends UTF-8).

Written on the standard library's HTML tokenizer; it does not use the gateway's sanitizer (an emulator
never validates with the gateway's own code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_ACTIVE = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "form",
        "input",
        "button",
        "select",
        "textarea",
        "base",
    }
)
_FETCHING_ATTRS = frozenset({"src", "srcset", "background", "poster", "data", "lowsrc", "dynsrc"})
_SCRIPT_URL = re.compile(r"^\s*(?:java|vb)script\s*:", re.IGNORECASE)
_LOCAL_URL = re.compile(r"^\s*(?:data|cid)\s*:", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"""(?:url\(\s*['"]?\s*(?!data:|cid:)[^)'"\s]|@import)""", re.IGNORECASE)


@dataclass(frozen=True)
class HtmlProblem:
    code: str
    field: str
    message: str
    rejected: str


class _Checker(HTMLParser):
    def __init__(self, strict: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.strict = strict
        self.problems: list[HtmlProblem] = []
        self._in_style = False

    def _add(self, code: str, field: str, message: str, rejected: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(HtmlProblem(code, field, message, rejected[:200]))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ACTIVE:
            self._add("FORBIDDEN_ELEMENT", tag, f"<{tag}> is not allowed", f"<{tag}>")
        if tag == "style":
            self._in_style = True
        values = {name: value or "" for name, value in attrs}
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self._add("FORBIDDEN_ELEMENT", "meta", "<meta http-equiv=refresh> is not allowed", "refresh")
        for name, value in values.items():
            if name.startswith("on"):
                self._add("SCRIPT", f"{tag}@{name}", "event handler attributes are not allowed", name)
            elif _SCRIPT_URL.match(value):
                self._add("SCRIPT", f"{tag}@{name}", "script URLs are not allowed", value)
            elif self.strict and name in _FETCHING_ATTRS and value and not _LOCAL_URL.match(value):
                self._add("EXTERNAL_REFERENCE", f"{tag}@{name}", "external resources are not allowed", value)
            elif self.strict and name == "style" and _CSS_REMOTE.search(value):
                self._add("EXTERNAL_REFERENCE", f"{tag}@style", "external resources are not allowed", value)
        if (
            self.strict
            and tag == "link"
            and "stylesheet" in values.get("rel", "").lower()
            and not _LOCAL_URL.match(values.get("href", ""))
        ):
            href = values.get("href", "")
            self._add("EXTERNAL_REFERENCE", "link@href", "external stylesheets are not allowed", href)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and self.strict and _CSS_REMOTE.search(data):
            self._add("EXTERNAL_REFERENCE", "style", "external resources are not allowed", data.strip())


def check_html(html: bytes, policy: str) -> list[HtmlProblem]:
    """The problems NgDP's validator would report for ``html`` under ``policy`` (STRICT or LENIENT)."""
    try:
        text = html.decode("utf-8")
    except UnicodeDecodeError:
        return [HtmlProblem("ENCODING", "body", "the document is not UTF-8", "")]
    checker = _Checker(strict=policy.upper() == "STRICT")
    checker.feed(text)
    checker.close()
    return checker.problems
