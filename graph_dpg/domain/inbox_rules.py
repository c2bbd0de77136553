"""Outlook inbox rules applied to the mail the gateway delivers (seed 001: "forbedret support for Outlook
indbakkeregler"). Pure: no I/O; the Graph adapter reads the rules, the inbound service applies the outcome.

The gateway creates delivered mail directly in a mailbox, so Exchange never runs the owner's inbox rules
on it. The rules are read from ``GET /users/{id}/mailFolders/inbox/messageRules`` (api-reference/v1.0/api/
mailfolder-list-messagerules.md; resources/messagerule.md, messagerulepredicates.md,
messageruleactions.md) and applied here, in ``sequence`` order, enabled ones only. A rule is applied only
when every condition, exception and action it uses can be honoured faithfully; a rule using anything else
is not applied at all (never half), and :func:`why_not` says why (``graph-dpg doctor`` lists it).

Honoured conditions (and the same as exceptions): ``fromAddresses``, ``senderContains``,
``subjectContains``, ``bodyContains``, ``bodyOrSubjectContains``, ``importance``. Honoured actions:
``moveToFolder``, ``assignCategories``, ``markImportance``, ``markAsRead``, ``stopProcessingRules``.

Matching: each ``...Contains`` list matches when any of its strings occurs in the field; the conditions of
a rule must all hold (messagerulepredicates.md: "conditions ... that when fulfilled, will trigger the
corresponding actions"; the rule fires when all its set conditions hold, and not when any exception holds).
The comparison ignores case, as Outlook's "contains specific words" conditions do; that Exchange compares
case-insensitively is an inference (the Graph pages do not say; docs/facts/inbox_rules.md). It is not
probed: observing it needs a rule created in a real mailbox, which doctor must not do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from graph_dpg.domain.mail import MailMessage

#: Predicates the gateway can evaluate on the mail it creates (messagerulepredicates.md).
SUPPORTED_PREDICATES = frozenset(
    {
        "fromAddresses",
        "senderContains",
        "subjectContains",
        "bodyContains",
        "bodyOrSubjectContains",
        "importance",
    }
)
#: Actions the gateway can carry out while creating the mail (messageruleactions.md).
SUPPORTED_ACTIONS = frozenset(
    {"moveToFolder", "assignCategories", "markImportance", "markAsRead", "stopProcessingRules"}
)


@dataclass(frozen=True)
class Predicates:
    from_addresses: tuple[str, ...] = ()
    sender_contains: tuple[str, ...] = ()
    subject_contains: tuple[str, ...] = ()
    body_contains: tuple[str, ...] = ()
    body_or_subject_contains: tuple[str, ...] = ()
    importance: str | None = None
    #: Predicate names set on the rule that the gateway cannot evaluate.
    unsupported: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.from_addresses
            or self.sender_contains
            or self.subject_contains
            or self.body_contains
            or self.body_or_subject_contains
            or self.importance
            or self.unsupported
        )


@dataclass(frozen=True)
class Actions:
    move_to_folder: str | None = None
    assign_categories: tuple[str, ...] = ()
    mark_importance: str | None = None
    mark_as_read: bool = False
    stop_processing_rules: bool = False
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboxRule:
    """One ``messageRule`` (resources/messagerule.md) as read from the mailbox."""

    id: str
    name: str
    sequence: int
    enabled: bool = True
    conditions: Predicates = field(default_factory=Predicates)
    exceptions: Predicates = field(default_factory=Predicates)
    actions: Actions = field(default_factory=Actions)
    has_error: bool = False  # isReadOnly/hasError: Exchange itself cannot run it


def why_not(rule: InboxRule) -> list[str]:
    """Why the gateway does not apply ``rule`` (empty: it is applied when it matches). IT words (doctor)."""
    reasons = [f"condition {n} is not supported" for n in rule.conditions.unsupported]
    reasons += [f"exception {n} is not supported" for n in rule.exceptions.unsupported]
    reasons += [f"action {n} is not supported" for n in rule.actions.unsupported]
    if rule.has_error:
        reasons.append("Exchange marks the rule as in error (hasError)")
    return reasons


def _contains(haystack: str, needles: Sequence[str]) -> bool:
    folded = haystack.casefold()
    return any(n.casefold() in folded for n in needles if n)


def _holds(p: Predicates, mail: MailMessage, body_text: str, importance: str) -> list[bool]:
    """One verdict per condition set on ``p``."""
    sender = mail.sender
    out: list[bool] = []
    if p.from_addresses:
        wanted = {a.casefold() for a in p.from_addresses}
        out.append(sender is not None and sender.address.casefold() in wanted)
    if p.sender_contains:
        out.append(sender is not None and _contains(f"{sender.name} {sender.address}", p.sender_contains))
    if p.subject_contains:
        out.append(_contains(mail.subject, p.subject_contains))
    if p.body_contains:
        out.append(_contains(body_text, p.body_contains))
    if p.body_or_subject_contains:
        out.append(_contains(f"{mail.subject}\n{body_text}", p.body_or_subject_contains))
    if p.importance:
        out.append(p.importance.casefold() == importance.casefold())
    return out


def matches(rule: InboxRule, mail: MailMessage, body_text: str, importance: str = "normal") -> bool:
    """All conditions hold (a rule without conditions applies to every message) and no exception holds."""
    conditions = _holds(rule.conditions, mail, body_text, importance)
    if not all(conditions):
        return False
    return not any(_holds(rule.exceptions, mail, body_text, importance))


@dataclass(frozen=True)
class RuleOutcome:
    """What the mailbox's rules do to one mail: the names of the rules that acted, and their effects."""

    rules: tuple[str, ...] = ()
    folder_id: str | None = None
    categories: tuple[str, ...] = ()
    importance: str | None = None
    mark_read: bool = False
    actions: tuple[str, ...] = ()  # the actions carried out, for the note and the log

    def to_json(self) -> dict[str, object]:
        return {
            "rules": list(self.rules),
            "folder_id": self.folder_id,
            "categories": list(self.categories),
            "importance": self.importance,
            "mark_read": self.mark_read,
            "actions": list(self.actions),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> RuleOutcome:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        folder, importance = data.get("folder_id"), data.get("importance")
        return cls(
            rules=strings("rules"),
            folder_id=folder if isinstance(folder, str) and folder else None,
            categories=strings("categories"),
            importance=importance if isinstance(importance, str) and importance else None,
            mark_read=bool(data.get("mark_read")),
            actions=strings("actions"),
        )


def apply_rules(
    rules: Sequence[InboxRule], mail: MailMessage, body_text: str, importance: str = "normal"
) -> RuleOutcome:
    """Run the enabled, honourable rules in ``sequence`` order on ``mail`` as Exchange would on arrival:
    categories accumulate, a later move wins, ``stopProcessingRules`` ends the run."""
    names: list[str] = []
    done: list[str] = []
    folder: str | None = None
    categories: list[str] = []
    marked: str | None = None
    read = False
    for rule in sorted(rules, key=lambda r: r.sequence):
        if not rule.enabled or why_not(rule) or not matches(rule, mail, body_text, marked or importance):
            continue
        a = rule.actions
        names.append(rule.name)
        if a.assign_categories:
            categories += [c for c in a.assign_categories if c not in categories]
            done.append("assignCategories")
        if a.mark_importance:
            marked = a.mark_importance.lower()
            done.append("markImportance")
        if a.mark_as_read:
            read = True
            done.append("markAsRead")
        if a.move_to_folder:
            folder = a.move_to_folder
            done.append("moveToFolder")
        if a.stop_processing_rules:
            break
    return RuleOutcome(tuple(names), folder, tuple(categories), marked, read, tuple(dict.fromkeys(done)))
