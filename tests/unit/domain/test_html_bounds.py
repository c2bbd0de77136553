"""HTML bodies within bounds: nh3 only ever sees a well-formed stream of allow-listed tags at most
HTML_MAX_DEPTH deep, with few attributes and short text runs, so its superlinear cases cannot occur; the
text extraction is linear; well-formed letters come out exactly as before."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.domain import html_text
from graph_dpg.domain.html_text import (
    HTML_MAX_CHARS,
    HTML_MAX_DEPTH,
    html_to_text,
    normalize_html,
    sanitize_html,
    sanitize_html_checked,
)

CORPUS_HTML = Path(__file__).resolve().parents[2] / "corpus" / "outbound" / "html"
_VOIDS = {"br", "col", "hr", "img"}
_TAG = re.compile(r"<(/?)([a-z0-9]+)([^>]*)>")


def _nh3_alone(body: str) -> str:
    """What sanitize_html returned before the bounds: nh3 on the sender's markup."""
    return nh3.clean(
        body,
        tags=html_text._TAGS,
        attributes=html_text._ATTRS,
        url_schemes=html_text._URL_SCHEMES,
        attribute_filter=html_text._filter_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _shape(stream: str) -> tuple[int, bool]:
    """Deepest nesting of a tag stream, and whether every end tag closes the element opened last."""
    stack: list[str] = []
    deepest = 0
    well_formed = True
    for closing, name, _ in _TAG.findall(stream):
        if name in _VOIDS:
            well_formed &= not closing
        elif closing:
            well_formed &= bool(stack) and stack.pop() == name
        else:
            stack.append(name)
            deepest = max(deepest, len(stack))
    return deepest, well_formed and not stack


# --- depth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "<div>" * 45_000 + "dybt" + "</div>" * 45_000,  # 495 KB: 2.5-6 s in nh3 before
        "<div>" * 45_000 + "dybt",
        "<ul><li>" * 22_000 + "dybt",
        "<table><tr><td>" * 10_000 + "dybt",
        "<b><div></b>" * 20_000 + "dybt",
        "<blockquote>" * 300 + "dybt",
    ],
)
def test_deep_nesting_is_flattened_and_the_text_kept(body: str) -> None:
    normalized = normalize_html(body)
    depth, well_formed = _shape(normalized.html)
    assert well_formed
    assert depth <= HTML_MAX_DEPTH
    assert normalized.flattened
    result = sanitize_html_checked(body)
    assert "dybt" in result.html
    assert _shape(result.html)[0] <= HTML_MAX_DEPTH
    assert [(f.rule, f.severity) for f in result.findings] == [("html.depth", "warning")]


def test_nesting_within_the_limit_is_kept() -> None:
    body = "<div>" * 200 + "lige" + "</div>" * 200
    assert sanitize_html_checked(body).findings == []
    assert sanitize_html(body) == _nh3_alone(body)


_SOUP_TAGS = [
    *("b", "i", "a", "font", "p", "div", "table", "tr", "td", "th", "li", "ul", "ol", "span", "caption"),
    *("h1", "h2", "dd", "dt", "dl", "s", "u", "em", "code", "colgroup", "col", "tbody", "br", "img", "hr"),
    *("section", "button", "object", "form", "select", "svg", "math", "template", "foreignObject", "xmp"),
    *("title", "textarea", "script", "style", "nobr", "marquee", "o:p", "html", "body", "image", "pre"),
]
_soup_token = st.one_of(
    st.builds(lambda t, a: f"<{t}{a}>", st.sampled_from(_SOUP_TAGS), st.sampled_from(["", " title=1", " x"])),
    st.builds(lambda t: f"</{t}>", st.sampled_from(_SOUP_TAGS)),
    st.sampled_from(["x", " ", "&amp;", "<!-- c -->", "<", "&", "\x00"]),
)


