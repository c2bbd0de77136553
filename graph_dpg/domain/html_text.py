"""Mail bodies → Digital Post documents: sanitised HTML and a plain-text alternative.

See docs/product.md, "Conversion".

Outlook HTML carries scripts only when hostile, but always carries things viewing clients must not run or
fetch: remote images (tracking), forms, styles with ``url(...)``, event handlers. The sanitiser keeps the
document's structure and formatting (headings, lists, tables, emphasis, links with http(s)/mailto) and
inline images (``cid:`` references rewritten to ``data:`` URIs by the caller when it has the bytes), and drops
everything else. nh3 (Rust ammonia) does the parsing: a well-kept sanitiser, not a regex.

The plain-text rendering is for the MeMo alternative ``text/plain`` File and for rules that match on the body.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

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
    cleaned = nh3.clean(
        body,
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned


def wrap_document(fragment: str, title: str, language: str = "da") -> str:
    """A complete UTF-8 HTML document around a sanitised fragment."""
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{fragment}</body></html>"
    )


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


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self._href and self._href.startswith(("http://", "https://")):
            self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(body: str) -> str:
    """Readable plain text from HTML (paragraphs, list items, table cells, link targets)."""
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
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
