"""graph_dpg.adapters.graph.uri expands the adapter's kiota templates to the same URL as kiota's own
RFC 6570 expander (stduritemplate), and declines what it does not implement (RFC 6570, sections 1.5, 2.3,
3.2.2, 3.2.3, 3.2.8)."""

from __future__ import annotations

import pytest
from kiota_http.middleware import ParametersNameDecodingHandler
from stduritemplate import StdUriTemplate

from graph_dpg.adapters.graph.uri import expand, query_string

MESSAGE = "/users/{user%2Did}/messages/{message%2Did}{?%24select,%24expand,%24filter,%24top}"
BASE = "{+baseurl}"

IDS = [
    "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0ACrQYtysKVCKuLIPi1ja9KPWaG7e2yKsfADEHk6N7AAA=",
    "AQMkATO0fs_ackvIiNjXgTj44SkDvQNPGKRlSq_ROYDofAAAA==",
    "a+b/c=d",
    "sentitems",
    "æøå ÆØÅ",
    "100%",
    "fp000@bench.dk",
]


@pytest.mark.parametrize("message_id", IDS)
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"%24select": "categories"},
        {"%24select": ["id", "subject", "categories"], "%24expand": "attachments($select=id,name)"},
        {"%24filter": "internetMessageId eq '<a@b.dk>'", "%24select": "id", "%24top": "100"},
        {
            "%24filter": "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name y' and ep/value eq 'æ')",
            "%24select": ["id"],
        },
        {"%24select": []},
    ],
)
def test_same_url_as_kiotas_expander(message_id: str, query: dict[str, object]) -> None:
    data = {
        "baseurl": "http://127.0.0.1:8123/v1.0",
        "user%2Did": "fp000@bench.dk",
        "message%2Did": message_id,
    }
    data.update(query)
    template = BASE + MESSAGE
    assert expand(template, data) == StdUriTemplate.expand(template, data)


def test_template_without_query_and_undefined_values() -> None:
    template = "{+baseurl}/users/{user%2Did}/outlook/masterCategories{?%24top}"
    data = {"baseurl": "https://graph.microsoft.com/v1.0", "user%2Did": "a@b.dk"}
    assert expand(template, data) == StdUriTemplate.expand(template, data)
    assert (
        expand(template, data) == "https://graph.microsoft.com/v1.0/users/a%40b.dk/outlook/masterCategories"
    )


@pytest.mark.parametrize(
    ("template", "data"),
    [
        ("{+baseurl}/x{?a*}", {"baseurl": "http://h", "a": ["1"]}),  # explode modifier
        ("{+baseurl}/x{?a:3}", {"baseurl": "http://h", "a": "abcdef"}),  # prefix modifier
        ("{+baseurl}/x{#a}", {"baseurl": "http://h", "a": "1"}),  # fragment operator
        ("{+baseurl}/x{?a}", {"baseurl": "http://h", "a": True}),  # a bool: kiota sanitises it
        ("{+baseurl}/x", {"baseurl": "http://h/%7E"}),  # a pct-encoded triplet in + expansion
    ],
)
def test_declines_what_it_does_not_implement(template: str, data: dict[str, object]) -> None:
    assert expand(template, data) is None


@pytest.mark.parametrize(
    "query",
    [
        {"$select": "categories"},
        {"$select": ["id", "subject", "categories"], "$expand": "attachments($select=id,name)"},
        {"$filter": "internetMessageId eq '<a@b.dk>'", "$select": "id", "$top": 100},
        {
            "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name y' and ep/value eq 'æ')"
        },
        {"$select": [], "$top": 1},
    ],
)
def test_query_string_is_kiotas_query_with_decoded_names(query: dict[str, object]) -> None:
    """What kiota sent: the template's ``{?%24select,...}`` expanded, then ParametersNameDecodingHandler's
    ``%24`` → ``$`` in the names (kiota_http/middleware/parameters_name_decoding_handler.py)."""
    names = ",".join(k.replace("$", "%24") for k in query)
    data = {k.replace("$", "%24"): (str(v) if isinstance(v, int) else v) for k, v in query.items()}
    expanded = StdUriTemplate.expand("{?" + names + "}", data)
    decoding = ParametersNameDecodingHandler()
    kiota = decoding.decode_uri_encoded_string(expanded[1:], decoding.options.characters_to_decode)
    assert query_string(query) == kiota
