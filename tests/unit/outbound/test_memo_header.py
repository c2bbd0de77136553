import json
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.domain.memo_header import HeaderOverrides, is_header_file, leak_findings, parse_header_file


def test_fields_in_memo_names_and_snake_case():
    doc = {
        "label": "Afgørelse om boligstøtte",
        "notification": "Du har fået post",
        "legalNotification": True,
        "mandatory": "false",
        "reply": True,
        "replyByDateTime": "2026-12-01T12:00:00Z",
        "doNotDeliverUntilDate": "2026-12-24",
        "case_id": "S-2026-1",
        "KLE": "27.15.02",
        "AdditionalContentData": {"Sagsbehandler": "Åse"},
    }
    overrides, findings = parse_header_file("MemoHeader.json", json.dumps(doc).encode())
    assert findings == []
    assert overrides.label == "Afgørelse om boligstøtte"
    assert overrides.legal_notification is True and overrides.mandatory is False and overrides.reply is True
    assert overrides.reply_by == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert overrides.do_not_deliver_until == date(2026, 12, 24)
    assert overrides.case_id == "S-2026-1" and overrides.kle == "27.15.02"
    assert overrides.additional_content == (("Sagsbehandler", "Åse"),)


def test_wrapped_in_memoheader_object_and_bom():
    data = "\ufeff" + json.dumps({"MemoHeader": {"label": "x"}})
    overrides, findings = parse_header_file("memoheader.json", data.encode())
    assert findings == [] and overrides.label == "x"


def test_errors_are_precise():
    doc = {
        "lable": "typo",
        "reply": "maybe",
        "KLE": "abc",
        "replyBy": "2026-01-01T00:00:00",
        "contactPointId": "x",
    }
    _, findings = parse_header_file("MemoHeader.json", json.dumps(doc).encode())
    assert {f.rule for f in findings} == {
        "memoheader.unknown",
        "memoheader.type",
        "memoheader.kle",
        "memoheader.contactpoint",
    }
    assert any(f.path == "MemoHeader.json:lable" for f in findings)


def test_not_json():
    _, findings = parse_header_file("MemoHeader.json", b"{nope")
    assert findings[0].rule == "memoheader.json"


def test_merge_header_wins_over_info():
    info = HeaderOverrides(label="a", notification="n")
    header = HeaderOverrides(label="b")
    merged = info.merged(header)
    assert merged.label == "b" and merged.notification == "n"


def test_leak_guard():
    names = ["brev.pdf", "MemoHeader.json"]
    assert is_header_file(" MEMOHEADERINFO.JSON ")
    assert (
        leak_findings(names, ["a@x.ngdp.digital-post.dk"], is_digital_post=[True], internal_domains=["k.dk"])
        == []
    )
    assert leak_findings(names, ["sag@k.dk"], is_digital_post=[False], internal_domains=["k.dk"]) == []
    [f] = leak_findings(
        names,
        ["a@x.ngdp.digital-post.dk", "ekstern@gmail.com"],
        is_digital_post=[True, False],
        internal_domains=["k.dk"],
    )
    assert f.rule == "memoheader.leak" and "ekstern@gmail.com" in f.message
    assert (
        leak_findings(["brev.pdf"], ["ekstern@gmail.com"], is_digital_post=[False], internal_domains=[]) == []
    )


@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_crash(data):
    overrides, findings = parse_header_file("MemoHeader.json", data)
    assert isinstance(overrides, HeaderOverrides)
    assert all(f.rule.startswith("memoheader.") for f in findings)
