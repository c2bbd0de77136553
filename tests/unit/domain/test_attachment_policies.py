"""Channel attachment policies: count, type by extension AND content, size; content sniffing."""

from __future__ import annotations

import io
import zipfile
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.domain.addresses import Channel
from graph_dpg.domain.mail import Attachment
from graph_dpg.domain.policies import (
    DEFAULT_POLICIES,
    MAX_MESSAGE_BYTES,
    ChannelPolicy,
    check_attachments,
    extension_of,
    sniff_type,
)

NGDP = DEFAULT_POLICIES[Channel.NGDP]


def _zip(entries: dict[str, bytes], *, mimetype_first: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if mimetype_first is not None:
            archive.writestr("mimetype", mimetype_first, compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _ooxml(part_dir: str, content_type: str = "application/xml") -> bytes:
    types = f'<Types><Override PartName="/x" ContentType="{content_type}"/></Types>'.encode()
    return _zip({"[Content_Types].xml": types, f"{part_dir}/document.xml": b"<x/>", "_rels/.rels": b"<r/>"})


def _ole(stream_name: str) -> bytes:
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + stream_name.encode("utf-16-le") + b"\x00" * 64
    )


PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 10
TIFF_LE = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 10
TIFF_BE = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 10
RTF = b"{\\rtf1\\ansi Hej}"
DOCX = _ooxml("word")
XLSX = _ooxml("xl")
PPTX = _ooxml("ppt")
DOCM = _ooxml("word", "application/vnd.ms-word.document.macroEnabled.main+xml")
ODT = _zip({"content.xml": b"<x/>"}, mimetype_first=b"application/vnd.oasis.opendocument.text")
ODS = _zip({"content.xml": b"<x/>"}, mimetype_first=b"application/vnd.oasis.opendocument.spreadsheet")
ODP = _zip({"content.xml": b"<x/>"}, mimetype_first=b"application/vnd.oasis.opendocument.presentation")
ZIP = _zip({"a.txt": b"hello"})
JAR = _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "A.class": b"\xca\xfe\xba\xbe"})
DOC = _ole("WordDocument")
XLS = _ole("Workbook")
PPT = _ole("PowerPoint Document")
MSI = _ole("SummaryInformation")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50 + b"This program cannot be run in DOS mode"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 20
MACHO = b"\xcf\xfa\xed\xfe" + b"\x00" * 20
SHELL = b"#!/bin/sh\nrm -rf /\n"
TEXT_UTF8 = "Kære borger, æøå ÆØÅ – €\n".encode()
TEXT_CP1252 = "Kære borger, æøå\r\n".encode("cp1252")
TEXT_UTF16 = "\ufeffHej æøå".encode("utf-16")
HTML = b"<!DOCTYPE html><html><body><p>Hej</p></body></html>"
XML = b'<?xml version="1.0" encoding="UTF-8"?><root/>'
CSV = b"cpr;navn\n0102031234;Test\n"


