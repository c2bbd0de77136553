"""Secure-mail address grammar: <local>=<domain>@sikkermail.<gateway-domain> (docs/product.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.core.errors import AddressError
from graph_dpg.domain.addresses import is_gateway_address, is_gateway_domain
from graph_dpg.domain.secure_addresses import (
    ATEXT,
    SecureMailAddress,
    is_secure_mail_address,
    parse_secure_address,
    secure_domain,
    wrap_address,
)


def test_the_documented_example_wraps_and_unwraps() -> None:
    a = parse_secure_address("post=kommune.dk@sikkermail.digital-post.dk")
    assert a.target == "post@kommune.dk"
    assert wrap_address("post@kommune.dk").format() == "post=kommune.dk@sikkermail.digital-post.dk"


def test_equals_in_the_local_part_needs_no_escape_because_domains_never_hold_it() -> None:
    # RFC 5322 3.2.3: '=' is atext; RFC 1123 2.1: host names are letters, digits and '-'. Split at the last '='.
    a = parse_secure_address("a=b==kommune.dk@sikkermail.digital-post.dk")
    assert a.local == "a=b=" and a.domain == "kommune.dk"
    assert wrap_address("a=b=@kommune.dk").format() == "a=b==kommune.dk@sikkermail.digital-post.dk"


def test_case_domain_lowered_local_kept_rfc5321_2_4() -> None:
    a = parse_secure_address("Jens.Hansen=Firma.DK@SikkerMail.Digital-Post.DK")
    assert a.target == "Jens.Hansen@firma.dk"
    assert a.format() == "Jens.Hansen=firma.dk@sikkermail.digital-post.dk"


def test_configured_gateway_domain() -> None:
    a = parse_secure_address("x=y.dk@sikkermail.dpg.example.org", "DPG.example.org.")
    assert a.gateway_domain == "dpg.example.org" and a.target == "x@y.dk"
    assert secure_domain("DPG.example.org.") == "sikkermail.dpg.example.org"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("post=kommune.dk", "missing '@'"),
        ("post=kommune.dk@ngdp.digital-post.dk", "not sikkermail.digital-post.dk"),
        ("post.kommune.dk@sikkermail.digital-post.dk", "missing '='"),
        ("=kommune.dk@sikkermail.digital-post.dk", "name before '=' is empty"),
        ("post=@sikkermail.digital-post.dk", "domain after '=' is empty"),
        ("post=localhost@sikkermail.digital-post.dk", "two labels"),
        ("post=[192.0.2.1]@sikkermail.digital-post.dk", "address literal"),
        ("post=kom_mune.dk@sikkermail.digital-post.dk", "not a DNS name"),
        ("post=-x.dk@sikkermail.digital-post.dk", "not a DNS name"),
        ("post=ngdp.digital-post.dk@sikkermail.digital-post.dk", "gateway domain itself"),
        ("post=sikkermail.digital-post.dk@sikkermail.digital-post.dk", "gateway domain itself"),
        (".post=kommune.dk@sikkermail.digital-post.dk", "start or end with '.'"),
        ("po..st=kommune.dk@sikkermail.digital-post.dk", "'..'"),
        ('"john doe"=kommune.dk@sikkermail.digital-post.dk', "quoted local part"),
        ("po(st=kommune.dk@sikkermail.digital-post.dk", "not allowed"),
        ("post =kommune.dk@sikkermail.digital-post.dk", "white space"),
        ("post=kommune.dk@sikkermail.digital-post.dk ", "white space"),
        ("pøst=kommune.dk@sikkermail.digital-post.dk", "non-ASCII"),
        ("post=kommunë.dk@sikkermail.digital-post.dk", "xn--"),
        ("post\u200b=kommune.dk@sikkermail.digital-post.dk", "invisible"),
        ("p" * 60 + "=kommune.dk@sikkermail.digital-post.dk", "longer than 64"),
    ],
)
def test_refusals_say_exactly_why(text: str, reason: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_secure_address(text)
    assert reason in info.value.reason


def test_a_long_real_address_cannot_be_wrapped() -> None:
    with pytest.raises(AddressError, match="too long to wrap"):
        wrap_address("p" * 60 + "@kommune.dk")


def test_wrap_refuses_quoted_and_missing_at() -> None:
    with pytest.raises(AddressError, match="quoted"):
        wrap_address('"a b"@kommune.dk')
    with pytest.raises(AddressError, match="missing '@'"):
        wrap_address("kommune.dk")


def test_values_built_in_code_obey_the_grammar() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        SecureMailAddress("post", "Kommune.DK")
    with pytest.raises(ValueError, match="inconsistent"):
        SecureMailAddress("post", "x.digital-post.dk")


def test_secure_addresses_are_under_the_gateway_domain_but_not_digital_post_addresses() -> None:
    # Under the gateway domain: the transport rule keeps them inside the tenant (RecipientDomainIs matches
    # the domain and its subdomains); not a Digital Post channel address, so never sent to NgDP.
    text = "post=kommune.dk@sikkermail.digital-post.dk"
    assert is_gateway_domain(text)
    assert not is_gateway_address(text)
    assert is_secure_mail_address(text)
    assert not is_secure_mail_address("1234567890@35833684.ngdp.digital-post.dk")
    assert not is_secure_mail_address("post@kommune.dk")


_LOCAL_CHARS = "".join(sorted(ATEXT))
_atom = st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=8)
_locals = st.lists(_atom, min_size=1, max_size=3).map(".".join)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_domains = st.lists(_label, min_size=2, max_size=3).map(".".join).filter(lambda d: "digital-post.dk" not in d)


@given(_locals, _domains)
def test_property_wrap_then_parse_gives_back_the_real_address(local: str, domain: str) -> None:
    if len(local) + 1 + len(domain) > 64:
        with pytest.raises(AddressError, match="too long to wrap"):
            wrap_address(f"{local}@{domain}")
        return
    wrapped = wrap_address(f"{local}@{domain}")
    parsed = parse_secure_address(wrapped.format())
    assert parsed == wrapped
    assert parsed.target == f"{local}@{domain}"
    assert is_secure_mail_address(wrapped.format())
    assert len(wrapped.format()) <= 254


@given(st.text(max_size=80))
def test_property_any_text_either_parses_canonically_or_raises_address_error(text: str) -> None:
    outcome: SecureMailAddress | AddressError
    try:
        outcome = parse_secure_address(text)
    except AddressError as exc:
        outcome = exc
    if isinstance(outcome, AddressError):
        assert outcome.reason
    else:
        assert parse_secure_address(outcome.format()) == outcome
