import csv
import io

from graph_dpg.core.errors import Finding
from graph_dpg.domain.receipts import (
    FAILURE_DETAILS_NAME,
    FINDINGS_NAME,
    MAX_FINDINGS_IN_BODY,
    MAX_SUPPORT_CHARS,
    MAX_TEXT_IN_BODY,
    JobCategory,
    RecipientLine,
    RecipientStatus,
    category_for,
    render_error_receipt,
    render_receipt,
)

S = RecipientStatus


def rows(n_ok, n_failed):
    out = [RecipientLine(f"0101{i:02d}-xxxx", S.ACCEPTED, f"uuid-{i}", line=i + 1) for i in range(n_ok)]
    out += [
        RecipientLine(
            f"0202{i:02d}-xxxx", S.REJECTED, f"bad-{i}", detail="Recipient not registered", line=100 + i
        )
        for i in range(n_failed)
    ]
    return out


def test_all_ok_small_receipt_lists_every_recipient_in_danish():
    mail = render_receipt("Afgørelse", rows(3, 0))
    assert mail.subject == "DPG kvittering: Afgørelse"
    assert mail.html.count("<tr>") == 4  # header + 3 recipients
    assert "Sendt" in mail.html and mail.attachments == ()


def test_failures_marked_and_english():
    mail = render_receipt("Decision", rows(2, 1), language="en")
    assert mail.subject == "DPG receipt with errors: Decision"
    assert "Digital Post refused the letter for this recipient" in mail.html and "Failed" in mail.html
    # NgDP's own words only in the support line at the end.
    assert mail.html.count("Recipient not registered") == 1
    assert mail.html.index("Support: Recipient not registered") > mail.html.index("</table>")


def test_many_failures_go_into_details_file():
    mail = render_receipt("Brev", rows(5, 12))
    names = [n for n, _ in mail.attachments]
    assert names == [FAILURE_DETAILS_NAME]
    text = dict(mail.attachments)[FAILURE_DETAILS_NAME].decode("utf-8-sig")
    assert text.count("\r\n") == 13  # header + 12 failures
    assert "bad-11" in text and "uuid-0" not in text


def test_mass_receipt_attaches_full_list():
    mail = render_receipt("Masse", rows(1000, 2))
    names = [n for n, _ in mail.attachments]
    assert names == ["modtagere.csv", FAILURE_DETAILS_NAME]
    assert len(mail.html) < 20_000
    assert dict(mail.attachments)["modtagere.csv"].decode("utf-8-sig").count("\r\n") == 1003


def test_subject_never_carries_a_cpr():
    mail = render_receipt("Sag om 010203-1234 og 0102031234", rows(1, 0))
    assert "1234" not in mail.subject
    err = render_error_receipt("Til 0102031234", [Finding("x", "recipient 0102031234 invalid")])
    assert "0102031234" not in err.subject and "0102031234" not in err.html


def test_error_receipt_lists_what_to_fix():
    err = render_error_receipt(
        "Brev",
        [
            Finding(
                "policy.count",
                "11 attachments; at most 10",
                "attachments",
                params={"count": 11, "limit": 10},
            ),
            Finding(
                "filename.empty",
                "renamed",
                severity="warning",
                params={"file": "'...'", "renamed": "'attachment'"},
            ),
        ],
    )
    assert err.subject == "DPG fejlkvittering: Brev"
    assert "Mailen har 11 vedhæftede filer, men Digital Post modtager højst 10." in err.html
    assert "Intet er sendt" in err.html and "den er sendt med navnet &#x27;attachment&#x27;" in err.html
    # The codes only in the one support line at the end; the English messages nowhere.
    assert err.html.count("policy.count") == 1 and "Support: policy.count, filename.empty" in err.html
    assert "at most" not in err.html and "renamed" not in err.html


def test_category_for_states():
    assert category_for([RecipientLine("a", S.PENDING)]) is JobCategory.QUEUED
    assert category_for([RecipientLine("a", S.ACCEPTED)]) is JobCategory.SENT
    assert (
        category_for([RecipientLine("a", S.COMPLETED), RecipientLine("b", S.RECEIVED)])
        is JobCategory.RECEIPTED
    )
    assert category_for([RecipientLine("a", S.COMPLETED), RecipientLine("b", S.FAILED)]) is JobCategory.FAILED


