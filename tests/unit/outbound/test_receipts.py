from graph_dpg.core.errors import Finding
from graph_dpg.domain.receipts import (
    ALL_RECIPIENTS_NAME,
    FAILURE_DETAILS_NAME,
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
    assert "Afsendt" in mail.html and mail.attachments == ()


def test_failures_marked_and_english():
    mail = render_receipt("Decision", rows(2, 1), language="en")
    assert mail.subject == "DPG receipt with errors: Decision"
    assert "Recipient not registered" in mail.html and "Rejected" in mail.html


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
    assert names == [ALL_RECIPIENTS_NAME, FAILURE_DETAILS_NAME]
    assert len(mail.html) < 20_000
    assert dict(mail.attachments)[ALL_RECIPIENTS_NAME].decode("utf-8-sig").count("\r\n") == 1003


def test_subject_never_carries_a_cpr():
    mail = render_receipt("Sag om 010203-1234 og 0102031234", rows(1, 0))
    assert "1234" not in mail.subject
    err = render_error_receipt("Til 0102031234", [Finding("x", "recipient 0102031234 invalid")])
    assert "0102031234" not in err.subject and "0102031234" not in err.html


def test_error_receipt_lists_what_to_fix():
    err = render_error_receipt(
        "Brev",
        [
            Finding("policy.count", "11 attachments; at most 10", "attachments"),
            Finding("n", "renamed", severity="warning"),
        ],
    )
    assert err.subject == "DPG fejlkvittering: Brev"
    assert "attachments: 11 attachments; at most 10" in err.html
    assert "Intet er sendt" in err.html and "renamed" in err.html


def test_category_for_states():
    assert category_for([RecipientLine("a", S.PENDING)]) is JobCategory.QUEUED
    assert category_for([RecipientLine("a", S.ACCEPTED)]) is JobCategory.SENT
    assert (
        category_for([RecipientLine("a", S.COMPLETED), RecipientLine("b", S.RECEIVED)])
        is JobCategory.RECEIPTED
    )
    assert category_for([RecipientLine("a", S.COMPLETED), RecipientLine("b", S.FAILED)]) is JobCategory.FAILED
