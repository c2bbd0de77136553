"""Addresses that look like the gateway domain but are not it are ordinary mail; those under it that only
look valid are refused by name. Nothing in between is treated as a gateway address."""

from __future__ import annotations

import pytest

from graph_dpg.core.errors import AddressError
from graph_dpg.domain.addresses import is_gateway_address, is_gateway_domain, parse_address

LOCAL = "0101701234@29189846"


@pytest.mark.parametrize(
    "address",
    [
        f"{LOCAL}.ngdp.digital-post.dk.evil.com",  # the gateway domain as a label of another domain
        f"{LOCAL}.ngdp.digital-post.dk.",  # trailing dot
        f"{LOCAL}.ngdp.digital-post.dk..",
        f"{LOCAL}.ngdp.digit\u0430l-post.dk",  # Cyrillic a
        f"{LOCAL}.ngdp.xn--digitl-post-9jf.dk",  # a punycode look-alike
        f"{LOCAL}.ngdp.digital\u2014post.dk",  # em dash
        f"{LOCAL}.ngdp.digital-post.dk\u200b",  # zero-width space after the domain
        f"{LOCAL}.ngdp.D\u0130G\u0130TAL-POST.DK",  # dotted capital I lower-cases to i + combining dot
        f'"{LOCAL}.ngdp.digital-post.dk"@evil.com',  # the whole address quoted as a local part
        f"{LOCAL}.ngdp.digital-post.dk@evil.com",
        f"0101701234@[{LOCAL[11:]}.ngdp.digital-post.dk]",  # an address literal
        f"{LOCAL}.ngdp.digital-post.dk:25",
    ],
)
def test_look_alikes_of_the_gateway_domain_are_not_gateway_addresses(address: str) -> None:
    assert not is_gateway_domain(address)
    assert not is_gateway_address(address)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (f"{LOCAL}\uff0engdp.digital-post.dk", "U+FF0E"),  # full-width full stop, under the gateway domain
        (f"{LOCAL}.ngdp.digital-post.d\u212a", "KELVIN SIGN"),  # lower-cases into the gateway domain
        (f"{LOCAL}.ngdp\u200b.digital-post.dk", "U+200B"),
        ("010170\u20111234@29189846.ngdp.digital-post.dk", "U+2011"),  # non-breaking hyphen in the CPR
    ],
)
def test_look_alikes_under_the_gateway_domain_are_refused_by_name(address: str, reason: str) -> None:
    assert is_gateway_domain(address)
    with pytest.raises(AddressError) as info:
        parse_address(address)
    assert reason in info.value.reason