def test_an_error_receipt_shows_the_first_findings_and_attaches_them_all():
    errors = [
        Finding("mass.identifier", "bad", f"line {i}", params={"line": i, "value": "0101701234"})
        for i in range(40_000)
    ]
    notes = [
        Finding(
            "filename.empty", "renamed", severity="warning", params={"file": f"'{i}'", "renamed": f"'n{i}'"}
        )
        for i in range(60)
    ]
    err = render_error_receipt("Masse", [*errors, *notes])
    assert len(err.html.encode()) < 30_000
    assert err.html.count("<li>") == MAX_FINDINGS_IN_BODY * 2  # 50 errors, 50 of the notes
    assert "Her står de første 100 af 40060 punkter" in err.html and FINDINGS_NAME in err.html
    [(name, data)] = err.attachments
    lines = data.decode("utf-8-sig").split("\r\n")
    assert name == FINDINGS_NAME
    assert lines[0] == "Ret følgende og send mailen igen:" and lines[40_001] == ""
    assert lines[40_002] == "Bemærk:" and lines[-3].endswith("sendt med navnet 'n59'.")
    assert lines[-1] == "Support: mass.identifier, filename.empty"
    assert "0101701234" not in data.decode("utf-8-sig")  # masked in the file too


def test_a_long_finding_is_clipped_in_the_body_and_whole_in_the_file():
    long = "x" * 100_000
    err = render_error_receipt(
        "Brev", [Finding("policy.empty", "empty", params={"file": long})], language="en"
    )
    assert len(err.html) < 5_000
    assert "x" * (MAX_TEXT_IN_BODY - 20) in err.html and "…" in err.html
    assert "x" * MAX_TEXT_IN_BODY not in err.html
    assert "The first 1 of 1 items are listed here" in err.html
    [(_, data)] = err.attachments
    assert long in data.decode("utf-8-sig")


def test_few_short_findings_need_no_attachment():
    err = render_error_receipt(
        "Brev", [Finding("policy.count", "11 attachments; at most 10")] * MAX_FINDINGS_IN_BODY
    )
    assert err.attachments == () and FINDINGS_NAME not in err.html


def test_a_receipt_with_many_warnings_attaches_them():
    warnings = [
        Finding("filename.empty", "x", severity="warning", params={"file": "'-'", "renamed": f"'omdøbt{i}'"})
        for i in range(5_000)
    ]
    mail = render_receipt("Brev", rows(2, 0), warnings=warnings)
    assert mail.html.count("<li>") == MAX_FINDINGS_IN_BODY and len(mail.html) < 20_000
    assert [n for n, _ in mail.attachments] == [FINDINGS_NAME]
    assert dict(mail.attachments)[FINDINGS_NAME].decode("utf-8-sig").count("omdøbt") == 5_000


def test_a_long_recipient_detail_is_clipped_in_the_body_and_in_the_details_file():
    detail = "RECIPIENT_NOT_FOUND: " + "y" * 50_000
    failed = [RecipientLine(f"0202{i:02d}-xxxx", S.REJECTED, f"bad-{i}", detail=detail) for i in range(11)]
    mail = render_receipt("Brev", failed)
    assert len(mail.html) < 11 * (MAX_TEXT_IN_BODY + 600)
    listed = dict(mail.attachments)[FAILURE_DETAILS_NAME].decode("utf-8-sig").split("\r\n")
    assert len(listed) == 1 + 11 + 1  # the header, the failures, the empty end after the last CRLF
    support = listed[1].split("\t")[-1]
    assert support == detail[: MAX_SUPPORT_CHARS - 1] + "…"


def test_status_words_are_the_words_of_the_state_categories():
    """One vocabulary (issue 17): the receipt's status words are the category names' words."""
    from graph_dpg.config.gateway import DEFAULT_CATEGORIES
    from graph_dpg.domain.receipts import _STATUS_TEXT, _category_of_status
    from graph_dpg.domain.texts import text

    for status, key in _STATUS_TEXT.items():
        name, _ = DEFAULT_CATEGORIES[_category_of_status(status).value]
        assert name == f"Digital Post: {text(key, 'da')}", status


def test_a_business_receipt_status_is_explained_in_words_with_the_action():
    exempt = RecipientLine("010170-xxxx", S.REJECTED, "u-1", ngdp_status="NOT_ALLOWED")
    invalid = RecipientLine("020170-xxxx", S.REJECTED, "u-2", ngdp_status="INVALID")
    da = render_receipt("Brev", [exempt, invalid]).html
    en = render_receipt("Brev", [exempt, invalid], language="en").html
    assert "fritaget for Digital Post" in da and "Send brevet med almindelig post." in da
    assert "Send the letter by physical post." in en and "refused the letter as invalid" in en
    for body in (da, en):
        assert "NOT_ALLOWED" not in body and "INVALID" not in body and "receipt:" not in body


def test_failed_recipients_are_listed_first_in_the_table_and_the_file():
    mail = render_receipt("Masse", rows(3, 1))
    assert mail.html.index("020200-xxxx") < mail.html.index("010100-xxxx")
    many = render_receipt("Masse", rows(300, 2))
    listed = list(csv.reader(io.StringIO(dict(many.attachments)["modtagere.csv"].decode("utf-8-sig"))))
    assert [row[1] for row in listed[1:3]] == ["020200-xxxx", "020201-xxxx"]
    assert "Modtagere: 302. Fejlet: 2. Sendt: 300." in many.html