@settings(max_examples=settings.default.max_examples * 3 // 2, deadline=None)
@given(st.lists(_soup_token, max_size=300), st.sampled_from([3, 8, 20]))
def test_html5ever_never_nests_deeper_than_the_normalized_stream(tokens: list[str], max_depth: int) -> None:
    """The safety argument, checked: the stream is well-formed and within the depth, and html5ever,
    parsing it inside nh3, builds no deeper tree (so its per-tag stack walks stay bounded)."""
    normalized = normalize_html("".join(tokens), max_depth=max_depth)
    depth, well_formed = _shape(normalized.html)
    assert well_formed
    assert depth <= max_depth
    assert _shape(nh3.clean(normalized.html, tags=html_text._TAGS, strip_comments=True))[0] <= max_depth


# --- attributes, text runs, size -------------------------------------------------------------------


def test_only_the_first_of_each_allow_listed_attribute_reaches_nh3() -> None:
    body = "<p " + " ".join(f"a{i}=1" for i in range(100_000)) + ' title="first" title="second">x</p>'
    normalized = normalize_html(body)
    assert normalized.html == '<p title="first">x</p>'


def test_a_huge_attribute_value_is_dropped_but_image_data_is_kept() -> None:
    title = "& " * 500_000  # a 2 MB one took 17 s in nh3 before
    assert sanitize_html(f'<p title="{title}">tekst</p>') == "<p>tekst</p>"
    data = "data:image/png;base64," + "A" * 1_000_000
    assert data in sanitize_html(f'<img src="{data}">')


def test_long_text_is_split_into_runs_without_changing_the_result() -> None:
    body = "<p>" + "Smith & Co " * 50_000 + "</p>"
    normalized = normalize_html(body).html
    assert max(len(run) for run in re.split(r"<[^>]*>", normalized)) <= 4096 * len("&amp;")
    assert "<!---->" in normalized
    assert sanitize_html(body) == _nh3_alone(body)


def test_a_body_beyond_the_size_cap_is_an_error_finding() -> None:
    body = "<p>" + "x" * HTML_MAX_CHARS + "</p>"
    result = sanitize_html_checked(body)
    assert [(f.rule, f.severity) for f in result.findings] == [("html.size", "error")]
    assert "PDF" in result.findings[0].message
    assert len(result.html) <= HTML_MAX_CHARS + 10


# --- linear tokenizer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("<!--" * 50_000, ""),  # 11.6 s in html.parser
        ("</" * 100_000, ""),  # "</" then not a letter: a bogus comment to the next ">" (here: the end)
        ("<a b='" + "x" * 200_000, ""),
        ("a<b>c</b>d<!-- e -->f", "acdf"),
        ("<script><!--<script></script>skjult</script>synlig", "synlig"),
    ],
)
def test_text_extraction_is_linear_and_follows_the_tokenizer(body: str, text: str) -> None:
    assert html_to_text(body).strip() == text.strip()


