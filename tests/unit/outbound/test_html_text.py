from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.domain.html_text import html_to_text, sanitize_html, text_to_html, wrap_document

HOSTILE = (
    "<html><head><style>body{background:url(http://t/x)}</style><script>alert(1)</script></head>"
    '<body><p onclick="steal()">Kære <b>Åse Ørum</b></p>'
    '<img src="https://tracker.example/p.gif"><img src="cid:logo1" alt="logo">'
    '<a href="javascript:alert(1)">klik</a><a href="https://kommune.dk">kommune</a>'
    "<form><input name=x></form><iframe src=x></iframe></body></html>"
)


def test_sanitizer_removes_active_and_remote_content_and_keeps_structure():
    out = sanitize_html(HOSTILE)
    for bad in ("script", "onclick", "tracker.example", "javascript:", "<form", "<iframe", "<style", "url("):
        assert bad not in out
    assert "<b>Åse Ørum</b>" in out and 'src="cid:logo1"' in out and 'href="https://kommune.dk"' in out


def test_plain_text_alternative():
    text = html_to_text(sanitize_html(HOSTILE))
    assert "Kære Åse Ørum" in text and "kommune (https://kommune.dk)" in text and "alert" not in text


def test_text_to_html_escapes_and_keeps_paragraphs():
    assert text_to_html("a <b>\nc\n\nd") == "<p>a &lt;b&gt;<br>c</p><p>d</p>"


def test_wrap_document_is_utf8_html():
    doc = wrap_document("<p>æøå</p>", "Titel <x>")
    assert doc.startswith("<!DOCTYPE html>") and 'charset="utf-8"' in doc and "Titel &lt;x&gt;" in doc


@given(st.text(max_size=300))
def test_never_crashes(s):
    assert "<script" not in sanitize_html(s).lower()
    html_to_text(s)
