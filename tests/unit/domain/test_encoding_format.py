"""``File/encodingFormat`` is the file type's canonical MIME type by extension, not the sniffed one: the
official MeMo examples name a .xml file ``text/xml`` (shared/memo/examples, docs/facts/ngdp.md, "File
types"), while sniffing reports ``application/xml``."""

from __future__ import annotations

import pytest

from graph_dpg.domain.mail import Attachment
from graph_dpg.domain.policies import CANONICAL_TYPES, DEFAULT_ALLOWED_TYPES, canonical_type
from graph_dpg.memo import parse
from tests.unit.domain.test_conversion_bounds import CPR, GW, ORG, PDF, PNG, plan

XML = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<sag><navn>\xc6blegr\xf8d</navn></sag>\n'


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("sag.xml", "text/xml"),
        ("SAG.XML", "text/xml"),
        ("brev.pdf", "application/pdf"),
        ("noter.txt", "text/plain"),
        ("tal.csv", "text/csv"),
        ("side.htm", "text/html"),
        ("billede.JPG", "image/jpeg"),
        ("notat.doc", "application/msword"),
        ("notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("ukendt.xyz", None),
        ("uden-endelse", None),
        (".pdf", "application/pdf"),
    ],
)
def test_canonical_type_by_extension(name: str, mime: str | None) -> None:
    assert canonical_type(name) == mime


def test_every_extension_allowed_by_default_has_a_canonical_type() -> None:
    assert set(DEFAULT_ALLOWED_TYPES) <= set(CANONICAL_TYPES)


@pytest.mark.parametrize(
    ("name", "content", "declared", "mime"),
    [
        # sniffed application/xml, declared application/octet-stream: the official examples say text/xml
        ("sag.xml", XML, "application/octet-stream", "text/xml"),
        ("brev.pdf", PDF, "application/octet-stream", "application/pdf"),
        ("billede.png", PNG, "image/x-png", "image/png"),
        ("noter.txt", b"<p>ligner html</p>", "text/html", "text/plain"),
    ],
)
def test_an_attachment_is_named_by_its_extensions_canonical_type(
    name: str, content: bytes, declared: str, mime: str
) -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=[Attachment(name, declared, content)])
    assert p.memos, p.findings
    xml = p.memos[0].memo_xml
    assert xml is not None
    files = {f.filename: f for f in parse(xml).files()}
    assert files[name].encoding_format == mime


def test_an_xml_attachment_keeps_its_bytes_and_declared_encoding() -> None:
    p = plan([f"{CPR}@{ORG}.{GW}"], attachments=[Attachment("sag.xml", "text/xml", XML)])
    xml = p.memos[0].memo_xml
    assert xml is not None
    assert {f.filename: f for f in parse(xml).files()}["sag.xml"].content == XML
