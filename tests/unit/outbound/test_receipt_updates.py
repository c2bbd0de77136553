"""The updated receipt (issue 17, "One receipt per send") and the pointer to the original, in da and en."""

import html
import re
from datetime import UTC, datetime

import pytest

from graph_dpg.domain.receipts import (
    MAX_CHANGES_IN_BODY,
    RecipientLine,
    RecipientStatus,
    render_error_receipt,
    render_failure_receipt,
    render_receipt,
)
from graph_dpg.services.effects import EffectKey

S = RecipientStatus
EXEMPT = RecipientLine("010170-xxxx", S.REJECTED, "u1", ngdp_status="NOT_ALLOWED")
OK = RecipientLine("020170-xxxx", S.COMPLETED, "u2")


def _text(mail_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", mail_html))


def test_the_danish_update_says_it_is_one_and_what_changed_in_words() -> None:
    mail = render_receipt("Indkaldelse", [OK, EXEMPT], changed=[EXEMPT])
    assert mail.subject == "DPG opdateret kvittering: Indkaldelse"
    shown = _text(mail.html)
    assert shown.startswith("Opdateret kvittering for din mail Indkaldelse.")
    assert (
        "Brevet til 010170-xxxx er nu afvist: Digital Post må ikke levere brevet til modtageren "
        "(fx er modtageren fritaget for Digital Post). Send brevet med almindelig post."
    ) in shown
    assert "Sådan står forsendelsen nu:" in shown
    assert "Modtagere: 2. Fejlet: 1. Kvitteret: 1." in shown  # the counts agree with the rows
    assert "NOT_ALLOWED" not in mail.html


def test_the_english_update_says_the_same() -> None:
    mail = render_receipt("Summons", [OK, EXEMPT], changed=[EXEMPT], language="en")
    assert mail.subject == "DPG updated receipt: Summons"
    shown = _text(mail.html)
    assert shown.startswith("Updated receipt for your mail Summons.")
    assert "The letter to 010170-xxxx has now been refused: Digital Post may not deliver" in shown
    assert "Recipients: 2. Failed: 1. Receipted: 1." in shown
    assert "Opdateret" not in shown and "NOT_ALLOWED" not in shown


def test_an_update_with_many_changes_names_the_first_and_counts_the_rest() -> None:
    changed = [
        RecipientLine(f"{i:02d}0170-xxxx", S.REJECTED, f"u{i}", ngdp_status="INVALID") for i in range(1, 26)
    ]
    mail = render_receipt("Masse", changed, changed=changed)
    shown = _text(mail.html)
    assert shown.count("er nu afvist") == MAX_CHANGES_IN_BODY
    assert f"De øvrige breve, der nu er afvist ({25 - MAX_CHANGES_IN_BODY})" in shown
    assert "Modtagere: 25. Fejlet: 25." in shown


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (datetime(2026, 12, 4, 15, 33, tzinfo=UTC), "04.12.2026 16:33"),  # winter time: UTC+1
        (datetime(2026, 7, 1, 7, 5, tzinfo=UTC), "01.07.2026 09:05"),  # summer time: UTC+2
    ],
)
def test_every_receipt_names_when_the_original_was_sent_in_danish_local_time(
    sent: datetime, shown: str
) -> None:
    mails = [
        render_receipt("Brev", [OK], sent_at=sent),
        render_receipt("Brev", [OK, EXEMPT], sent_at=sent, changed=[EXEMPT]),
        render_error_receipt("Brev", [], sent_at=sent),
        render_failure_receipt("Brev", "x", "ref", [OK], sent_at=sent),
    ]
    for mail in mails:
        assert f"Du sendte mailen {shown}." in _text(mail.html)
    english = render_receipt("Letter", [OK], sent_at=sent, language="en")
    assert f"You sent the mail on {shown}." in _text(english.html)


def test_without_a_sent_time_the_receipt_names_the_subject_only() -> None:
    mail = render_receipt("Brev", [OK])
    assert "Du sendte mailen" not in mail.html and "Brev" in mail.html


def test_update_keys_are_one_per_generation_and_read_back() -> None:
    assert str(EffectKey.receipt_update("j1", 2)) == "receipt:j1:update:2"
    assert EffectKey.receipt_update("j1", 2).update_generation == 2
    assert EffectKey.receipt("j1", business=True).update_generation == 1  # an earlier version's key
    assert EffectKey.receipt("j1").update_generation is None