class _OldTextExtractor(HTMLParser):
    """html_to_text's extractor as it was on html.parser: the oracle for well-formed documents."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in html_text._SKIP:
            self._skip += 1
        elif tag in html_text._BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in html_text._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in html_text._BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self._href and self._href.startswith(("http://", "https://")):
            self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def _old_html_to_text(body: str) -> str:
    parser = _OldTextExtractor()
    parser.feed(body)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    out: list[str] = []
    for line in (line.strip(" ") for line in text.split("\n")):
        if line or (out and out[-1]):
            out.append(line.replace("\t", "  ").strip())
    return "\n".join(out).strip() + "\n"


# --- fidelity ------------------------------------------------------------------------------------------

_text = st.text(alphabet="abc æøå&<>\"' \n", min_size=1, max_size=12)
_inline = st.recursive(
    _text.map(html.escape),
    lambda inner: st.one_of(
        st.builds(
            lambda t, c: f"<{t}>{''.join(c)}</{t}>",
            st.sampled_from(["b", "i", "em", "span", "u"]),
            st.lists(inner, max_size=3),
        ),
        st.builds(
            lambda c: f'<a href="https://x.dk/?a=1&amp;b=2">{"".join(c)}</a>', st.lists(inner, max_size=2)
        ),
        st.just("<br>"),
        st.just('<img src="cid:logo" alt="logo">'),
    ),
    max_leaves=12,
)
_block = st.recursive(
    st.builds(lambda c: f"<p>{''.join(c)}</p>", st.lists(_inline, max_size=3)),
    lambda inner: st.one_of(
        st.builds(lambda c: f"<div>{''.join(c)}</div>", st.lists(inner, max_size=3)),
        st.builds(lambda c: f"<blockquote>{''.join(c)}</blockquote>", st.lists(inner, max_size=2)),
        st.builds(lambda c: f"<ul>{''.join(f'<li>{x}</li>' for x in c)}</ul>", st.lists(inner, max_size=3)),
        st.builds(
            lambda rows: (
                "<table>"
                + "".join(f"<tr>{''.join(f'<td>{c}</td>' for c in r)}</tr>" for r in rows)
                + "</table>"
            ),
            st.lists(st.lists(inner, min_size=1, max_size=2), min_size=1, max_size=2),
        ),
        st.builds(
            lambda t, c: f"<{t}>{''.join(c)}</{t}>",
            st.sampled_from(["h1", "h2", "pre"]),
            st.lists(_inline, max_size=2),
        ),
    ),
    max_leaves=10,
)


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(st.lists(_block, max_size=4).map("".join))
def test_well_formed_letters_come_out_exactly_as_before(body: str) -> None:
    cleaned = sanitize_html(body)  # once: sanitising is most of this test's time
    assert cleaned == _nh3_alone(body)
    assert html_to_text(body) == _old_html_to_text(body)
    assert html_to_text(cleaned) == _old_html_to_text(cleaned)


# The cases that exist to cross a bound: nesting beyond HTML_MAX_DEPTH is flattened, an attribute value
# beyond 4,096 characters dropped. Their words are the same.
_CROSS_A_BOUND = {
    "huge-nesting.json",
    "nested-300-divs.json",
    "nested-300-list-items.json",
    "long-title-of-ampersands.json",
}


@pytest.mark.parametrize("path", sorted(CORPUS_HTML.glob("*.json")), ids=lambda p: p.name)
def test_the_corpus_bodies_come_out_as_before(path: Path) -> None:
    body = json.loads(path.read_text(encoding="utf-8")).get("body", "")
    if path.name in _CROSS_A_BOUND:
        words = re.compile(r"\w+")
        assert words.findall(html_to_text(sanitize_html(body))) == words.findall(
            html_to_text(_nh3_alone(body))
        )
        assert sanitize_html(body) != _nh3_alone(body)
    else:
        assert sanitize_html(body) == _nh3_alone(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>a<p>b", "<p>a</p><p>b</p>"),
        ("<ul><li>a<li>b</ul>", "<ul><li>a</li><li>b</li></ul>"),
        ("<table><tr><td>a<td>b</table>", "<table><tbody><tr><td>a</td><td>b</td></tr></tbody></table>"),
        ("<p><b>x<div>y</div>z</b></p>", "<p><b>x</b></p><div><b>y</b></div><b>z</b><p></p>"),
        ("<svg><style><b>x</b></style></svg>", "<b>x</b>"),
        ("<noscript><p>x</p></noscript>y", "&lt;p&gt;x&lt;/p&gt;y"),
        ("<p>a<section>b</section>c", "<p>a</p>bc"),
        ("<b>a<i>b</b>c</i>", "<b>a<i>b</i></b><i>c</i>"),
        ("a<br/>b</br>c", "a<br>b<br>c"),
    ],
)
def test_sloppy_markup_is_repaired_as_browsers_do(body: str, expected: str) -> None:
    assert sanitize_html(body) == expected == _nh3_alone(body)


# --- images ----------------------------------------------------------------------------------------


def test_cid_images_are_replaced_and_reported() -> None:
    body = '<p><img src="cid:logo1" alt="a"><img src="CID:a&amp;b"><!-- <img src="cid:hidden"> --></p>'
    result = sanitize_html_checked(body, images={"logo1": "data:image/png;base64,AAAA"})
    assert result.image_cids == frozenset({"logo1", "a&b"})
    assert '<img src="data:image/png;base64,AAAA" alt="a">' in result.html
    assert 'src="CID:a&amp;b"' in result.html
    script = sanitize_html_checked('<script>"<img src=cid:x>"</script><p>ok</p>')
    assert script.image_cids == frozenset()