@pytest.mark.parametrize(
    ("name", "content", "sniffed"),
    [
        ("a.pdf", PDF, "application/pdf"),
        ("a.pdf", b"\r\n\r\n%PDF-1.4 junk before the header", "application/pdf"),
        ("a.png", PNG, "image/png"),
        ("a.jpg", JPEG, "image/jpeg"),
        ("a.jpeg", JPEG, "image/jpeg"),
        ("a.gif", GIF, "image/gif"),
        ("a.tif", TIFF_LE, "image/tiff"),
        ("a.tiff", TIFF_BE, "image/tiff"),
        ("a.rtf", RTF, "application/rtf"),
        ("a.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("a.pptx", PPTX, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("a.odt", ODT, "application/vnd.oasis.opendocument.text"),
        ("a.ods", ODS, "application/vnd.oasis.opendocument.spreadsheet"),
        ("a.odp", ODP, "application/vnd.oasis.opendocument.presentation"),
        ("a.doc", DOC, "application/msword"),
        ("a.xls", XLS, "application/vnd.ms-excel"),
        ("a.ppt", PPT, "application/vnd.ms-powerpoint"),
        ("a.txt", TEXT_UTF8, "text/plain"),
        ("a.txt", TEXT_CP1252, "text/plain"),
        ("a.txt", TEXT_UTF16, "text/plain"),
        ("a.csv", CSV, "text/plain"),
        ("a.html", HTML, "text/html"),
        ("a.htm", HTML, "text/html"),
        ("a.xml", XML, "application/xml"),
        ("A.PDF", PDF, "application/pdf"),  # extensions are case-insensitive
    ],
)
def test_allowed_documents_pass(name: str, content: bytes, sniffed: str) -> None:
    assert sniff_type(content, name) == sniffed
    for channel in Channel:
        assert (
            check_attachments(
                DEFAULT_POLICIES[channel], [Attachment(name, "application/octet-stream", content)]
            )
            == []
        )


@pytest.mark.parametrize(
    "disguise", ["invoice.pdf", "letter.txt", "report.docx", "photo.jpg", "data.csv", "x.html"]
)
@pytest.mark.parametrize("program", [EXE, ELF, MACHO, SHELL, b"\xca\xfe\xba\xbe\x00\x00\x00\x34", JAR])
def test_renamed_programs_are_refused_whatever_their_name(disguise: str, program: bytes) -> None:
    findings = check_attachments(NGDP, [Attachment(disguise, "application/pdf", program)])
    assert [f.rule for f in findings] == ["policy.type.executable"]
    assert findings[0].path == "attachments[0]"
    assert disguise in findings[0].message


def test_exe_with_its_own_name_is_refused_as_a_program() -> None:
    findings = check_attachments(NGDP, [Attachment("setup.exe", "application/x-msdownload", EXE)])
    assert [f.rule for f in findings] == ["policy.type.executable"]


@pytest.mark.parametrize(
    ("name", "content", "rule", "fragment"),
    [
        ("archive.zip", ZIP, "policy.type.extension", ".zip files are not accepted"),
        ("archive.docx", ZIP, "policy.type.content", "the content is application/zip"),
        ("macro.docm", DOCM, "policy.type.extension", ".docm files are not accepted"),
        ("macro.docx", DOCM, "policy.type.content", "macroEnabled"),  # renamed .docm
        ("sheet.docx", XLSX, "policy.type.content", "does not match the .docx extension"),
        ("photo.jpg", PNG, "policy.type.content", "image/png"),
        ("scan.pdf", JPEG, "policy.type.content", "image/jpeg"),
        ("setup.doc", MSI, "policy.type.content", "application/x-ole-storage"),  # renamed .msi
        ("mail.msg", _ole("__substg1.0_0037001F"), "policy.type.extension", ".msg files are not accepted"),
        ("mail.eml", b"From: a@b\r\n\r\nhi", "policy.type.extension", ".eml files are not accepted"),
        ("blob.pdf", bytes(range(256)) * 4, "policy.type.content", "not a recognised document type"),
        ("text.pdf", TEXT_UTF8, "policy.type.content", "the content is text/plain"),
        ("page.xml", HTML, "policy.type.content", "text/html"),
        ("README", TEXT_UTF8, "policy.type.extension", "has no file extension"),
        (".pdf", PDF, "policy.type.extension", "has no file extension"),
        ("empty.pdf", b"", "policy.empty", "is empty"),
    ],
)
def test_wrong_types_are_refused(name: str, content: bytes, rule: str, fragment: str) -> None:
    findings = check_attachments(NGDP, [Attachment(name, "application/octet-stream", content)])
    assert [f.rule for f in findings] == [rule]
    assert fragment in findings[0].message
    assert findings[0].severity == "error"


def test_content_not_fetched_is_not_waved_through() -> None:
    findings = check_attachments(NGDP, [Attachment("big.pdf", "application/pdf", None, size=5_000_000)])
    assert [f.rule for f in findings] == ["policy.type.unchecked"]


@pytest.mark.parametrize(("count", "refused"), [(0, False), (10, False), (11, True), (25, True)])
def test_at_most_ten_attachments(count: int, refused: bool) -> None:
    attachments = [Attachment(f"a{i}.pdf", "application/pdf", PDF) for i in range(count)]
    findings = check_attachments(NGDP, attachments)
    assert [f.rule for f in findings] == (["policy.count"] if refused else [])
    if refused:
        assert f"{count} attachments; ngdp accepts at most 10" in findings[0].message


def test_images_the_body_shows_do_not_count() -> None:
    attachments = [Attachment(f"a{i}.pdf", "application/pdf", PDF) for i in range(10)]
    attachments += [
        Attachment(f"logo{i}.png", "image/png", PNG, is_inline=True, content_id=f"<logo{i}>")
        for i in range(3)
    ]
    assert check_attachments(NGDP, attachments, body_cids={"logo0", "logo1", "logo2"}) == []


def test_an_inline_flag_alone_does_not_escape_the_count() -> None:
    """isInline without a cid: reference in the body is an ordinary attachment (it is sent as a file)."""
    attachments = [Attachment(f"a{i}.pdf", "application/pdf", PDF) for i in range(10)]
    attachments += [Attachment(f"logo{i}.png", "image/png", PNG, is_inline=True) for i in range(3)]
    findings = check_attachments(NGDP, attachments, body_cids={"logo0"})
    assert [f.rule for f in findings] == ["policy.count"]
    assert "13 attachments" in findings[0].message


def test_a_referenced_attachment_that_is_no_image_counts() -> None:
    attachments = [Attachment(f"a{i}.pdf", "application/pdf", PDF) for i in range(10)]
    attachments.append(Attachment("logo.pdf", "image/png", PDF, content_id="<logo>"))
    assert [f.rule for f in check_attachments(NGDP, attachments, body_cids={"logo"})] == ["policy.count"]


def test_inline_images_are_still_type_checked() -> None:
    attachments = [Attachment("logo.png", "image/png", EXE, is_inline=True, content_id="logo")]
    findings = check_attachments(NGDP, attachments, body_cids={"logo"})
    assert [f.rule for f in findings] == ["policy.type.executable"]


def test_total_decoded_size_limit() -> None:
    policy = ChannelPolicy(Channel.MITDK, max_message_bytes=100)
    ok = [Attachment("a.pdf", "application/pdf", PDF), Attachment("b.txt", "text/plain", b"x" * 50)]
    assert check_attachments(policy, ok) == []
    too_big = [*ok, Attachment("c.txt", "text/plain", b"y" * 20)]
    findings = check_attachments(policy, too_big)
    assert [f.rule for f in findings] == ["policy.size"]
    assert "at most 100 bytes" in findings[0].message


def test_size_counts_attachments_known_only_by_size() -> None:
    big = Attachment("big.pdf", "application/pdf", None, size=MAX_MESSAGE_BYTES + 1)
    assert "policy.size" in [f.rule for f in check_attachments(NGDP, [big])]


def test_default_limit_is_the_conservative_reading_of_99_5_mb() -> None:
    assert MAX_MESSAGE_BYTES == 99_500_000
    assert all(
        p.max_attachments == 10 and p.max_message_bytes == MAX_MESSAGE_BYTES
        for p in DEFAULT_POLICIES.values()
    )
    assert set(DEFAULT_POLICIES) == set(Channel)


def test_custom_allowed_types_per_channel() -> None:
    only_pdf = ChannelPolicy(
        Channel.EBOKS, allowed_types=MappingProxyType({"pdf": frozenset({"application/pdf"})})
    )
    findings = check_attachments(only_pdf, [Attachment("a.png", "image/png", PNG)])
    assert [f.rule for f in findings] == ["policy.type.extension"]
    assert "(accepted: pdf)" in findings[0].message


def test_file_name_fixes_are_reported_as_warnings_with_the_attachment_path() -> None:
    findings = check_attachments(NGDP, [Attachment("a.pdf", "", PDF), Attachment("Svar: 1/2.pdf", "", PDF)])
    assert [(f.path, f.rule, f.severity) for f in findings] == [
        ("attachments[1]", "filename.forbidden-chars", "warning")
    ]


def test_several_problems_are_all_reported() -> None:
    attachments = [Attachment(f"a{i}.pdf", "", PDF) for i in range(10)]
    attachments += [Attachment("virus.pdf", "", EXE), Attachment("x.zip", "", ZIP)]
    rules = sorted(f.rule for f in check_attachments(NGDP, attachments))
    assert rules == ["policy.count", "policy.type.executable", "policy.type.extension"]


def test_broken_zip_is_a_zip_not_a_crash() -> None:
    assert sniff_type(b"PK\x03\x04" + b"\x00" * 100, "a.docx") == "application/zip"
    truncated = DOCX[: len(DOCX) // 2]
    assert sniff_type(truncated, "a.docx") == "application/zip"


@pytest.mark.parametrize(
    ("name", "ext"),
    [("a.PDF", "pdf"), ("a.tar.gz", "gz"), ("noext", ""), (".bashrc", ""), ("dir/x.txt", "txt"), ("a.", "")],
)
def test_extension_of(name: str, ext: str) -> None:
    assert extension_of(name) == ext


@given(st.binary(max_size=2048), st.sampled_from(["a.pdf", "a.txt", "a.docx", "a", "a.exe"]))
def test_sniffing_and_checking_never_crash(content: bytes, name: str) -> None:
    sniff_type(content, name)
    findings = check_attachments(NGDP, [Attachment(name, "", content)])
    assert all(f.severity in {"error", "warning"} for f in findings)


@given(st.binary(min_size=2, max_size=512))
def test_anything_starting_with_mz_is_a_program(rest: bytes) -> None:
    findings = check_attachments(NGDP, [Attachment("doc.pdf", "", b"MZ" + rest)])
    assert [f.rule for f in findings] == ["policy.type.executable"]


def test_policy_normalises_extensions_and_mime_aliases() -> None:
    policy = ChannelPolicy(
        Channel.NGDP, allowed_types={".CSV": frozenset({"text/csv"}), "JPG": frozenset({"image/jpg"})}
    )
    assert policy.allowed_types == {"csv": frozenset({"text/plain"}), "jpg": frozenset({"image/jpeg"})}
    assert (
        check_attachments(policy, [Attachment("a.csv", "text/csv", CSV), Attachment("b.JPG", "", JPEG)]) == []
    )


def test_undetectable_types_are_reported_for_config_checks() -> None:
    policy = ChannelPolicy(
        Channel.NGDP, allowed_types={"heic": frozenset({"image/heic"}), "pdf": frozenset({"application/pdf"})}
    )
    assert policy.undetectable_types == ["image/heic"]
    assert NGDP.undetectable_types == []


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ChannelPolicy(Channel.NGDP, max_attachments=-1)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<html><body><SCRIPT>alert(1)</SCRIPT></body></html>"),
        ("page.htm", b'<!doctype html><a href="JavaScript:alert(1)">x</a>'),
        ("page.html", b'<html><body><img src=x onerror="alert(1)"></body></html>'),
        ("page.txt", b"<html><body><script src=//evil></script></body></html>"),  # renamed: still HTML
        ("page.html", "\ufeff<html><script>x</script></html>".encode("utf-16")),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ],
)
def test_markup_with_scripts_is_refused(name: str, content: bytes) -> None:
    findings = check_attachments(NGDP, [Attachment(name, "text/html", content)])
    assert [f.rule for f in findings] == ["policy.type.active-content"]
    assert "send it as PDF" in findings[0].message


def test_svg_renamed_to_xml_is_not_xml() -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'
    assert sniff_type(svg, "drawing.xml") == "image/svg+xml"
    findings = check_attachments(NGDP, [Attachment("drawing.xml", "text/xml", svg)])
    assert [f.rule for f in findings] == ["policy.type.content"]


def test_plain_text_mentioning_javascript_is_fine() -> None:
    text = b"Husk: javascript: er ikke tilladt i links. Mvh. kommunen"
    assert check_attachments(NGDP, [Attachment("note.txt", "text/plain", text)]) == []


def test_an_unprintable_extension_is_shown_escaped() -> None:
    findings = check_attachments(NGDP, [Attachment("brev.\x00", "", PDF)])
    [finding] = [f for f in findings if f.rule == "policy.type.extension"]
    assert ".\\u0000 files are not accepted" in finding.message and "\x00" not in finding.message
