"""What a case worker reads in the parts of a split memo (domain.inbound_view), before and after a re-plan.

Part 1 cannot be corrected once it is in the mailbox: Graph updates a message's body and subject only while
isDraft = true (api-reference/v1.0/api/message-update.md, microsoft-graph-docs-contrib). So part 1 never
promises its count is final, and the parts written after a re-plan carry the corrected overview."""

from __future__ import annotations

from datetime import UTC, datetime

from graph_dpg import memo as m
from graph_dpg.domain.inbound_view import render_memo_part, split_banners
from graph_dpg.domain.split import SplitPlan

MB = 1024 * 1024
UID = "5b0f3f4e-2b1c-4c8e-9f51-3d0c1e6a7b20"


def _message() -> m.MemoMessage:
    return m.MemoMessage(
        header=m.MessageHeader(
            message_type="DIGITALPOST",
            message_uuid=UID,
            label="Tegninger",
            sender=m.Sender("29189846", "CVR", "Firma"),
            recipient=m.Recipient("29189846", "CVR", label="Kommune"),
        ),
        body=m.MessageBody(
            created_datetime=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            main_document=m.Document(
                "main",
                tuple(m.File("application/pdf", f"t{i}.pdf", "da", b"%PDF" + bytes(i)) for i in range(4)),
                label="Brev",
            ),
        ),
    )


def _body(plan: SplitPlan, part: int) -> str:
    return render_memo_part(_message(), plan, part, target_mailbox="byg@kommune.dk", reply_from=None).body


def test_part_1_says_more_mails_may_follow_than_it_lists() -> None:
    [banner] = split_banners(_message(), SplitPlan(10 * MB, ((0,), (1, 2, 3))))
    assert any("fordeles de resterende filer på flere mails end nævnt her" in line for line in banner.lines)


def test_without_a_replan_only_the_last_part_says_it_is_last_and_nothing_is_corrected() -> None:
    plan = SplitPlan(10 * MB, ((0,), (1,), (2, 3)))
    second, third = _body(plan, 2), _body(plan, 3)
    assert "Rettet oversigt" not in second + third
    assert "Dette er den sidste mail af brevet" not in second
    assert "Dette er den sidste mail af brevet" in third


def test_after_a_replan_every_later_part_corrects_part_1_and_names_its_real_subject() -> None:
    plan = SplitPlan(6 * MB, ((0,), (1,), (2,), (3,)), (), False, announced=2)
    for part in (2, 3, 4):
        body = _body(plan, part)
        assert "Rettet oversigt: Del 1 nævner 2 mails" in body and "Brevet er nu 4 mails" in body
        assert "Del 4 af 4: t3.pdf" in body  # the final layout
        assert "(emne &quot;Tegninger (del 1 af 2)&quot;)" in body  # part 1 kept its subject
    assert "Dette er den sidste mail af brevet" in _body(plan, 4)


def test_a_file_left_out_by_the_replan_is_named_in_the_later_parts() -> None:
    plan = SplitPlan(MB, ((0,), (1,), (2,)), (3,), False, announced=2)
    body = _body(plan, 2)
    assert "t3.pdf" in body and "er større end postkassens grænse på 1,0 MB" in body
    assert "bed jeres it-afdeling om den, og oplys linjen nederst" in body
    assert f"Til it-support: messageUUID {UID}" in body
