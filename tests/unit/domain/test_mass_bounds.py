"""masseforsendelse.txt within bounds: any file gives recipients and findings, never an exception; the
findings of a file of junk stay few; digits must be ASCII digits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.domain import mass as mass_module
from graph_dpg.domain.mass import MAX_LINE_FINDINGS, check_count, parse_mass_file

CPR = "0101700000"


def test_a_file_of_junk_gives_a_hundred_findings_and_a_summary() -> None:
    mass = parse_mass_file(b"junk\n" * 5_000 + f"{CPR}\n".encode())
    assert [f.rule for f in mass.findings].count("mass.line") == MAX_LINE_FINDINGS
    assert mass.findings[-1].rule == "mass.more"
    assert "4,900 more lines" in mass.findings[-1].message
    assert [r.id for r in mass.recipients] == [CPR]
    assert mass.entries == 5_001
    assert check_count(mass, 5_001) == []  # every line counts, listed or not


def test_reading_stops_after_the_largest_count_an_address_can_announce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mass_module, "MAX_MASS_COUNT", 3)
    mass = parse_mass_file(b"x\n" * 10)
    assert mass.entries == 3
    assert mass.findings[-1].rule == "mass.too-many"
    assert "read up to line 3" in mass.findings[-1].message


@pytest.mark.parametrize(
    "line",
    [
        "０１０１７００００",
        "٠١٠١٧٠٠٠٠٠",
        "0101７00000",
        "010170-００00",
        "𝟎𝟏𝟎𝟏𝟕𝟎𝟎𝟎𝟎𝟎",
        "1e9",
        "NaN",
        "-101700000",
    ],
)
def test_digits_that_are_not_ascii_digits_or_numbers_are_refused(line: str) -> None:
    mass = parse_mass_file(line.encode())
    assert [f.rule for f in mass.findings] == ["mass.line"]
    assert mass.recipients == ()


@given(st.text(alphabet=st.sampled_from(list("0123\n\r\x0b\x0c\x1c\x85\u2028 ab")), max_size=200))
def test_lines_are_read_exactly_as_splitlines_reads_them(text: str) -> None:
    assert list(mass_module._lines(text)) == text.splitlines()


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.one_of(
                st.from_regex(r"[0-9]{6}-?[0-9]{4}", fullmatch=True),
                st.from_regex(r"[0-9]{8}", fullmatch=True),
                st.text(max_size=12),
            ),
            max_size=40,
        ).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    )
)
def test_any_file_gives_recipients_and_findings_never_an_exception(data: bytes) -> None:
    mass = parse_mass_file(data)
    assert len(mass.findings) <= MAX_LINE_FINDINGS + 2
    assert len(mass.recipients) <= mass.entries
    for f in mass.findings:
        f.message.encode("utf-8")
    assert len({r.id for r in mass.recipients}) == len(mass.recipients)
    assert all(r.id.isascii() and r.id.isdigit() for r in mass.recipients)


def test_unprintable_characters_in_a_line_are_shown_escaped() -> None:
    mass = parse_mass_file(b"01017\x0000000\n\x1b[31m\n0101700000\xe2\x80\xae\n")
    messages = [f.message for f in mass.findings]
    assert messages[0].startswith("'01017\\u0000")
    assert messages[1].startswith("'\\u001b[31m'")
    assert messages[2].startswith("'010170-xxxx\\u202e'")  # masked, and the bidi control does not reorder
    assert not any("\x00" in m or "\x1b" in m or "\u202e" in m for m in messages)
