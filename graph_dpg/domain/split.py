"""Split delivery: a memo too big for one mail of the target mailbox, planned as numbered mails.

Exchange Online refuses a message bigger than the mailbox's maximum message size (35 MB unless the admin
changed it, up to 150 MB; docs/facts/graph.md, "Message size limit"), and counts the message as it travels:
every attachment base64-encoded, a third bigger than the file. A memo can carry more than that. It is
delivered as parts (:func:`plan_split`, pure, no I/O)::

    part 1      the letter: banner, overview, the main document inline, and the files that fit, in order
                (the main document's files come first in a memo, so part 1 holds the main document)
    part 2..N   the following files, in order, as many per mail as fit ("Del 2 af 3" ...)
    oversized   a file that does not fit into an empty mail on its own: not mailed at all; part 1's banner
                names it, its size and what to do (the gateway keeps the memo)

A mailbox that refuses part k > 1 as too big (its admin set less than the gateway was told) gets the parts
not delivered yet planned anew (:func:`replan`), so N can grow after part 1 is in the mailbox. Part 1 cannot
be corrected there (Graph updates a message's body and subject only while it is a draft:
api-reference/v1.0/api/message-update.md), so part 1 does not promise its N is final, and every part written
after such a re-plan says that part 1's overview is out of date (:attr:`SplitPlan.announced`) and lists the
final layout; the last part says it is the last.

Every part is estimated with a margin (:data:`SAFETY`): base64 (4 bytes per 3) plus a fixed overhead per
attachment for its MIME headers and name, plus the mail's own body, all under ``SAFETY`` x the limit, so
the line breaks of MIME's base64 (76 characters a line: +2.6 %) and the headers never tip a part over.
Order is kept; packing is next-fit, which for an order-keeping split gives the fewest parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Share of the mailbox's limit a part may fill by the estimate below (the rest absorbs what it ignores).
SAFETY = 0.9
#: Bytes counted per attachment beyond its base64: MIME part headers, file name, Graph's metadata.
ATTACHMENT_OVERHEAD = 2_048
#: What a follow-up part's own body and headers may take (its banner lists the parts and files).
FOLLOW_UP_BODY = 64 * 1024
#: The smallest limit a mailbox is assumed to have, however often it refuses (no endless lowering).
MIN_LIMIT = 1024 * 1024


def encoded_cost(size: int) -> int:
    """The estimated cost of a file of ``size`` bytes in a mail: base64 plus :data:`ATTACHMENT_OVERHEAD`."""
    return 4 * ((size + 2) // 3) + ATTACHMENT_OVERHEAD


def part_capacity(limit: int, body: int) -> int:
    """What the attachments of one mail may cost when its body takes ``body`` bytes."""
    return int(limit * SAFETY) - body


@dataclass(frozen=True)
class SplitPlan:
    """Which file goes into which mail. ``parts[0]`` is part 1 (the letter; it exists even without files);
    file numbers are indexes into the memo's files in order (``MemoMessage.files()``)."""

    limit: int
    parts: tuple[tuple[int, ...], ...]
    oversized: tuple[int, ...] = ()
    attach_xml: bool = True  # the MeMo XML fits into part 1 too (only when nothing is split or left out)
    #: After a re-plan with part 1 already in the mailbox: how many mails part 1 announced (its overview is
    #: out of date); 0 when part 1 was written with this plan's layout.
    announced: int = 0

    @property
    def total(self) -> int:
        return len(self.parts)

    @property
    def split(self) -> bool:
        return self.total > 1 or bool(self.oversized)

    def part_of(self, index: int) -> int | None:
        """The number (1-based) of the part that carries file ``index``; None when it is oversized."""
        for number, files in enumerate(self.parts, start=1):
            if index in files:
                return number
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "parts": [list(p) for p in self.parts],
            "oversized": list(self.oversized),
            "attach_xml": self.attach_xml,
            "announced": self.announced,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SplitPlan:
        limit, parts, oversized = data.get("limit"), data.get("parts"), data.get("oversized") or []
        announced = data.get("announced", 0)
        if not isinstance(limit, int) or not isinstance(parts, list) or not isinstance(oversized, list):
            raise ValueError("not a split plan")
        if not isinstance(announced, int):
            raise ValueError("not a split plan")
        return cls(
            limit,
            tuple(tuple(int(i) for i in p) for p in parts),
            tuple(int(i) for i in oversized),
            bool(data.get("attach_xml", False)),
            announced,
        )


