"""NameService: answers cached in memory for the TTL (injected clock), failures answered as ``error``
and logged once without a name, nothing but masked numbers in the log; the NgDP registration pre-check."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from graph_dpg.core.errors import TransientError
from graph_dpg.domain.names import NameKind, NameResult
from graph_dpg.observability import configure_logging
from graph_dpg.ports.digital_post import Contact
from graph_dpg.services.names import NameService, not_deliverable, precheck_registrations

CPR = "0101708881"
NAME = "Jens Hansen"


class FakeRegister:
    """A register that answers from a dict, counts its calls, and fails while ``failing`` is set."""

    def __init__(self, kind: NameKind, answers: dict[str, NameResult]) -> None:
        self.kind = kind
        self.answers = answers
        self.calls = 0
        self.failing = False

    async def lookup(self, number: str) -> NameResult:
        self.calls += 1
        if self.failing:
            raise TransientError("CPR lookup: the service failed", "datafordeler", 503)
        return self.answers.get(number, NameResult(self.kind, number, "unknown"))

    async def aclose(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def register() -> FakeRegister:
    return FakeRegister("cpr", {CPR: NameResult("cpr", CPR, "active", NAME)})


async def test_answers_are_cached_for_the_ttl(register: FakeRegister) -> None:
    clock = Clock()
    service = NameService([register], ttl_seconds=60, clock=clock)
    assert (await service.lookup(CPR)).name == NAME
    clock.now += 59
    assert (await service.lookup("010170-8881")).name == NAME  # the same number, written with a dash
    assert register.calls == 1
    clock.now += 2
    assert (await service.lookup(CPR)).name == NAME
    assert register.calls == 2


async def test_ttl_zero_never_caches(register: FakeRegister) -> None:
    service = NameService([register], ttl_seconds=0, clock=Clock())
    await service.lookup(CPR)
    await service.lookup(CPR)
    assert register.calls == 2


async def test_cache_is_bounded(register: FakeRegister) -> None:
    register.answers = {}
    service = NameService([register], ttl_seconds=60, max_entries=2, clock=Clock())
    for number in ("0101708881", "0202804442", "0303405553"):
        await service.lookup(number)
    await service.lookup("0101708881")  # evicted (least recently used), asked again
    assert register.calls == 4


async def test_failure_is_an_error_answer_logged_once_and_asked_again_later(
    register: FakeRegister, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    service = NameService([register], ttl_seconds=3600, clock=clock, error_ttl_seconds=60)
    register.failing = True
    with caplog.at_level(logging.WARNING, logger="graph_dpg.services.names"):
        failed = await service.lookup(CPR)
        again = await service.lookup(CPR)  # the receipt's lines are built again: no second request or log
    assert (failed.status, failed.name) == ("error", None)
    assert failed.reason is not None and "503" in failed.reason
    assert again == failed and register.calls == 1
    assert len(caplog.records) == 1
    register.failing = False
    clock.now += 61
    assert (await service.lookup(CPR)).name == NAME


async def test_a_kind_not_configured_is_an_error_without_a_request(register: FakeRegister) -> None:
    service = NameService([register])
    result = await service.lookup("12345674")
    assert (result.kind, result.status) == ("cvr", "error")
    assert result.reason == "CVR lookup is not configured"
    assert not service.enabled("cvr") and service.enabled("cpr")


async def test_lookup_many_keeps_the_order(register: FakeRegister) -> None:
    service = NameService([register])
    results = await service.lookup_many([CPR, "0202804442", CPR])
    assert [r.status for r in results] == ["active", "unknown", "active"]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


async def test_names_never_reach_the_log(register: FakeRegister, log_stream: io.StringIO) -> None:
    service = NameService([register], ttl_seconds=60, clock=Clock())
    result = await service.lookup(CPR)
    structlog.get_logger("graph_dpg.test").info("looked up", result=result, shown=repr(result))
    logging.getLogger("graph_dpg.test").warning("answer %r", result)
    register.failing = True
    await NameService([register]).lookup(CPR)
    text = log_stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    ours = [line for line in lines if line["logger"].startswith("graph_dpg")]
    assert len(ours) == 3  # the two lines above and the failure, once
    assert NAME not in text and "Jens" not in text
    assert CPR not in text
    assert "010170-xxxx" in text


class FakeNgdp:
    def __init__(self, contacts: dict[str, Contact | None], failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.contacts = contacts
        self.failing = failing

    async def lookup_contact(self, *, cpr: str | None = None, cvr: str | None = None) -> Contact | None:
        number = cpr or cvr or ""
        if number in self.failing:
            raise TransientError("contact lookup: cannot connect to NgDP", "ngdp")
        return self.contacts.get(number)


async def test_precheck_reports_exempt_and_unknown() -> None:
    ngdp = FakeNgdp(
        {
            CPR: Contact("1", "CITIZEN", "AUTOMATIC_REGISTRATION", "REGISTERED", has_cpr=True),
            "0202804442": Contact("2", "CITIZEN", "EXEMPT_LEFT_THE_COUNTRY", "EXEMPT", has_cpr=True),
            "12345674": Contact("3", "COMPANY", None, "REGISTERED", cvr_number="12345674"),
        },
        failing={"0404656664"},
    )
    checks = await precheck_registrations(ngdp, [CPR, "0202804442", "0303405553", "12345674", "0404656664"])  # type: ignore[arg-type]
    assert [c.registration for c in checks] == ["registered", "exempt", "unknown", "registered", "error"]
    grouped = not_deliverable(checks)
    assert [c.shown_number for c in grouped["exempt"]] == ["020280-xxxx"]
    assert [c.shown_number for c in grouped["unknown"]] == ["030340-xxxx"]
    assert "0202804442" not in repr(checks)
