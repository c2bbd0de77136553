"""Split delivery planning (graph_dpg.domain.split): properties over any files, sizes and limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graph_dpg.domain.split import (
    FOLLOW_UP_BODY,
    MIN_LIMIT,
    SplitPlan,
    encoded_cost,
    lowered_limit,
    part_capacity,
    plan_split,
    replan,
)

MB = 1024 * 1024

sizes_st = st.lists(st.integers(min_value=0, max_value=40 * MB), max_size=25)
limits_st = st.integers(min_value=MB, max_value=150 * MB)
bodies_st = st.integers(min_value=0, max_value=2 * MB)


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(sizes=sizes_st, limit=limits_st, first_body=bodies_st)
def test_every_file_is_in_exactly_one_part_or_oversized_and_order_is_kept(
    sizes: list[int], limit: int, first_body: int
) -> None:
    plan = plan_split(sizes, limit, first_body=first_body)
    placed = [i for part in plan.parts for i in part]
    assert sorted(placed + list(plan.oversized)) == list(range(len(sizes)))
    assert placed == sorted(placed)  # order kept across parts
    assert all(plan.parts[1:])  # only part 1 may be without files (the letter)


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(sizes=sizes_st, limit=limits_st, first_body=bodies_st)
def test_each_part_is_under_its_capacity_and_only_unfittable_files_are_oversized(
    sizes: list[int], limit: int, first_body: int
) -> None:
    plan = plan_split(sizes, limit, first_body=first_body)
    first_cap = part_capacity(limit, max(first_body, FOLLOW_UP_BODY))
    other_cap = part_capacity(limit, FOLLOW_UP_BODY)
    for number, part in enumerate(plan.parts, start=1):
        cost = sum(encoded_cost(sizes[i]) for i in part)
        if part:  # part 1 may be the letter alone (its body is the caller's business)
            assert cost <= (first_cap if number == 1 else other_cap)
            assert cost <= limit  # the estimate itself stays under the mailbox's limit
    for i in plan.oversized:
        assert encoded_cost(sizes[i]) > other_cap


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(sizes=sizes_st, limit=limits_st, first_body=bodies_st)
def test_part_1_holds_the_main_document_when_it_fits(sizes: list[int], limit: int, first_body: int) -> None:
    plan = plan_split(sizes, limit, first_body=first_body)
    first_cap = part_capacity(limit, max(first_body, FOLLOW_UP_BODY))
    fitting = [i for i in range(len(sizes)) if i not in plan.oversized]
    if fitting and encoded_cost(sizes[fitting[0]]) <= first_cap:
        assert plan.parts[0][:1] == (fitting[0],)


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(sizes=sizes_st, limit=limits_st, first_body=bodies_st)
def test_the_plan_survives_its_json(sizes: list[int], limit: int, first_body: int) -> None:
    plan = plan_split(sizes, limit, first_body=first_body, xml_size=sum(sizes) * 4 // 3)
    assert SplitPlan.from_json(plan.to_json()) == plan


def test_twelve_mb_in_a_five_mb_mailbox_is_four_mails_and_the_xml_stays_out() -> None:
    # main document + eight appendices of 1.5 MB: 12 MB of files, 16 MB once base64-encoded, so at least
    # four mails of 5 MB (three would hold 15 MB at most)
    sizes = [100_000] + [3 * MB // 2] * 8
    plan = plan_split(sizes, 5 * MB, first_body=100_000, xml_size=17 * MB)
    assert plan.parts == ((0, 1, 2), (3, 4), (5, 6), (7, 8))
    assert plan.oversized == () and not plan.attach_xml and plan.split
    assert plan.part_of(5) == 3


def test_four_mb_is_over_a_five_mb_limit_once_encoded() -> None:
    plan = plan_split([100_000, 4 * MB, 1_000], 5 * MB, first_body=100_000)
    assert plan.oversized == (1,) and plan.parts == ((0, 2),)


def test_a_small_memo_is_one_part_with_its_xml() -> None:
    plan = plan_split([50_000, 80_000], 35 * MB, first_body=30_000, xml_size=200_000)
    assert plan == SplitPlan(35 * MB, ((0, 1),), (), True)
    assert not plan.split and plan.part_of(1) == 1


def test_a_file_too_big_for_any_mail_is_oversized_and_the_rest_still_goes() -> None:
    plan = plan_split([10_000, 30 * MB, 20_000], 35 * MB, first_body=10_000)
    assert plan.oversized == (1,) and plan.parts == ((0, 2),) and plan.part_of(1) is None
    assert plan.split and not plan.attach_xml


@settings(max_examples=settings.default.max_examples, deadline=None)
@given(sizes=sizes_st, limit=limits_st, first_body=bodies_st, data=st.data())
def test_a_replan_keeps_the_delivered_parts_and_places_every_file_once(
    sizes: list[int], limit: int, first_body: int, data: st.DataObject
) -> None:
    plan = plan_split(sizes, limit, first_body=first_body)
    delivered = data.draw(st.integers(min_value=0, max_value=plan.total - 1))
    lower = lowered_limit(limit)
    if lower is None:
        return
    again = replan(plan, delivered, sizes, lower, first_body=first_body)
    assert again.parts[:delivered] == plan.parts[:delivered]
    placed = [i for part in again.parts for i in part]
    assert sorted(placed + list(again.oversized)) == list(range(len(sizes)))
    assert placed == sorted(placed)
    assert again.limit == lower < limit


def test_lowering_stops_at_the_minimum() -> None:
    steps, limit = 0, 150 * MB
    while (lower := lowered_limit(limit)) is not None:
        limit, steps = lower, steps + 1
    assert limit == MIN_LIMIT and steps < 20


def test_a_replan_after_part_1_remembers_what_part_1_announced_and_keeps_it() -> None:
    """Part 1 cannot be corrected in the mailbox (message-update.md: body and subject are updatable only
    while isDraft), so the later parts need to know how many mails part 1 promised."""
    sizes = [5 * MB, 2 * MB, 2 * MB, 2 * MB]
    plan = plan_split(sizes, 10 * MB, first_body=100_000)
    assert plan.parts == ((0,), (1, 2, 3)) and plan.announced == 0
    again = replan(plan, 1, sizes, 6 * MB, first_body=100_000)
    assert again.parts[0] == (0,) and again.total > plan.total and again.announced == 2
    third = replan(again, 2, sizes, MIN_LIMIT * 3, first_body=100_000)
    assert third.announced == 2  # still what part 1 says, not the first re-plan's count
    assert SplitPlan.from_json(third.to_json()) == third
    fresh = replan(plan, 0, sizes, 6 * MB, first_body=100_000)  # part 1 not delivered: written anew
    assert fresh.announced == 0


def test_a_plan_recorded_before_announced_existed_reads_as_not_revised() -> None:
    recorded = {"limit": 5 * MB, "parts": [[0], [1]], "oversized": [], "attach_xml": False}
    assert SplitPlan.from_json(recorded).announced == 0