def plan_split(
    sizes: Sequence[int],
    limit: int,
    *,
    first_body: int,
    other_body: int = FOLLOW_UP_BODY,
    xml_size: int | None = None,
) -> SplitPlan:
    """Plan the mails for files of ``sizes`` bytes (in the memo's order) under a mailbox ``limit``.

    ``first_body``: bytes of part 1's body and headers (the letter); ``other_body``: of a follow-up part's.
    ``xml_size``: the MeMo XML, attached to part 1 only when everything else fits into part 1 with it.

    Guarantees (tests/unit/domain/test_split.py): every file is in exactly one part or oversized; a part's
    estimated cost stays under its capacity unless it is empty; order is kept across parts; a file is
    oversized only when it does not fit into an empty follow-up mail; the first file that fits into part 1
    on its own is in part 1.
    """
    first_cap = part_capacity(limit, max(first_body, other_body))
    other_cap = part_capacity(limit, other_body)
    parts: list[list[int]] = [[]]
    oversized: list[int] = []
    used = 0
    cap = first_cap
    for index, size in enumerate(sizes):
        cost = encoded_cost(size)
        if cost > other_cap:  # first_cap <= other_cap: no mail could carry it
            oversized.append(index)
            continue
        if used + cost > cap:  # a full part, or part 1 that cannot hold this file even alone
            parts.append([])
            used = 0
            cap = other_cap
        parts[-1].append(index)
        used += cost
    attach_xml = (
        xml_size is not None
        and len(parts) == 1
        and not oversized
        and used + encoded_cost(xml_size) <= first_cap
    )
    return SplitPlan(limit, tuple(tuple(p) for p in parts), tuple(oversized), attach_xml)


def part_cost(
    plan: SplitPlan,
    part: int,
    sizes: Sequence[int],
    *,
    first_body: int,
    other_body: int = FOLLOW_UP_BODY,
    xml_size: int | None = None,
) -> int:
    """The estimated size of part ``part`` (1-based) of ``plan``: its files, its body, part 1's XML."""
    files = sum(encoded_cost(sizes[i]) for i in plan.parts[part - 1])
    if part > 1:
        return files + other_body
    xml = encoded_cost(xml_size) if plan.attach_xml and xml_size is not None else 0
    return files + max(first_body, other_body) + xml


def lowered_limit(limit: int) -> int | None:
    """The limit to assume after a mailbox refused a mail planned for ``limit`` as too big (its admin set
    less than the gateway was told): three quarters of it, never under :data:`MIN_LIMIT`; None when
    ``limit`` is that minimum already (no endless lowering: the refusal stands)."""
    if limit <= MIN_LIMIT:
        return None
    return max(MIN_LIMIT, limit * 3 // 4)


def replan(
    plan: SplitPlan,
    delivered: int,
    sizes: Sequence[int],
    limit: int,
    *,
    first_body: int,
    other_body: int = FOLLOW_UP_BODY,
) -> SplitPlan:
    """The plan after the mailbox refused part ``delivered + 1`` of ``plan``, for a lower ``limit``: the
    ``delivered`` parts stay as they are (they are in the mailbox); the files of the others are planned
    anew in follow-up parts after them. Nothing delivered: everything is planned anew.

    With part 1 delivered and a layout that changed, the new plan remembers how many mails part 1 announced
    (:attr:`SplitPlan.announced`: kept from the first re-plan on), so the parts written from now on can say
    that part 1's overview is out of date."""
    if delivered <= 0:
        return plan_split(sizes, limit, first_body=first_body, other_body=other_body)
    rest = [i for part in plan.parts[delivered:] for i in part]
    again = plan_split([sizes[i] for i in rest], limit, first_body=other_body, other_body=other_body)
    parts = plan.parts[:delivered] + tuple(tuple(rest[j] for j in part) for part in again.parts if part)
    oversized = tuple(sorted(plan.oversized + tuple(rest[j] for j in again.oversized)))
    changed = parts != plan.parts or oversized != plan.oversized
    announced = plan.announced or (plan.total if changed else 0)
    return SplitPlan(limit, parts, oversized, attach_xml=False, announced=announced)
