"""Gateway address grammar (parse/format) and identifier validation, incl. every example of the sources."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from graph_dpg.core.errors import AddressError
from graph_dpg.domain.addresses import (
    MAX_MASS_COUNT,
    Channel,
    GatewayAddress,
    is_gateway_address,
    is_gateway_domain,
    normalize_gateway_domain,
    parse_address,
    validate_address,
)

CP_SENDER = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
CP_RECIPIENT = "bdcc201c-600c-4254-92c4-bab15dc075b5"
ORG_CVR = "35833684"  # the release notes' sender CVR; it passes modulus 11
SEED_FILE = Path(__file__).resolve().parents[4] / "shared" / "seeds" / "001_32c7f1e715ad6eef.txt"

# Every example address of the DPG release notes (seeds/001_...) and of docs/product.md, "Address grammar", with what the parser
# makes of it: (channel, sender kind, recipient kind, recipient, reply, recipient contact point, mass count).
SOURCE_EXAMPLES: dict[str, tuple[str, str, str | None, str | None, bool, str | None, int | None]] = {
    f"1234567890@{ORG_CVR}.mitdk.digital-post.dk": ("mitdk", "cvr", "cpr", "1234567890", False, None, None),
    f"1234567890@{CP_SENDER}.mitdk.digital-post.dk": ("mitdk", "contact_point", "cpr", "1234567890", False, None, None),
    f"87654321@{ORG_CVR}.mitdk.digital-post.dk": ("mitdk", "cvr", "cvr", "87654321", False, None, None),
    f"87654321@{CP_SENDER}.mitdk.digital-post.dk": ("mitdk", "contact_point", "cvr", "87654321", False, None, None),
    f"87654321.{CP_RECIPIENT}@{CP_SENDER}.mitdk.digital-post.dk": (
        "mitdk", "contact_point", "cvr", "87654321", False, CP_RECIPIENT, None,
    ),
    f"1234567890-reply@{ORG_CVR}.mitdk.digital-post.dk": ("mitdk", "cvr", "cpr", "1234567890", True, None, None),
    f"1234567890-reply@{CP_SENDER}.mitdk.digital-post.dk": (
        "mitdk", "contact_point", "cpr", "1234567890", True, None, None,
    ),
    f"1234567890-reply@{ORG_CVR}.ngdp.digital-post.dk": ("ngdp", "cvr", "cpr", "1234567890", True, None, None),
    f"1234567890-reply@{CP_SENDER}.ngdp.digital-post.dk": ("ngdp", "contact_point", "cpr", "1234567890", True, None, None),
    f"1234567890@{ORG_CVR}.ngdp.digital-post.dk": ("ngdp", "cvr", "cpr", "1234567890", False, None, None),
    f"1234567890@{CP_SENDER}.ngdp.digital-post.dk": ("ngdp", "contact_point", "cpr", "1234567890", False, None, None),
    f"87654321@{ORG_CVR}.ngdp.digital-post.dk": ("ngdp", "cvr", "cvr", "87654321", False, None, None),
    f"87654321@{CP_SENDER}.ngdp.digital-post.dk": ("ngdp", "contact_point", "cvr", "87654321", False, None, None),
    f"87654321.{CP_RECIPIENT}@{CP_SENDER}.ngdp.digital-post.dk": (
        "ngdp", "contact_point", "cvr", "87654321", False, CP_RECIPIENT, None,
    ),
    f"masseforsendelse-250@{ORG_CVR}.ngdp.digital-post.dk": ("ngdp", "cvr", None, None, False, None, 250),
}  # fmt: skip
# The release notes' NgDP list has "87654321. bdcc..." with a space: a typo, refused as white space.
SEED_TYPO = f"87654321. {CP_RECIPIENT}@{CP_SENDER}.ngdp.digital-post.dk"


@pytest.mark.parametrize("text", sorted(SOURCE_EXAMPLES))
def test_source_examples_parse(text: str) -> None:
    channel, sender_kind, recipient_kind, recipient, reply, contact_point, mass = SOURCE_EXAMPLES[text]
    address = parse_address(text)
    assert address.channel == Channel(channel)
    assert address.sender_kind == sender_kind
    assert address.sender_id == text.split("@")[1].split(".")[0]
    assert address.recipient_kind == recipient_kind
    assert address.recipient_id == recipient
    assert address.reply is reply
    assert address.recipient_contact_point == contact_point
    assert address.mass_count == mass
    assert address.is_mass is (mass is not None)
    assert address.domain == "digital-post.dk"
    assert address.format() == text
    assert parse_address(text.upper()) == address


@pytest.mark.parametrize("text", sorted(SOURCE_EXAMPLES))
def test_source_examples_are_placeholders_that_fail_validation(text: str) -> None:
    """1234567890 is no date and 87654321 fails modulus 11; the sender CVR and the mass address pass."""
    address = parse_address(text)
    rules = [(f.path, f.rule) for f in validate_address(address)]
    if address.recipient_id == "1234567890":
        assert rules == [("recipient", "cpr.date")]
    elif address.recipient_id == "87654321":
        assert rules == [("recipient", "cvr.modulus11")]
    else:
        assert address.is_mass
        assert rules == []


def test_seed_typo_with_space_is_refused_and_its_fixed_form_parses() -> None:
    with pytest.raises(AddressError, match=r"white space \(U\+0020\) at position 10"):
        parse_address(SEED_TYPO)
    assert parse_address(SEED_TYPO.replace(" ", "")).recipient_contact_point == CP_RECIPIENT


@pytest.mark.skipif(not SEED_FILE.exists(), reason="shared seeds not checked out next to the repository")
def test_every_seed_example_is_covered() -> None:
    # Numbered example lines: "  1. <address>, sendes med ..." (templates with [..] are not examples).
    found = set(re.findall(r"^\s*\d+\.\s+(.+?@\S+?digital-post\.dk)", SEED_FILE.read_text("utf-8"), re.M))
    assert found, "no examples found: has the seed file changed?"
    assert found <= set(SOURCE_EXAMPLES) | {SEED_TYPO}


def test_valid_identifiers_validate() -> None:
    address = parse_address(f"0102031234-reply.{CP_RECIPIENT}@13748136.eboks.digital-post.dk")
    assert validate_address(address) == []
    assert address.recipient_kind == "cpr"
    assert address.channel is Channel.EBOKS


def test_invalid_sender_cvr_is_a_finding() -> None:
    address = parse_address("0102031234@87654321.ngdp.digital-post.dk")
    assert [(f.path, f.rule) for f in validate_address(address)] == [("sender", "cvr.modulus11")]


def test_dashed_cpr_is_accepted_and_normalised() -> None:
    address = parse_address("010203-1234-reply@35833684.ngdp.digital-post.dk")
    assert address.recipient_id == "0102031234"
    assert address.reply
    assert address.format() == "0102031234-reply@35833684.ngdp.digital-post.dk"


def test_mixed_case_formats_canonical_lower_case() -> None:
    address = parse_address(
        f"1234567890-REPLY.{CP_RECIPIENT.upper()}@{CP_SENDER.upper()}.NgDP.Digital-Post.DK"
    )
    assert address.recipient_contact_point == CP_RECIPIENT
    assert address.sender_id == CP_SENDER
    assert address.format() == f"1234567890-reply.{CP_RECIPIENT}@{CP_SENDER}.ngdp.digital-post.dk"


def test_custom_gateway_domain() -> None:
    address = parse_address("0102031234@35833684.mitdk.dp.kommune.dk", "DP.Kommune.dk.")
    assert address.domain == "dp.kommune.dk"
    assert address.format() == "0102031234@35833684.mitdk.dp.kommune.dk"
    with pytest.raises(AddressError, match=re.escape("not the gateway domain 'dp.kommune.dk'")):
        parse_address("0102031234@35833684.mitdk.digital-post.dk", "dp.kommune.dk")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the address is empty"),
        ("0102031234.35833684.ngdp.digital-post.dk", "missing '@'"),
        ("a@b@35833684.ngdp.digital-post.dk", "more than one '@'"),
        ("@35833684.ngdp.digital-post.dk", "empty local part"),
        ("0102031234@", "empty domain"),
        ("0102031234@35833684.sms.digital-post.dk", "unknown channel 'sms'"),
        ("0102031234@35833684.digital-post.dk", "missing channel"),
        ("0102031234@ngdp.digital-post.dk", "missing sender"),
        ("0102031234@digital-post.dk", "missing sender and channel"),
        ("0102031234@35833684.ngdp.example.com", "not the gateway domain"),
        ("0102031234@35833684.ngdp.digital-post.dk.evil.com", "not the gateway domain"),
        ("0102031234@35833684.ngdp.xdigital-post.dk", "not the gateway domain"),
        ("0102031234@a.35833684.ngdp.digital-post.dk", "must be one label"),
        ("0102031234@35833684..ngdp.digital-post.dk", "empty label"),
        ("0102031234@358336840.ngdp.digital-post.dk", "sender CVR number must have 8 digits, got 9"),
        ("0102031234@3583368.ngdp.digital-post.dk", "sender CVR number must have 8 digits, got 7"),
        ("0102031234@dfebd0ca-e211-47e4-af3a-f0d3344f018.ngdp.digital-post.dk", "is not a UUID"),
        ("0102031234@dfebd0cae21147e4af3af0d3344f018e.ngdp.digital-post.dk", "neither a CVR number"),
        ("0102031234@gfebd0ca-e211-47e4-af3a-f0d3344f018e.ngdp.digital-post.dk", "is not a UUID"),
        ("0102031234@{dfebd0ca-e211-47e4-af3a-f0d3344f018e}.ngdp.digital-post.dk", "'{' at position 12"),
        ("010203123@35833684.ngdp.digital-post.dk", "got 9 digits"),
        ("01020312345@35833684.ngdp.digital-post.dk", "got 11 digits"),
        ("123@35833684.ngdp.digital-post.dk", "got 3 digits"),
        ("abc@35833684.ngdp.digital-post.dk", "must be a CPR number (10 digits) or a CVR number (8 digits)"),
        ("-reply@35833684.ngdp.digital-post.dk", "missing recipient before '-reply'"),
        ("0102031234-reply-reply@35833684.ngdp.digital-post.dk", "'-reply' may appear once"),
        ("0102031234_reply@35833684.ngdp.digital-post.dk", "'_' at position 11"),
        ("0102031234.@35833684.ngdp.digital-post.dk", "empty recipient contact point"),
        (f".{CP_RECIPIENT}@35833684.ngdp.digital-post.dk", "empty recipient before '.'"),
        ("0102031234.bdcc201c@35833684.ngdp.digital-post.dk", "contact point after '.' is not a UUID"),
        (f"0102031234.{CP_RECIPIENT}.x@35833684.ngdp.digital-post.dk", "is not a UUID"),
        (f"0102031234.{CP_RECIPIENT}-reply@35833684.ngdp.digital-post.dk", "'-reply' must come before"),
        ("masseforsendelse-250-reply@35833684.ngdp.digital-post.dk", "'-reply' is not allowed on mass"),
        (
            f"masseforsendelse-250.{CP_RECIPIENT}@35833684.ngdp.digital-post.dk",
            "contact point is not allowed",
        ),
        ("masseforsendelse-0@35833684.ngdp.digital-post.dk", "at least 1"),
        ("masseforsendelse-0250@35833684.ngdp.digital-post.dk", "leading zeros"),
        ("masseforsendelse-00@35833684.ngdp.digital-post.dk", "leading zeros"),
        ("masseforsendelse-@35833684.ngdp.digital-post.dk", "needs the recipient count"),
        ("masseforsendelse@35833684.ngdp.digital-post.dk", "needs the recipient count"),
        ("masseforsendelse250@35833684.ngdp.digital-post.dk", "needs the recipient count"),
        ("masseforsendelse-abc@35833684.ngdp.digital-post.dk", "whole number"),
        ("masseforsendelse--5@35833684.ngdp.digital-post.dk", "whole number"),
        ("masseforsendelse-1000001@35833684.ngdp.digital-post.dk", "above 1,000,000"),
        ("masseforsendelse-" + "9" * 40 + "@35833684.ngdp.digital-post.dk", "above 1,000,000"),
        ("masseforsendelse-250@35833684.mitdk.digital-post.dk", "only available on the ngdp channel"),
        (" 0102031234@35833684.ngdp.digital-post.dk", "white space (U+0020) at position 1"),
        ("0102031234@35833684.ngdp.digital-post.dk\n", "white space (U+000A)"),
        ("0102031234 @35833684.ngdp.digital-post.dk", "white space"),
        ("0102031234\t@35833684.ngdp.digital-post.dk", "white space (U+0009)"),
        ("0102031234\u00a0@35833684.ngdp.digital-post.dk", "U+00A0 NO-BREAK SPACE"),
        ("0102031234\u200b@35833684.ngdp.digital-post.dk", "U+200B ZERO WIDTH SPACE"),
        ("\ufeff0102031234@35833684.ngdp.digital-post.dk", "U+FEFF"),
        (
            "０102031234@35833684.ngdp.digital-post.dk",
            "non-ASCII digit U+FF10 FULLWIDTH DIGIT ZERO at position 1",
        ),
        ("010203123٤@35833684.ngdp.digital-post.dk", "non-ASCII digit U+0664 ARABIC-INDIC DIGIT FOUR"),
        ("0102031234@3583368𝟒.ngdp.digital-post.dk", "non-ASCII digit U+1D7D2"),
        ("0102031234@35833684.ngdр.digital-post.dk", "U+0440 CYRILLIC SMALL LETTER ER"),  # Cyrillic "р"
        ("0102031234@35833684.ngdp.digital-post.\u212ak", "U+212A KELVIN SIGN"),  # lower() would make it "k"
        ("0102031234+tag@35833684.ngdp.digital-post.dk", "'+' at position 11"),
        ('"0102031234"@35833684.ngdp.digital-post.dk', "'\"' at position 1"),
        ("Name <0102031234@35833684.ngdp.digital-post.dk>", "white space"),
        ("<0102031234@35833684.ngdp.digital-post.dk>", "'<' at position 1"),
        ("x" * 255, "longer than 254"),
        ("1" * 65 + "@35833684.ngdp.digital-post.dk", "local part is longer than 64"),
    ],
)
def test_grammar_errors_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    assert reason in info.value.reason
    assert info.value.address == text
    assert "0102031234" not in info.value.reason  # reasons never repeat the recipient number


def test_invalid_gateway_domain_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="invalid gateway domain"):
        parse_address("0102031234@35833684.ngdp.digital-post.dk", "bad domain")
    with pytest.raises(ValueError, match="invalid gateway domain"):
        normalize_gateway_domain("-x.dk")
    assert normalize_gateway_domain(" Digital-Post.DK. ") == "digital-post.dk"


@pytest.mark.parametrize(
    ("text", "gateway", "domain"),
    [
        ("0102031234@35833684.ngdp.digital-post.dk", True, True),
        ("ANY@X.EBOKS.DIGITAL-POST.DK", True, True),
        ("whatever@junk.mitdk.digital-post.dk", True, True),  # cheap check: parsing decides later
        ("x@35833684.sms.digital-post.dk", False, True),
        ("x@digital-post.dk", False, True),
        ("user@kommune.dk", False, False),
        ("x@35833684.ngdp.digital-post.dk.evil.com", False, False),
        ("x@ngdp.xdigital-post.dk", False, False),
        ("no-at-sign", False, False),
    ],
)
def test_cheap_gateway_checks(text: str, gateway: bool, domain: bool) -> None:
    assert is_gateway_address(text) is gateway
    assert is_gateway_domain(text) is domain


# --- properties ------------------------------------------------------------------------------------------

_uuids = st.uuids().map(str)
_domains = st.sampled_from(["digital-post.dk", "dp.example-kommune.dk", "x.y"])


@st.composite
def gateway_addresses(draw: st.DrawFn) -> GatewayAddress:
    domain = draw(_domains)
    channel = draw(st.sampled_from(list(Channel)))
    sender_kind = draw(st.sampled_from(["cvr", "contact_point"]))
    sender_id = draw(st.from_regex(r"[0-9]{8}", fullmatch=True) if sender_kind == "cvr" else _uuids)
    if channel is Channel.NGDP and draw(st.booleans()):
        count = draw(st.integers(min_value=1, max_value=MAX_MASS_COUNT))
        return GatewayAddress(channel, sender_kind, sender_id, None, None, mass_count=count, domain=domain)
    recipient_kind = draw(st.sampled_from(["cpr", "cvr"]))
    recipient_id = draw(
        st.from_regex(r"[0-9]{10}" if recipient_kind == "cpr" else r"[0-9]{8}", fullmatch=True)
    )
    return GatewayAddress(
        channel,
        sender_kind,
        sender_id,
        recipient_kind,
        recipient_id,
        reply=draw(st.booleans()),
        recipient_contact_point=draw(st.none() | _uuids),
        domain=domain,
    )


@given(gateway_addresses(), st.randoms(use_true_random=False))
def test_format_parse_round_trip(address: GatewayAddress, rnd: random.Random) -> None:
    text = address.format()
    assert parse_address(text, address.domain) == address
    # Case does not matter.
    shuffled = "".join(ch.upper() if rnd.random() < 0.5 else ch for ch in text)
    assert parse_address(shuffled, address.domain) == address


_ADDRESS_ALPHABET = st.sampled_from(list("0123456789abcdef-.@ngdpmitkeboksrlyaUX \t\u00a0١０𝟒ɡ"))


@given(
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet=_ADDRESS_ALPHABET, max_size=80),
        st.builds(
            lambda local: f"{local}@35833684.ngdp.digital-post.dk", st.text(alphabet=_ADDRESS_ALPHABET)
        ),
        st.builds(lambda dom: f"0102031234@{dom}.digital-post.dk", st.text(alphabet=_ADDRESS_ALPHABET)),
    )
)
@example("masseforsendelse-" + "9" * 5000 + "@35833684.ngdp.digital-post.dk")
@example("masseforsendelse-١٢@35833684.ngdp.digital-post.dk")
def test_arbitrary_text_only_raises_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as exc:
        reason = exc.reason
        assert reason, text
        return
    # Whatever parses is stable: formatting and parsing again gives the same value.
    assert parse_address(address.format()) == address
    assert is_gateway_address(text)
    validate_address(address)


# --- values built in code --------------------------------------------------------------------------------


def test_address_built_in_code_formats_and_parses_back() -> None:
    address = GatewayAddress(Channel.MITDK, "contact_point", CP_SENDER, "cvr", "13748136", reply=True)
    assert address.format() == f"13748136-reply@{CP_SENDER}.mitdk.digital-post.dk"
    assert parse_address(str(address)) == address


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"sender_id": "1234567"}, "CVR sender needs 8"),
        ({"sender_kind": "contact_point", "sender_id": CP_SENDER.upper()}, "lower-case"),
        ({"sender_kind": "smtp"}, "unknown sender kind"),
        ({"channel": "ngdp"}, "must be a Channel"),
        ({"recipient_id": "123456789"}, "cpr recipient needs 10"),
        ({"recipient_kind": "cvr"}, "cvr recipient needs 8"),
        ({"recipient_kind": None, "recipient_id": None}, "recipient kind"),
        ({"recipient_contact_point": "x"}, "recipient contact point"),
        ({"domain": "Digital-Post.dk"}, "lower-case"),
        ({"mass_count": 5}, "mass delivery has no recipient"),
        ({"recipient_kind": None, "recipient_id": None, "mass_count": 0}, "count of 1.."),
        (
            {"recipient_kind": None, "recipient_id": None, "mass_count": 5, "channel": Channel.EBOKS},
            "needs ngdp",
        ),
    ],
)
def test_inconsistent_values_are_refused(kwargs: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {
        "channel": Channel.NGDP,
        "sender_kind": "cvr",
        "sender_id": ORG_CVR,
        "recipient_kind": "cpr",
        "recipient_id": "0102031234",
    }
    with pytest.raises(ValueError, match=problem):
        GatewayAddress(**(fields | kwargs))  # type: ignore[arg-type]
