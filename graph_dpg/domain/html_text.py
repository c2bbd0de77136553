"""Mail bodies → Digital Post documents: sanitised HTML and a plain-text alternative.

See docs/product.md, "Conversion".

Outlook HTML carries scripts only when hostile, but always carries things viewing clients must not run or
fetch: remote images (tracking), forms, styles with ``url(...)``, event handlers. The sanitiser keeps the
document's structure and formatting (headings, lists, tables, emphasis, links with http(s)/mailto) and
inline images (``cid:`` references, which the caller turns into ``data:`` URIs when it has the bytes), and
drops everything else. nh3 (Rust ammonia) does the sanitising: a well-kept sanitiser, not a regex.

Bounded work
------------
html5ever, the parser inside nh3, checks "is there a <p> (or <li>) open in scope?" by walking the stack of
open elements, so its time grows with the square of the nesting depth; it compares every attribute of a
tag with every other one; and its time grows with the square of the "&" and no-break spaces in one text
node or attribute value. Python's ``html.parser``, which ``html_to_text`` used, is quadratic on unclosed
comments.

So nh3 never sees the sender's markup. :func:`normalize_html` reads it first with a linear tokenizer (the
WHATWG tokenizer's states for tags, attributes, comments and raw text, with ``str.find`` and anchored
regular expressions, so no input makes it backtrack) and writes it again as a well-formed stream of
allow-listed tags only, with the first of each allow-listed attribute (values longer than 4,096
characters dropped, image data excepted), text broken into runs of at most 4,096 characters by empty
comments that nh3 removes, following the HTML tree-building rules that decide nesting (a block closes
an open ``<p>``, ``<li>`` closes an open ``<li>``, table parts close open cells and rows, formatting
closed by a block is reopened). Elements deeper than ``HTML_MAX_DEPTH`` (256) levels are flattened:
their tags are dropped and their text is kept. Input beyond ``HTML_MAX_CHARS`` (2,000,000) is cut there
(an error finding for the sender). Well-formed letters come out of nh3 exactly as before (a property
test and every HTML case of the corpus compare both); only broken or hostile markup can lose
formatting, never text.

Measured on the test machine (2 cores shared with other work), worst of three runs, before → after:
45,000 nested ``<div>`` (495 KB) 2.59 s → 0.13 s; 22,000 nested ``<ul><li>`` 2.49 s → 0.09 s; one tag
with 100,000 distinct attributes 2.19 s → 0.11 s; a 1 MB ``title`` of "& " 3.06 s → 0.0003 s;
400,000 "& " in text 2.58 s → 0.31 s; ``html_to_text`` on 50,000 unclosed ``<!--`` 15.9 s → 0.0004 s.
Everything is linear now; the slowest input found at the 2,000,000-character cap (400,000 table cells)
takes 1.7-2 s, about 1 µs per character.

The plain-text rendering (:func:`html_to_text`) uses the same tokenizer; it is for the MeMo alternative
``text/plain`` File and for rules that match on the body.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

import nh3

from graph_dpg.core.errors import Finding

HTML_MAX_DEPTH = 256
HTML_MAX_CHARS = 2_000_000

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "div", "dl", "dt",
    "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRS = {
    "*": {"align", "dir", "lang", "title"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width", "scope"},
    "table": {"border", "cellpadding", "cellspacing", "width"},
    "col": {"span", "width"},
    "font": {"color", "size", "face"},
    "ol": {"start", "type"},
}
_URL_SCHEMES = {"https", "http", "mailto", "data", "cid"}


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    # Only inline images survive: a remote src would let the sender (or anyone) track when a letter is read.
    if element == "img" and attribute == "src":
        lowered = value.strip().lower()
        if lowered.startswith(("data:image/", "cid:")):
            return value
        return None
    if element == "a" and attribute == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def sanitize_html(body: str) -> str:
    """Return safe HTML; removed content (scripts, remote images, handlers) is simply gone."""
    return sanitize_html_checked(body).html


@dataclass(frozen=True)
class SanitizedHtml:
    html: str
    #: What the bounds changed (see :func:`sanitize_html_checked`).
    findings: list[Finding]
    #: The Content-IDs the result shows as images (``<img src="cid:...">``), whether or not replaced.
    image_cids: frozenset[str]


def sanitize_html_checked(body: str, images: Mapping[str, str] | None = None) -> SanitizedHtml:
    """:func:`sanitize_html` plus what the bounds changed: a warning when markup nested deeper than
    ``HTML_MAX_DEPTH`` was flattened, an error when the body is longer than ``HTML_MAX_CHARS`` (only its
    beginning is in the result).

    ``images`` maps Content-IDs to ``data:`` URIs: an ``<img src="cid:...">`` naming one of them shows
    that image instead (Outlook references pasted images by Content-ID; a MeMo document has no MIME parts).
    """
    findings: list[Finding] = []
    if len(body) > HTML_MAX_CHARS:
        findings.append(
            Finding(
                "html.size",
                f"the mail body is {len(body):,} characters of HTML; at most {HTML_MAX_CHARS:,} can be "
                "converted. Send a long letter as a PDF attachment",
                "body",
            )
        )
        body = body[:HTML_MAX_CHARS]
    normalized = normalize_html(body, images=images)
    if normalized.flattened:
        findings.append(
            Finding(
                "html.depth",
                f"the mail body nests elements more than {HTML_MAX_DEPTH} levels deep; the formatting below "
                "that depth was removed (the text is kept)",
                "body",
                severity="warning",
            )
        )
    cleaned = nh3.clean(
        normalized.html,
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return SanitizedHtml(cleaned, findings, normalized.image_cids)


#: The typography of every mail the gateway writes itself (receipts, delivered post's overview and banners,
#: alerts): Outlook's own font, so the gateway's words do not show in the browser's default serif font.
MAIL_STYLE = "font-family:Segoe UI,Arial,sans-serif;font-size:10.5pt"


def wrap_document(fragment: str, title: str, language: str = "da") -> str:
    """A complete UTF-8 HTML document around a sanitised fragment."""
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{fragment}</body></html>"
    )


# --- tokenizer -----------------------------------------------------------------------------------------

_START, _END, _TEXT, _RAW = 0, 1, 2, 3
Token = tuple[int, str, list[tuple[str, str]], bool]

_MARKUP = re.compile(r"<[A-Za-z/!?]")
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
_SPACE_SLASH = re.compile(r"[\t\n\f\r /]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NO_ATTRS: list[tuple[str, str]] = []

#: Elements whose content is text up to their end tag (RAWTEXT: literal; RCDATA: character references
#: decoded). html5ever parses with scripting enabled, so <noscript> is RAWTEXT as well.
_RAWTEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript"})
_RCDATA = frozenset({"textarea", "title"})


@cache
def _raw_end(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}[\t\n\f\r />]", re.IGNORECASE | re.ASCII)


def _never() -> bool:
    return False


def _tokens(s: str, in_foreign: Callable[[], bool] = _never) -> Iterator[Token]:
    """HTML tokens in one pass: (kind, name or text, attributes, self-closing). ``_TEXT`` carries data
    with character references still encoded; ``_RAW`` carries literal text. ``in_foreign`` tells whether
    the consumer is inside SVG/MathML, where <style> and <script> are ordinary elements."""
    n = len(s)
    pos = 0
    while pos < n:
        m = _MARKUP.search(s, pos)
        if m is None:
            yield (_TEXT, s[pos:], _NO_ATTRS, False)
            return
        lt = m.start()
        if lt > pos:
            yield (_TEXT, s[pos:lt], _NO_ATTRS, False)
        second = s[lt + 1]
        if second == "/":
            third = s[lt + 2 : lt + 3]
            if third.isascii() and third.isalpha():
                tag = _read_tag(s, lt + 2)
                if tag is None:
                    return  # end of input inside a tag: the tag is dropped, as browsers do
                yield (_END, tag[0], _NO_ATTRS, False)
                pos = tag[3]
            elif third == ">":
                pos = lt + 3
            elif not third:
                yield (_TEXT, "</", _NO_ATTRS, False)
                return
            else:
                pos = _after(s, ">", lt + 2)  # bogus comment
        elif second == "!":
            if s.startswith("--", lt + 2):
                start = lt + 4
                if s.startswith(">", start):
                    pos = start + 1
                elif s.startswith("->", start):
                    pos = start + 2
                else:
                    end = _COMMENT_END.search(s, start)
                    pos = n if end is None else end.end()
            else:
                pos = _after(s, ">", lt + 2)  # doctype, CDATA in HTML content, bogus comment
        elif second == "?":
            pos = _after(s, ">", lt + 2)
        else:
            tag = _read_tag(s, lt + 1)
            if tag is None:
                return
            name, attrs, self_closing, pos = tag
            yield (_START, name, attrs, self_closing)
            if name == "plaintext":
                yield (_RAW, s[pos:], _NO_ATTRS, False)
                return
            if (name in _RAWTEXT or name in _RCDATA) and not in_foreign():
                stop = _script_end(s, pos) if name == "script" else _raw_end_at(s, name, pos)
                if stop > pos:
                    yield (_RAW if name in _RAWTEXT else _TEXT, s[pos:stop], _NO_ATTRS, False)
                pos = stop


def _raw_end_at(s: str, name: str, start: int) -> int:
    end_tag = _raw_end(name).search(s, start)
    return len(s) if end_tag is None else end_tag.start()


_SCRIPT_MARKS = re.compile(r"<!--|-->|</?script[\t\n\f\r />]", re.IGNORECASE | re.ASCII)


def _script_end(s: str, start: int) -> int:
    """Where a script's content ends: ``</script`` outside a ``<!--<script>`` ... ``</script>`` section
    (the tokenizer's script-data escape states)."""
    escaped = double = False
    for m in _SCRIPT_MARKS.finditer(s, start):
        mark = m.group()[:3].lower()
        if mark == "<!-":
            escaped = escaped or not double
        elif mark == "-->":
            escaped = double = False
        elif mark == "</s":
            if not double:
                return m.start()
            double = False
        elif escaped:  # "<script" inside <!--
            double = True
    return len(s)


def _after(s: str, char: str, start: int) -> int:
    end = s.find(char, start)
    return len(s) if end < 0 else end + 1


def _read_tag(s: str, start: int) -> tuple[str, list[tuple[str, str]], bool, int] | None:
    """Name, attributes, self-closing flag and the position after ``>``; None at end of input."""
    n = len(s)
    m = _TAG_NAME.match(s, start)
    assert m is not None  # "*" always matches
    name = m.group().translate(_ASCII_LOWER)
    pos = m.end()
    attrs: list[tuple[str, str]] = []
    while True:
        before = pos
        pos = _SPACE_SLASH.match(s, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            return None
        if s[pos] == ">":
            return name, attrs, pos > before and s[pos - 1] == "/", pos + 1
        m = _ATTR_NAME.match(s, pos)
        assert m is not None  # s[pos] is neither white space, "/" nor ">"
        attr = m.group().translate(_ASCII_LOWER)
        pos = m.end()
        eq = _EQUALS.match(s, pos)
        if eq is None:
            attrs.append((attr, ""))
            continue
        pos = eq.end()
        if pos >= n:
            return None
        quote = s[pos]
        if quote in "\"'":
            end = s.find(quote, pos + 1)
            if end < 0:
                return None
            attrs.append((attr, s[pos + 1 : end]))
            pos = end + 1
        else:
            value = _UNQUOTED.match(s, pos)
            assert value is not None
            attrs.append((attr, value.group()))
            pos = value.end()


# --- normaliser ----------------------------------------------------------------------------------------

_VOID = frozenset({"br", "col", "hr", "img"})
_VOID_DROPPED = frozenset(
    {"area", "base", "basefont", "bgsound", "embed", "input", "keygen", "link", "meta", "param", "source"}
    | {"track", "wbr", "frame"}
)
_IGNORED = frozenset({"html", "head", "body", "frameset"})
_DROPPED_WITH_CONTENT = frozenset({"script", "style"})
_SUBTREE_DROPPED = frozenset({"template", "svg", "math"})
_FOREIGN = frozenset({"svg", "math"})
# Elements inside SVG/MathML whose content is HTML again (no breakout there, still dropped with the SVG).
_INTEGRATION_POINTS = frozenset(
    {"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"}
)
# Start tags that leave SVG/MathML content (html5ever's "breakout" list).
_BREAKOUT = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta"}
    | {"nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table"}
    | {"tt", "u", "ul", "var"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_FORMATTING = frozenset({"a", "b", "code", "em", "font", "i", "s", "small", "strong", "u"})
# Start tags that close an open <p> first.
_CLOSES_P = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl"}
    | {"fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu", "nav", "ol", "p"}
    | {"search", "section", "summary", "ul", "pre", "listing", "form", "table", "hr", "xmp", "plaintext"}
    | _HEADINGS
)
_BLOCK_END = _CLOSES_P - {"p", "table", "hr", "xmp", "plaintext"} | {"button", "applet", "marquee", "object"}
_TABLE_PARTS = frozenset({"caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th"})
_SECTIONS = frozenset({"tbody", "thead", "tfoot"})
_MARKER_ELEMENTS = frozenset({"td", "th", "caption", "applet", "object", "marquee"})
_SPECIAL = frozenset(
    {"address", "applet", "blockquote", "button", "caption", "center", "colgroup", "dd", "details"}
    | {"dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header"}
    | {"hgroup", "iframe", "li", "listing", "main", "marquee", "menu", "nav", "noembed", "noframes"}
    | {"noscript", "object", "ol", "p", "plaintext", "pre", "search", "section", "select", "summary"}
    | {"table", "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "ul", "xmp"}
    | _HEADINGS
)
_SCOPE = frozenset({"applet", "caption", "table", "td", "th", "marquee", "object"})
_CATEGORIES: dict[str, frozenset[str]] = {
    "scope": _SCOPE,
    "list": _SCOPE | {"ol", "ul"},
    "button": _SCOPE | {"button"},
    "special": _SPECIAL,
    "li_stop": _SPECIAL - {"address", "div", "p", "li"},
    "dd_stop": _SPECIAL - {"address", "div", "p", "dd", "dt"},
    "marker": _MARKER_ELEMENTS,
    "table_context": frozenset({"table", "caption", "colgroup", "tr", "td", "th"}) | _SECTIONS,
    "heading": _HEADINGS,
}
_CATEGORIES_OF: dict[str, tuple[str, ...]] = {}
for _category, _names in _CATEGORIES.items():
    for _name in _names:
        _CATEGORIES_OF[_name] = (*_CATEGORIES_OF.get(_name, ()), _category)

#: Open elements that are not written out (disallowed tags, or beyond the depth) but still shape the tree.
_MAX_HIDDEN = 1024
#: Formatting elements remembered after the last marker (html5ever reopens them after a block closed them).
_MAX_FORMATTING = 16
#: Elements above a misnested formatting element that are closed and reopened (html5ever's limit is 8).
_MAX_REOPENED = 8
_WHITESPACE = frozenset("\t\n\f\r ")
#: Longest run of text written without a break: nh3's time grows with the square of the number of "&" and
#: no-break spaces in one text node (400,000 "& " took 4 s). An empty comment between two runs splits
#: the text node and is removed by nh3 (strip_comments), so the output is the same.
_TEXT_RUN = 4096


@dataclass(frozen=True)
class Normalized:
    html: str
    #: True when elements beyond ``HTML_MAX_DEPTH`` were flattened.
    flattened: bool
    #: Content-IDs of the ``<img src="cid:...">`` written out.
    image_cids: frozenset[str] = frozenset()


class _Formatting:
    __slots__ = ("attrs", "entry", "name")

    def __init__(self, name: str, attrs: str) -> None:
        self.name = name
        self.attrs = attrs
        self.entry: _Entry | None = None  # the open element, None once it was closed


class _Entry:
    __slots__ = ("attrs", "formatting", "index", "marker", "name", "shown")

    def __init__(self, name: str, attrs: str, shown: bool, index: int) -> None:
        self.name = name
        self.attrs = attrs
        self.shown = shown
        self.index = index  # position in the stack while open
        self.formatting: _Formatting | None = None
        self.marker = False


_MARKER = _Formatting("", "")


class _Normalizer:
    """Builds the tree in one pass and writes it out well-formed. Every check that html5ever does by
    walking its stack is answered here from per-name and per-category index stacks, in constant time."""

    def __init__(self, max_depth: int, images: Mapping[str, str]) -> None:
        self.max_depth = max_depth
        self.images = images
        self.cids: set[str] = set()
        self.out: list[str] = []
        self.stack: list[_Entry] = []
        self.where: dict[str, list[int]] = {}
        self.marks: dict[str, list[int]] = {c: [] for c in _CATEGORIES}
        self.shown_depth = 0
        self.hidden = 0
        self.flattened = False
        self.active: list[_Formatting] = []
        self.drop: list[str] = []  # open template/svg/math elements whose content is dropped
        self.skip_raw = False
        self.run = 0  # characters of text written since the last tag or break

    # -- stack ------------------------------------------------------------------------------------------

    def _last(self, indices: list[int] | None) -> int:
        return indices[-1] if indices else -1

    def last(self, name: str) -> int:
        return self._last(self.where.get(name))

    def in_scope(self, index: int, category: str) -> bool:
        """Whether the element at ``index`` is open with no boundary of ``category`` above it (it may be
        one itself)."""
        return index >= 0 and index >= self._last(self.marks[category])

    def push(self, name: str, attrs: str = "", *, allowed: bool = True) -> _Entry | None:
        shown = allowed and self.shown_depth < self.max_depth
        if allowed and not shown:
            self.flattened = True
        if not shown and self.hidden >= _MAX_HIDDEN:
            return None
        index = len(self.stack)
        entry = _Entry(name, attrs, shown, index)
        self.stack.append(entry)
        self.where.setdefault(name, []).append(index)
        for category in _CATEGORIES_OF.get(name, ()):
            self.marks[category].append(index)
        if shown:
            self.shown_depth += 1
            self.out.append(f"<{name}{attrs}>")
            self.run = 0
        else:
            self.hidden += 1
        if name in _MARKER_ELEMENTS:
            entry.marker = True
            self.active.append(_MARKER)
        return entry

    def pop(self) -> _Entry:
        entry = self.stack.pop()
        self.where[entry.name].pop()
        for category in _CATEGORIES_OF.get(entry.name, ()):
            self.marks[category].pop()
        if entry.shown:
            self.shown_depth -= 1
            self.out.append(f"</{entry.name}>")
            self.run = 0
        else:
            self.hidden -= 1
        if entry.formatting is not None:
            entry.formatting.entry = None
        if entry.marker:
            while self.active:
                if self.active.pop() is _MARKER:
                    break
        return entry

    def pop_through(self, index: int) -> None:
        while len(self.stack) > index:
            self.pop()

    def pop_above(self, index: int) -> None:
        while len(self.stack) > index + 1:
            self.pop()

    def close_p(self) -> None:
        index = self.last("p")
        if self.in_scope(index, "button"):
            self.pop_through(index)

    # -- active formatting elements ---------------------------------------------------------------------

    def after_marker(self) -> int:
        for i in range(len(self.active) - 1, -1, -1):
            if self.active[i] is _MARKER:
                return i + 1
        return 0

    def remember(self, entry: _Entry) -> None:
        start = self.after_marker()
        same = [f for f in self.active[start:] if f.name == entry.name and f.attrs == entry.attrs]
        if len(same) >= 3:
            self.active.remove(same[0])
        if len(self.active) - start >= _MAX_FORMATTING:
            del self.active[start]
        formatting = _Formatting(entry.name, entry.attrs)
        formatting.entry = entry
        entry.formatting = formatting
        self.active.append(formatting)

    def reconstruct(self) -> None:
        active = self.active
        if not active or active[-1] is _MARKER or active[-1].entry is not None:
            return
        first = len(active) - 1
        while first > 0 and active[first - 1] is not _MARKER and active[first - 1].entry is None:
            first -= 1
        for formatting in active[first:]:
            entry = self.push(formatting.name, formatting.attrs)
            if entry is None:
                return
            formatting.entry = entry
            entry.formatting = formatting

    def forget(self, formatting: _Formatting) -> None:
        active = self.active
        for i in range(len(active) - 1, -1, -1):
            if active[i] is formatting:
                del active[i]
                return
            if active[i] is _MARKER:
                return

    def end_formatting(self, name: str) -> None:
        """A simplified adoption agency: close the element and reopen what was opened inside it."""
        formatting = next((f for f in reversed(self.active[self.after_marker() :]) if f.name == name), None)
        if formatting is None:
            self.end_other(name)
            return
        entry = formatting.entry
        if entry is None:
            self.forget(formatting)
            return
        index = entry.index
        if not self.in_scope(index, "scope"):
            return
        above = self.stack[index + 1 :]
        if self._last(self.marks["special"]) < index:
            self.pop_through(index)
            self.forget(formatting)
            return
        if len(above) > _MAX_REOPENED:
            return
        self.pop_through(index)
        self.forget(formatting)
        for old in above:
            again = self.push(old.name, old.attrs, allowed=old.name in _TAGS)
            if again is not None and old.formatting is not None:
                again.formatting = old.formatting
                old.formatting.entry = again

    def end_other(self, name: str) -> None:
        """Any other end tag: close the element unless a special element (other than itself) is above it."""
        index = self.last(name)
        if index >= 0 and self._last(self.marks["special"]) <= index:
            self.pop_through(index)

    # -- tokens -----------------------------------------------------------------------------------------

    def text(self, data: str) -> None:
        if not data:
            return
        context = self._last(self.marks["table_context"])
        in_table = context >= 0 and self.stack[context].name not in ("td", "th", "caption")
        if not (in_table and all(c in _WHITESPACE for c in data)):
            self.reconstruct()
        if self.run + len(data) <= _TEXT_RUN:
            self.out.append(html.escape(data, quote=False))
            self.run += len(data)
            return
        first = _TEXT_RUN - self.run
        pieces = [data[:first], *(data[i : i + _TEXT_RUN] for i in range(first, len(data), _TEXT_RUN))]
        self.out.append("<!---->".join(html.escape(piece, quote=False) for piece in pieces))
        self.run = len(pieces[-1])

    def start(self, name: str, attrs: list[tuple[str, str]]) -> None:
        if name == "image":
            name = "img"
        if name == "img":
            self.image(attrs)
        elif name in _TAGS:
            self.start_allowed(name, _attributes(name, attrs))
        elif name in _DROPPED_WITH_CONTENT:
            self.skip_raw = True
        elif name in _SUBTREE_DROPPED:
            self.drop.append(name)
        elif name in _IGNORED or name in _VOID_DROPPED:
            return
        else:
            self.start_hidden(name)

    def image(self, attrs: list[tuple[str, str]]) -> None:
        src = next((value for attr, value in attrs if attr == "src"), None)
        cid = None
        if src is not None and src.strip()[:4].lower() == "cid:":
            cid = html.unescape(src.strip()[4:])
            data_uri = self.images.get(cid)
            if data_uri is not None:
                attrs = [(a, data_uri if a == "src" else v) for a, v in attrs]
        self.reconstruct()
        if self.void("img", _attributes("img", attrs)) and cid is not None:
            self.cids.add(cid)

    def start_hidden(self, name: str) -> None:
        if name in _CLOSES_P:
            self.close_p()
            if name == "xmp":
                self.reconstruct()
            if name in ("xmp", "plaintext"):
                return  # their text follows as one token, with no end tag to wait for
        elif name in _RAWTEXT or name in _RCDATA:
            return
        elif name == "button":
            index = self.last("button")
            if self.in_scope(index, "scope"):
                self.pop_through(index)
            self.reconstruct()
        else:
            self.reconstruct()
        self.push(name, allowed=False)

    def start_allowed(self, name: str, attrs: str) -> None:
        if name in _TABLE_PARTS:
            self.start_table_part(name, attrs)
        elif name == "table":
            context = self._last(self.marks["table_context"])
            if context >= 0 and self.stack[context].name not in ("td", "th", "caption"):
                self.pop_through(self.last("table"))  # a table directly in a table ends the first one
            self.close_p()
            self.push(name, attrs)
        elif name in _CLOSES_P:
            self.close_p()
            if name in _HEADINGS and self.stack and self.stack[-1].name in _HEADINGS:
                self.pop()
            if name == "hr":
                self.void(name, attrs)
            else:
                self.push(name, attrs)
        elif name == "li" or name in ("dd", "dt"):
            targets, stop = (("li",), "li_stop") if name == "li" else (("dd", "dt"), "dd_stop")
            index = max(self.last(t) for t in targets)
            if index > self._last(self.marks[stop]):
                self.pop_through(index)
            self.close_p()
            self.push(name, attrs)
        elif name in _VOID:
            self.reconstruct()
            self.void(name, attrs)
        elif name in _FORMATTING:
            if name == "a":
                # A link inside a link closes the first one.
                open_a = next((f for f in self.active[self.after_marker() :] if f.name == "a"), None)
                if open_a is not None:
                    self.end_formatting("a")
                    self.forget(open_a)
            self.reconstruct()
            entry = self.push(name, attrs)
            if entry is not None and entry.shown:
                self.remember(entry)
        else:
            self.reconstruct()
            self.push(name, attrs)

    def void(self, name: str, attrs: str) -> bool:
        if self.shown_depth < self.max_depth:
            self.out.append(f"<{name}{attrs}>")
            self.run = 0
            return True
        self.flattened = True
        return False

    def start_table_part(self, name: str, attrs: str) -> None:
        for _ in range(8):  # each round closes one level; a table has at most five
            context = self._last(self.marks["table_context"])
            if context < 0:
                return  # outside a table: html5ever ignores the tag too
            current = self.stack[context].name
            if current in ("td", "th", "caption"):
                self.pop_through(context)
            elif current == "colgroup":
                if name == "col":
                    self.pop_above(context)
                    self.void(name, attrs)
                    return
                self.pop_through(context)
            elif current == "tr":
                if name in ("td", "th"):
                    self.pop_above(context)
                    self.push(name, attrs)
                    return
                self.pop_through(context)
            elif current in _SECTIONS:
                self.pop_above(context)
                if name == "tr":
                    self.push(name, attrs)
                    return
                if name in ("td", "th"):
                    self.push("tr")
                    self.push(name, attrs)
                    return
                self.pop_through(context)
            else:  # table
                self.pop_above(context)
                if name in ("caption", "colgroup") or name in _SECTIONS:
                    self.push(name, attrs)
                elif name == "col":
                    self.push("colgroup")
                    self.void(name, attrs)
                elif name == "tr":
                    self.push("tbody")
                    self.push(name, attrs)
                else:
                    self.push("tbody")
                    self.push("tr")
                    self.push(name, attrs)
                return

    def end(self, name: str) -> None:
        if name == "p":
            if self.in_scope(self.last("p"), "button"):
                self.pop_through(self.last("p"))
            else:
                self.reconstruct()
                self.push("p")
                self.pop()
        elif name == "br":
            self.reconstruct()
            self.void("br", "")
        elif name == "li":
            index = self.last("li")
            if self.in_scope(index, "list"):
                self.pop_through(index)
        elif name in ("dd", "dt") or name in _BLOCK_END:
            index = self.last(name)
            if self.in_scope(index, "scope"):
                self.pop_through(index)
        elif name in _HEADINGS:
            index = self._last(self.marks["heading"])
            if self.in_scope(index, "scope"):
                self.pop_through(index)
        elif name == "table" or name in _TABLE_PARTS:
            self.end_table_part(name)
        elif name in _FORMATTING:
            self.end_formatting(name)
        elif name not in _IGNORED:
            self.end_other(name)

    def end_table_part(self, name: str) -> None:
        index = self.last(name)
        if index < 0 or name in ("col",):
            return
        if name == "colgroup":
            if index == len(self.stack) - 1:
                self.pop()
            return
        if name == "table" or index > self.last("table"):
            self.pop_through(index)

    def token(self, kind: int, value: str, attrs: list[tuple[str, str]]) -> None:
        if self.drop:
            self.dropped_token(kind, value, attrs)
        elif kind == _TEXT:
            self.text(html.unescape(value))
        elif kind == _RAW:
            if not self.skip_raw:
                self.text(value)
            self.skip_raw = False
        elif kind == _START:
            self.skip_raw = False
            self.start(value, attrs)
        else:
            self.end(value)

    def dropped_token(self, kind: int, value: str, attrs: list[tuple[str, str]]) -> None:
        drop = self.drop
        if kind == _START:
            if value in _SUBTREE_DROPPED or (value in _INTEGRATION_POINTS and drop[-1] in _FOREIGN):
                if len(drop) < _MAX_HIDDEN:
                    drop.append(value)
            elif drop[-1] in _FOREIGN and (
                value in _BREAKOUT or (value == "font" and any(a in _FONT_BREAKOUT for a, _ in attrs))
            ):
                while drop and drop[-1] in _FOREIGN:
                    drop.pop()
                if not drop:
                    self.start(value, attrs)
        elif kind == _END:
            if value == drop[-1]:
                drop.pop()
            elif drop[-1] in _FOREIGN and value in ("p", "br"):
                while drop and drop[-1] in _FOREIGN:
                    drop.pop()
                if not drop:
                    self.end(value)

    def in_foreign(self) -> bool:
        return bool(self.drop) and self.drop[-1] in _FOREIGN

    def finish(self) -> str:
        self.pop_through(0)
        return "".join(self.out)


_FONT_BREAKOUT = frozenset({"color", "face", "size"})


#: Longest attribute value kept. nh3's time grows with the square of the "&" and no-break spaces in one
#: value (a 2 MB title of "& " took 17 s); a longer value is dropped, the element is kept. Image data
#: (``data:image/...;base64,``, no "&") may be longer: pasted images are.
_MAX_ATTRIBUTE = 4096


def _attributes(name: str, attrs: list[tuple[str, str]]) -> str:
    """The allow-listed attributes, the first of each name (as html5ever keeps), double-quoted."""
    if not attrs:
        return ""
    allowed = _ATTRS["*"] | _ATTRS.get(name, set())
    seen: set[str] = set()
    parts: list[str] = []
    for attr, value in attrs:
        if attr in allowed and attr not in seen:
            seen.add(attr)
            if len(value) > _MAX_ATTRIBUTE and not (
                attr == "src" and "&" not in value and "\xa0" not in value
            ):
                continue
            parts.append(f' {attr}="{value.replace(chr(34), "&quot;")}"')
    return "".join(parts)


def normalize_html(
    body: str, *, max_depth: int = HTML_MAX_DEPTH, images: Mapping[str, str] | None = None
) -> Normalized:
    """The body as a well-formed stream of allow-listed tags, at most ``max_depth`` deep (module docstring).

    Linear in the length of ``body``; the text is kept, markup nh3 would remove anyway is dropped here.
    ``images``: see :func:`sanitize_html_checked`.
    """
    normalizer = _Normalizer(max_depth, images or {})
    for kind, value, attrs, _ in _tokens(body, normalizer.in_foreign):
        normalizer.token(kind, value, attrs)
    return Normalized(normalizer.finish(), normalizer.flattened, frozenset(normalizer.cids))


# --- plain text ----------------------------------------------------------------------------------------

_BLOCK = {
    "p",
    "div",
    "br",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "pre",
    "hr",
    "dt",
    "dd",
}
_SKIP = {"script", "style", "head", "title"}
_SPACES = re.compile(r"[ \t\r\n\f]+")


class _TextExtractor:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self._skip = 0
        self._href: str | None = None

    def starttag(self, tag: str, attrs: list[tuple[str, str]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self._href = html.unescape(dict(reversed(attrs)).get("href", "")) or None

    def endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self._href and self._href.startswith(("http://", "https://")):
            self.parts.append(f" ({self._href})")
            self._href = None

    def data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(body: str) -> str:
    """Readable plain text from HTML (paragraphs, list items, table cells, link targets); linear in the
    length of ``body``, whatever its markup."""
    extractor = _TextExtractor()
    for kind, value, attrs, self_closing in _tokens(body):
        if kind == _TEXT:
            extractor.data(html.unescape(value))
        elif kind == _RAW:
            extractor.data(value)
        elif kind == _START:
            extractor.starttag(value, attrs)
            if self_closing:
                extractor.endtag(value)
        else:
            extractor.endtag(value)
    text = "".join(extractor.parts).replace("\xa0", " ")
    lines = [line.strip(" ") for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line.replace("\t", "  ").strip())
    return "\n".join(out).strip() + "\n"


def text_to_html(text: str) -> str:
    """Plain-text mail bodies become paragraphs; nothing in them is interpreted as markup."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs if p)
