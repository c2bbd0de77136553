"""configure_logging masks CPR numbers in every log line: event, values, keys, %-args, tracebacks, stdlib."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from graph_dpg.observability import configure_logging, get_logger, mask_cpr_processor

CPR = "0102031234"
DASHED = "010203-1234"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


class Recipient:
    def __str__(self) -> str:
        return f"Recipient({CPR})"


def _emit_everything() -> None:
    log = get_logger("graph_dpg.test")
    log.info(f"sending to {CPR}", recipient=DASHED, nested={"to": [f"{CPR}@35833684.ngdp.digital-post.dk"]})
    log.info("positional %s", CPR)
    log.info("object value", who=Recipient(), as_int=int(CPR[1:]) * 10 + 1)
    log.info("key", **{f"cpr_{CPR}": 1})
    logging.getLogger("some.library").warning("library says %s", DASHED)
    try:
        raise ValueError(f"bad recipient {CPR}")
    except ValueError:
        log.exception("structlog failure")
        logging.getLogger("some.library").exception("stdlib failure")


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_never_contain_a_cpr() -> None:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    _emit_everything()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 7
    events = [json.loads(line) for line in lines]
    # "2031234" is in every clear form used above (also the 10-digit int); timestamps cannot contain it.
    assert all("2031234" not in line and "203-1234" not in line for line in lines)
    assert events[0]["event"] == "sending to 010203-xxxx"
    assert events[0]["recipient"] == "010203-xxxx"
    assert events[0]["nested"] == {"to": ["010203-xxxx@35833684.ngdp.digital-post.dk"]}
    assert events[1]["event"] == "positional 010203-xxxx"
    assert events[2]["who"] == "Recipient(010203-xxxx)"
    assert "cpr_010203-xxxx" in events[3]
    assert events[4] == events[4] | {"event": "library says 010203-xxxx", "logger": "some.library"}
    assert "ValueError: bad recipient 010203-xxxx" in events[5]["exception"]
    assert "ValueError: bad recipient 010203-xxxx" in events[6]["exception"]
    assert events[0]["level"] == "info"
    assert events[0]["timestamp"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_console_lines_never_contain_a_cpr() -> None:
    stream = io.StringIO()
    configure_logging("console", "INFO", stream=stream)
    _emit_everything()
    text = stream.getvalue()
    assert "010203-xxxx" in text
    assert CPR not in text
    assert DASHED not in text
    assert "Traceback" in text


@pytest.mark.usefixtures("restore_logging")
def test_reconfiguring_replaces_its_own_handler_and_honours_the_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "INFO", stream=first)
    configure_logging("json", "WARNING", stream=second)
    get_logger("x").info("dropped")
    get_logger("x").warning("kept")
    assert first.getvalue() == ""
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["kept"]


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_bad_arguments_are_refused(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match="log"):
        configure_logging(fmt, level)


def test_processor_leaves_non_cpr_values_alone() -> None:
    event = {"event": "ok", "count": 3, "ratio": 0.5, "flag": True, "none": None, "cvr": "35833684"}
    assert mask_cpr_processor(None, "info", dict(event)) == event


def test_uuids_are_never_mangled_but_a_cpr_beside_one_is_masked():
    from graph_dpg.domain.identifiers import mask_cprs

    memo = "8f313660-1234-4d09-8a1b-123456789012"
    assert mask_cprs(f"ngdp memo {memo} accepted") == f"ngdp memo {memo} accepted"
    assert mask_cprs(f"{memo} til 0101701234") == f"{memo} til 010170-xxxx"
