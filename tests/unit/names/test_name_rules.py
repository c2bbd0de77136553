"""The pure rules of issue 20: which number is which, CPR masking, and the statuses from the registers'
records (protected and ceased never carry a name)."""

from __future__ import annotations

from datetime import date

import pytest

from graph_dpg.core.errors import IdentifierError
from graph_dpg.domain.names import (
    NameResult,
    classify_number,
    cpr_result,
    cvr_result,
    recipient_label,
    registration_of,
)

TODAY = date(2026, 12, 4)


def person(status: str = "01", protection: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "personnummer": "0101708881",
        "status": status,
        "navn": {"adresseringsnavn": None, "fornavne": "Jens", "mellemnavn": "Peter", "efternavn": "Hansen"},
        "beskyttelse": protection or [],
    }


def company(
    *, end: str | None = None, status: str = "Aktiv", history: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {
        "cvrNummer": 12345674,
        "navne": history
        or [{"navn": "Eksempel Handel ApS", "periode": {"gyldigFra": "2010-01-01", "gyldigTil": end}}],
        "livsforloeb": [{"periode": {"gyldigFra": "2010-01-01", "gyldigTil": end}}],
        "virksomhedMetadata": {"sammensatStatus": status},
    }


def test_classify_cpr_and_cvr() -> None:
    assert classify_number(" 010170-8881 ") == ("cpr", "0101708881")
    assert classify_number("12345674") == ("cvr", "12345674")
    with pytest.raises(IdentifierError):
        classify_number("12345675")  # CVR modulus 11 fails
    with pytest.raises(IdentifierError) as caught:
        classify_number("3213701234")  # no 32nd day
    assert "3213701234" not in str(caught.value)
    with pytest.raises(IdentifierError):
        classify_number("hello")


def test_cpr_masked_in_json_and_repr() -> None:
    result = NameResult("cpr", "0101708881", "active", "Jens Hansen")
    assert result.to_json() == {
        "number": "010170-xxxx",
        "kind": "cpr",
        "name": "Jens Hansen",
        "status": "active",
    }
    assert "0101708881" not in repr(result)
    assert "Jens" not in repr(result)
    assert NameResult("cvr", "12345674", "unknown").to_json()["number"] == "12345674"


def test_only_an_active_result_has_a_name() -> None:
    with pytest.raises(ValueError):
        NameResult("cvr", "12345674", "inactive", "Lukket ApS")


def test_recipient_label() -> None:
    assert recipient_label("0101708881", "cpr", "Jens Hansen") == "Jens Hansen (010170-xxxx)"
    assert recipient_label("0101708881", "cpr", None) == "010170-xxxx"
    assert recipient_label("12345674", "cvr", "Eksempel ApS") == "Eksempel ApS (12345674)"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("01", "active"),
        ("05", "active"),
        (1, "active"),
        ("80", "inactive"),
        ("90", "inactive"),
        ("70", "inactive"),
        ("30", "unknown"),
        ("60", "unknown"),
    ],
)
def test_cpr_status_codes(status: object, expected: str) -> None:
    result = cpr_result("0101708881", person(status), TODAY)  # type: ignore[arg-type]
    assert result.status == expected
    assert (result.name is not None) == (expected == "active")


def test_cpr_name_joined_when_no_addressing_name() -> None:
    assert cpr_result("0101708881", person(), TODAY).name == "Jens Peter Hansen"


def test_protected_person_has_no_name() -> None:
    protected = person(
        protection=[
            {
                "beskyttelsestype": "NAVNE_OG_ADRESSEBESKYTTELSE",
                "virkningFra": "2020-01-01",
                "virkningTil": None,
            }
        ]
    )
    result = cpr_result("0101708881", protected, TODAY)
    assert (result.status, result.name) == ("protected", None)


def test_ended_or_future_protection_does_not_count() -> None:
    ended = person(
        protection=[
            {
                "beskyttelsestype": "NAVNE_OG_ADRESSEBESKYTTELSE",
                "virkningFra": "2019-01-01",
                "virkningTil": "2021-01-01",
            }
        ]
    )
    future = person(
        protection=[{"beskyttelsestype": "NAVNE_OG_ADRESSEBESKYTTELSE", "virkningFra": "2027-01-01"}]
    )
    other = person(protection=[{"beskyttelsestype": "REKLAMEBESKYTTELSE", "virkningFra": "2019-01-01"}])
    for record in (ended, future, other):
        assert cpr_result("0101708881", record, TODAY).status == "active"


def test_dead_protected_person_is_inactive_not_named() -> None:
    record = person("90", [{"beskyttelsestype": "NAVNE_OG_ADRESSEBESKYTTELSE"}])
    assert cpr_result("0101708881", record, TODAY) == NameResult("cpr", "0101708881", "inactive")


def test_no_record_is_unknown() -> None:
    assert cpr_result("0101708881", None, TODAY).status == "unknown"
    assert cvr_result("12345674", None).status == "unknown"


def test_active_company_current_name() -> None:
    history = [
        {"navn": "Gammelt Navn ApS", "periode": {"gyldigFra": "2000-01-01", "gyldigTil": "2009-12-31"}},
        {"navn": "Nyt  Navn ApS", "periode": {"gyldigFra": "2010-01-01", "gyldigTil": None}},
    ]
    result = cvr_result("12345674", company(history=history))
    assert (result.status, result.name) == ("active", "Nyt Navn ApS")


@pytest.mark.parametrize(
    "record",
    [
        company(end="2021-06-30"),  # life cycle closed
        company(status="Ophørt"),
        company(status="OPLØST EFTER KONKURS"),
        company(status="Tvangsopløst"),
    ],
)
def test_ceased_company_is_inactive_without_a_name(record: dict[str, object]) -> None:
    result = cvr_result("12345674", record)
    assert (result.status, result.name) == ("inactive", None)


def test_a_company_in_bankruptcy_is_still_active() -> None:
    assert cvr_result("12345674", company(status="UNDER KONKURS")).status == "active"


def test_registration_verdicts() -> None:
    assert registration_of(True, "REGISTERED") == "registered"
    assert registration_of(True, "EXEMPT") == "exempt"
    assert registration_of(True, "CLOSED") == "exempt"
    assert registration_of(False, None) == "unknown"
    assert registration_of(True, None) == "unknown"
