"""core.bounded: every zip member and JSON document is read within fixed bounds, and any input ends in a
ContentError (or its LimitExceededError), never another exception and never unbounded memory."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.core.bounded import BoundedZip, JsonLimits, ZipLimits, json_depth, load_json
from graph_dpg.core.errors import ContentError, LimitExceededError
from graph_dpg.domain.addresses import Channel
from graph_dpg.domain.mail import Attachment
from graph_dpg.domain.policies import DEFAULT_POLICIES, check_attachments, sniff, sniff_type

NGDP = DEFAULT_POLICIES[Channel.NGDP]
ODT_MIME = b"application/vnd.oasis.opendocument.text"


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _bomb(megabytes: int) -> bytes:
    """An OpenDocument-looking zip whose ``mimetype`` member inflates to ``megabytes`` MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("mimetype", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(megabytes):
                member.write(chunk)
        archive.writestr("content.xml", b"<x/>")
    return buffer.getvalue()


def _set_declared_size(data: bytes, name: bytes, size: int) -> bytes:
    """Make the local header and the central directory lie about a member's uncompressed size."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    while out[local + 30 : local + 30 + len(name)] != name:
        local = out.index(b"PK\x03\x04", local + 4)
    struct.pack_into("<L", out, local + 22, size)
    central = out.index(b"PK\x01\x02")
    while out[central + 46 : central + 46 + len(name)] != name:
        central = out.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<L", out, central + 24, size)
    return bytes(out)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _bomb(64)


# --- zip ---------------------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_from_its_directory_without_inflating(bomb: bytes) -> None:
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError) as info:
            BoundedZip(bomb)
        result = sniff(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.limit == "ratio"
    assert "decompression bomb" in str(info.value)
    assert result.limit and result.mime == "application/zip"
    assert peak < 2_000_000  # 64 MB if inflated; before the fix sniffing cost twice that


def test_a_bomb_attachment_is_an_expansion_finding(bomb: bytes) -> None:
    findings = check_attachments(NGDP, [Attachment("kontrakt.docx", "", bomb)])
    assert [f.rule for f in findings] == ["policy.type.expansion"]
    assert "could not be identified" in findings[0].message


def test_a_member_that_lies_about_its_size_inflates_at_most_the_cap() -> None:
    liar = _set_declared_size(_zip({"mimetype": b"\0" * 5_000_000, "content.xml": b"<x/>"}), b"mimetype", 10)
    tracemalloc.start()
    try:
        with BoundedZip(liar) as archive, pytest.raises(ContentError):
            archive.read("mimetype", 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_a_member_declared_too_large_for_the_cap_is_not_read() -> None:
    data = _zip({"mimetype": b"x" * 4096}, zipfile.ZIP_STORED)
    with BoundedZip(data) as archive, pytest.raises(LimitExceededError) as info:
        archive.read("mimetype", 1024)
    assert info.value.limit == "size"
    assert "4,096" in str(info.value)


def test_reading_within_bounds_returns_the_member() -> None:
    with BoundedZip(_zip({"mimetype": ODT_MIME})) as archive:
        assert archive.names() == ["mimetype"]
        assert archive.read("mimetype") == ODT_MIME


def _damaged_deflate() -> bytes:
    good = bytearray(_zip({"mimetype": ODT_MIME * 10, "content.xml": b"<x/>"}))
    start = good.index(b"mimetype") + len("mimetype")
    for i in range(start, start + 20):
        good[i] ^= 0x55
    return bytes(good)


def test_a_damaged_deflate_stream_is_content_not_identified() -> None:
    data = _damaged_deflate()
    with BoundedZip(data) as archive, pytest.raises(ContentError) as info:
        archive.read("mimetype")
    assert not isinstance(info.value, LimitExceededError)
    result = sniff(data)
    assert result.problem is not None and not result.limit
    findings = check_attachments(NGDP, [Attachment("brev.odt", "", data)])
    assert [f.rule for f in findings] == ["policy.type.unidentified"]
    assert "damaged zip member 'mimetype'" in findings[0].message


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_are_not_inflated(method: int) -> None:
    data = _zip({"mimetype": ODT_MIME}, method)
    with BoundedZip(data) as archive, pytest.raises(ContentError, match="compression method"):
        archive.read("mimetype")
    assert sniff(data).problem is not None


def test_an_encrypted_member_is_not_read() -> None:
    data = bytearray(_zip({"mimetype": ODT_MIME}, zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # general purpose flag: encrypted
    with BoundedZip(bytes(data)) as archive, pytest.raises(ContentError, match="encrypted"):
        archive.read("mimetype")


def test_too_many_members_are_refused_before_zipfile_reads_the_directory() -> None:
    data = _zip({f"part{i}.xml": b"<x/>" for i in range(30)})
    with pytest.raises(LimitExceededError) as info:
        BoundedZip(data, ZipLimits(max_members=20))
    assert info.value.limit == "members"
    # A ZIP64 end record (65,535 members) is refused the same way.
    eocd = data.rindex(b"PK\x05\x06")
    zip64 = bytearray(data)
    struct.pack_into("<HH", zip64, eocd + 8, 0xFFFF, 0xFFFF)
    with pytest.raises(LimitExceededError, match="ZIP64"):
        BoundedZip(bytes(zip64))


def test_no_end_record_is_a_damaged_container() -> None:
    with pytest.raises(ContentError, match="end-of-central-directory"):
        BoundedZip(b"PK\x03\x04" + b"\x00" * 100)
    assert sniff_type(b"PK\x03\x04" + b"\x00" * 100) == "application/zip"


@settings(max_examples=settings.default.max_examples // 2, deadline=None)
@given(st.data())
def test_mutated_containers_raise_only_content_errors(data: st.DataObject) -> None:
    base = bytearray(_zip({"mimetype": ODT_MIME, "content.xml": b"<office>" * 50}))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(base) - 1))
        base[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(base) // 2, len(base)))
    mutated = bytes(base[:cut])
    try:
        with BoundedZip(mutated) as archive:
            for name in archive.names():
                archive.read(name, 10_000)
    except ContentError:
        pass
    check_attachments(NGDP, [Attachment("brev.odt", "", mutated)])


# --- JSON --------------------------------------------------------------------------------------------


def test_json_within_bounds() -> None:
    assert load_json(b'\xef\xbb\xbf{"label": "\\u00c6ble \\ud83d\\ude00", "n": [1, 2.5, -3]}') == {
        "label": "Æble 😀",
        "n": [1, 2.5, -3],
    }


@pytest.mark.parametrize(
    ("data", "limit", "text"),
    [
        (b'{"label": ' + b"9" * 5000 + b"}", "number", "5,000 characters"),
        (b'{"label": 1' + b"0" * 60 + b".5}", "number", "characters"),
        (b"[" * 40 + b"]" * 40, "depth", "nested too deeply"),
        (b'"' + b"x" * 300_000 + b'"', "size", "larger than 256 KB"),
    ],
)
def test_json_beyond_a_bound(data: bytes, limit: str, text: str) -> None:
    with pytest.raises(LimitExceededError) as info:
        load_json(data)
    assert info.value.limit == limit
    assert text in str(info.value)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b'{"label": NaN}', "NaN is not a number"),
        (b'{"label": Infinity}', "Infinity is not a number"),
        (b"[-Infinity]", "-Infinity is not a number"),
        (b'{"label": 1e999}', "out of range"),
        (b'{"\\ud800": 1}', "lone surrogate (U+D800)"),
        (b'{"label": "a\\udfffb"}', "lone surrogate (U+DFFF)"),
        (b'{"a": [{"b": ["\\ud83d"]}]}', "lone surrogate (U+D83D)"),
        (b'{"label": "\xff"}', "not valid UTF-8 JSON"),
        (b"{nope", "not valid UTF-8 JSON"),
    ],
)
def test_json_that_is_not_what_it_claims(data: bytes, text: str) -> None:
    with pytest.raises(ContentError) as info:
        load_json(data)
    assert text in str(info.value)


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth('{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert json_depth('["\\"[[[", [[]]]') == 3
    assert json_depth("[" * 10_000, stop_above=5) == 6


def test_a_deep_document_is_refused_before_the_recursive_decoder_runs() -> None:
    with pytest.raises(LimitExceededError, match="nested too deeply"):
        load_json(b"[" * 100_000, JsonLimits(max_bytes=1_000_000))


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=30,
        ).map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    )
)
def test_any_bytes_give_a_value_or_a_content_error(data: bytes) -> None:
    try:
        value = load_json(data)
    except ContentError:
        return
    json.dumps(value, allow_nan=False).encode("utf-8")  # what came out is finite, encodable JSON
