import codecs

from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.domain.mass import check_count, parse_mass_file

VALID_CPR = "0101701234"  # 1 Jan 1970, century digit 1 -> 1900s
VALID_CPR2 = "3112999995"
VALID_CVR = "35833684"  # the release notes' sender CVR passes modulus 11


def test_one_per_line_with_blank_lines_spaces_bom_and_crlf():
    data = codecs.BOM_UTF8 + f"  {VALID_CPR}  \r\n\r\n{VALID_CVR}\r\n010170-1235\r\n".encode()
    mass = parse_mass_file(data)
    assert mass.ok
    assert [(r.line, r.kind, r.id) for r in mass.recipients] == [
        (1, "cpr", VALID_CPR),
        (3, "cvr", VALID_CVR),
        (4, "cpr", "0101701235"),
    ]
    assert check_count(mass, 3) == []


def test_utf16_file_from_windows_tools():
    mass = parse_mass_file(codecs.BOM_UTF16_LE + f"{VALID_CPR}\r\n{VALID_CVR}".encode("utf-16-le"))
    assert [r.id for r in mass.recipients] == [VALID_CPR, VALID_CVR]


def test_invalid_lines_are_reported_with_line_numbers_and_masked():
    data = f"{VALID_CPR}\n123456789\n3213901234\n87654321\nabc\n".encode()
    mass = parse_mass_file(data)
    assert not mass.ok
    by_line = {f.path: f for f in mass.findings}
    assert set(by_line) == {
        "masseforsendelse.txt:2",
        "masseforsendelse.txt:3",
        "masseforsendelse.txt:4",
        "masseforsendelse.txt:5",
    }
    assert by_line["masseforsendelse.txt:3"].rule == "mass.identifier"
    assert "321390-xxxx" in by_line["masseforsendelse.txt:3"].message
    assert "3213901234" not in by_line["masseforsendelse.txt:3"].message
    assert by_line["masseforsendelse.txt:4"].rule == "mass.identifier"  # CVR modulus 11


def test_duplicates_are_errors():
    mass = parse_mass_file(f"{VALID_CPR}\n{VALID_CPR2}\n{VALID_CPR}\n".encode())
    assert [f.rule for f in mass.findings] == ["mass.duplicate"]
    assert "first on line 1" in mass.findings[0].message


def test_count_must_match_exactly():
    mass = parse_mass_file(f"{VALID_CPR}\n{VALID_CPR2}\n".encode())
    assert check_count(mass, 2) == []
    [finding] = check_count(mass, 3)
    assert finding.rule == "mass.count"
    assert "announces 3" in finding.message and "lists 2" in finding.message


def test_empty_file():
    mass = parse_mass_file(b"\n \n")
    assert [f.rule for f in mass.findings] == ["mass.empty"]
    assert check_count(mass, 1)[0].rule == "mass.count"


def test_large_list_parses():
    lines = "\n".join(f"{d:02d}0170{s:04d}" for d in range(1, 29) for s in range(0, 3600))
    mass = parse_mass_file(lines.encode())
    assert mass.ok and len(mass.recipients) == 28 * 3600


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data):
    mass = parse_mass_file(data)
    assert all(r.kind in ("cpr", "cvr") for r in mass.recipients)
