"""The routing rule engine: which mailbox, folder and categories an inbound item gets, and why.

See docs/product.md, "Routing" and "Rule engine".

Pure: no I/O, no settings. Rules come from the gateway file through ``graph_dpg.bootstrap.rules``;
items come from :mod:`graph_dpg.domain.routing` (a MeMo, or a mail from the main secure inbox).

Semantics (each one is a test):

* Rules run by ascending ``priority`` (ties: file order); disabled rules (in the file, or disabled at run
  time and persisted by the store) are skipped and named in the explanation.
* A rule matches when ``all`` (or ``any``) of its conditions hold and none of its exceptions holds.
* Every matching rule applies: categories add up, ``mark_read`` sticks, every ``archive_to`` gets a copy.
  The first matching rule with ``deliver_to`` decides the target; a later ``deliver_to`` is noted as
  ignored. ``stop`` ends the evaluation after its rule.
* Operators: ``equals``, ``contains``, ``regex`` (search, not full match) and ``exists``; case-insensitive
  unless ``case_sensitive``. A field may have several values (recipients, headers of the same name,
  attachments): a condition holds when it holds for any of them.
* Safeguard: each rule has a time budget (default 5 s). Regular expressions run with the ``regex``
  package's ``timeout=`` (the remaining budget), so a catastrophic pattern such as ``(a+)+$`` on a long
  body is abandoned instead of hanging the gateway; a rule that exceeds its budget does not match this
  item and is reported in ``RoutingDecision.timed_out`` so the service disables, persists and alerts.

Explanations never show a CPR number in clear: matched values are CPR-masked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal

import regex

from graph_dpg.domain.identifiers import mask_cprs

Operator = Literal["equals", "contains", "regex", "exists"]
MatchMode = Literal["all", "any"]

DEFAULT_RULE_TIMEOUT_SECONDS = 5.0
#: Longest text of one attachment the rules see (bytes before decoding): bounds memory and match time.
ATTACHMENT_TEXT_CAP = 1_000_000
#: Longest body text the rules see.
BODY_TEXT_CAP = 2_000_000

MAIL_FIELDS: frozenset[str] = frozenset(
    {"from", "original_from", "to", "recipients", "subject", "body", "attachment_name", "attachment_content"}
)
MEMO_FIELDS: frozenset[str] = frozenset(
    {
        "sender_id",
        "sender_id_type",
        "recipient_id",
        "recipient_contact_point",
        "sender_contact_point",
        "kle",
        "case_id",
        "message_type",
        "label",
        "message_uuid",
        "legal_notification",
        "mandatory",
        "post_type",
    }
)


class RuleDefinitionError(ValueError):
    """A rule cannot be built (e.g. its regular expression does not compile with the ``regex`` engine)."""


def compile_pattern(text: str, case_sensitive: bool = False) -> regex.Pattern[str]:
    """Compile a rule's regular expression (V0 = Python ``re`` syntax) or raise a clear error."""
    flags = regex.V0 | (0 if case_sensitive else regex.IGNORECASE)
    try:
        return regex.compile(text, flags)
    except regex.error as exc:
        raise RuleDefinitionError(f"regular expression {text!r} does not compile: {exc}") from None


@dataclass(frozen=True)
class RuleCondition:
    """``field op value``. ``field``: a name of :data:`MAIL_FIELDS`, ``header:<Name>`` or ``memo:<field>``."""

    field: str
    op: Operator
    value: str | None = None
    case_sensitive: bool = False
    pattern: regex.Pattern[str] | None = dc_field(default=None, compare=False, repr=False)

    @classmethod
    def make(
        cls, field_: str, op: Operator, value: str | None = None, case_sensitive: bool = False
    ) -> RuleCondition:
        """A condition with its regular expression compiled (``op == "regex"``)."""
        pattern = compile_pattern(value, case_sensitive) if op == "regex" and value is not None else None
        return cls(field_, op, value, case_sensitive, pattern)

    def describe(self) -> str:
        if self.op == "exists":
            return f"{self.field} exists"
        case = " (case-sensitive)" if self.case_sensitive else ""
        return f"{self.field} {self.op} '{self.value}'{case}"


@dataclass(frozen=True)
class RuleAction:
    deliver_mailbox: str | None = None
    deliver_folder: str | None = None
    categories: tuple[str, ...] = ()
    mark_read: bool = False
    archive_to: str | None = None
    stop: bool = False


@dataclass(frozen=True)
class RoutingRule:
    name: str
    conditions: tuple[RuleCondition, ...]
    action: RuleAction
    priority: int = 100
    enabled: bool = True
    match: MatchMode = "all"
    exceptions: tuple[RuleCondition, ...] = ()
    description: str | None = None  # what the rule does, in words for case workers (gateway file)


@dataclass(frozen=True)
class AttachmentText:
    """An attachment as rules see it: its name and, for JSON/XML/text attachments, its (capped) text."""

    name: str
    text: str | None = None


@dataclass(frozen=True)
class InboundItem:
    """What the rules look at, for a MeMo and for a mail alike. Absent MeMo fields are simply missing."""

    kind: Literal["memo", "mail"]
    subject: str = ""
    body: str = ""
    from_: tuple[str, ...] = ()
    original_from: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[AttachmentText, ...] = ()
    memo: Mapping[str, str] = dc_field(default_factory=dict)

    def values(self, name: str) -> list[str]:
        """Every value of a condition field (empty when the item has none)."""
        if name.startswith("header:"):
            wanted = name[7:].lower()
            return [v for k, v in self.headers if k.lower() == wanted]
        if name.startswith("memo:"):
            value = self.memo.get(name[5:])
            return [] if value is None else [value]
        simple: dict[str, Callable[[], Sequence[str]]] = {
            "from": lambda: self.from_,
            "original_from": lambda: self.original_from,
            "to": lambda: self.to,
            "recipients": lambda: self.recipients,
            "subject": lambda: [self.subject],
            "body": lambda: [self.body] if self.body else [],
            "attachment_name": lambda: [a.name for a in self.attachments],
            "attachment_content": lambda: [a.text for a in self.attachments if a.text is not None],
        }
        getter = simple.get(name)
        return list(getter()) if getter is not None else []


@dataclass(frozen=True)
class ConditionResult:
    condition: RuleCondition
    held: bool
    matched_value: str | None = None  # CPR-masked, shortened: for explanations only


@dataclass(frozen=True)
class RuleTrace:
    """How one rule fared against one item."""

    rule: RoutingRule
    matched: bool = False
    skipped: str | None = None  # why it was not evaluated ("disabled ...", "after stop")
    conditions: tuple[ConditionResult, ...] = ()
    exceptions: tuple[ConditionResult, ...] = ()
    timed_out: bool = False
    elapsed: float = 0.0

    @property
    def excepted_by(self) -> ConditionResult | None:
        return next((c for c in self.exceptions if c.held), None)

    def explain(self) -> list[str]:
        name = f"rule {self.rule.name!r} (priority {self.rule.priority})"
        if self.skipped:
            return [f"{name}: skipped, {self.skipped}"]
        if self.timed_out:
            return [f"{name}: took longer than its time budget ({self.elapsed:.1f} s): not applied, disabled"]
        lines = [f"{name}: {'MATCHED' if self.matched else 'no match'} (match {self.rule.match})"]
        for c in self.conditions:
            shown = f" [{c.matched_value!r}]" if c.held and c.matched_value is not None else ""
            lines.append(f"  {'✓' if c.held else '✗'} {c.condition.describe()}{shown}")
        for c in self.exceptions:
            lines.append(f"  {'✓' if c.held else '✗'} except {c.condition.describe()}")
        exc = self.excepted_by
        if exc is not None:
            lines.append(f"  cancelled by exception: {exc.condition.describe()}")
        return lines


@dataclass(frozen=True)
class RoutingDecision:
    """The outcome of all rules for one item."""

    traces: tuple[RuleTrace, ...] = ()
    deliver_mailbox: str | None = None
    deliver_folder: str | None = None
    deliver_rule: str | None = None
    categories: tuple[str, ...] = ()
    mark_read: bool = False
    archive_to: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def matched(self) -> tuple[RuleTrace, ...]:
        return tuple(t for t in self.traces if t.matched)

    @property
    def matched_rules(self) -> tuple[str, ...]:
        return tuple(t.rule.name for t in self.matched)

    @property
    def timed_out(self) -> tuple[RuleTrace, ...]:
        return tuple(t for t in self.traces if t.timed_out)

    def reasons(self) -> list[str]:
        """Short reasons for the banner / overview: the matching rules and the conditions that held."""
        out: list[str] = []
        for t in self.matched:
            held = [c.condition.describe() for c in t.conditions if c.held]
            out.append(f"{t.rule.name}: {'; '.join(held)}")
        return out

    def explain(self) -> list[str]:
        lines: list[str] = []
        for t in self.traces:
            lines.extend(t.explain())
        lines.extend(self.notes)
        return lines


class _Budget:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.start = clock()
        self.deadline = self.start + seconds

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start


class _RuleTimeout(Exception):
    pass


def _snippet(value: str, start: int = 0, end: int | None = None) -> str:
    part = value[start:end] if end is not None else value
    text = mask_cprs(" ".join(part.split()))
    return text if len(text) <= 80 else text[:77] + "..."


def _check(cond: RuleCondition, item: InboundItem, budget: _Budget) -> ConditionResult:
    values = item.values(cond.field)
    if cond.op == "exists":
        present = [v for v in values if v != ""] if not cond.field.startswith("header:") else values
        return ConditionResult(cond, bool(present), _snippet(present[0]) if present else None)
    wanted = cond.value or ""
    for value in values:
        if cond.op == "regex":
            pattern = cond.pattern or compile_pattern(wanted, cond.case_sensitive)
            left = budget.remaining()
            if left <= 0:
                raise _RuleTimeout
            try:
                found = pattern.search(value, timeout=left, concurrent=True)
            except TimeoutError:
                raise _RuleTimeout from None
            if found is not None:
                return ConditionResult(cond, True, _snippet(value, found.start(), found.end()))
        else:
            a, b = (value, wanted) if cond.case_sensitive else (value.casefold(), wanted.casefold())
            if cond.op == "equals" and a == b:
                return ConditionResult(cond, True, _snippet(value))
            if cond.op == "contains":
                at = a.find(b)
                if at >= 0:
                    return ConditionResult(cond, True, _snippet(value, at, at + len(wanted)))
        if budget.remaining() <= 0:
            raise _RuleTimeout
    return ConditionResult(cond, False)


def evaluate_rule(
    rule: RoutingRule,
    item: InboundItem,
    *,
    timeout: float = DEFAULT_RULE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> RuleTrace:
    """One rule against one item, within ``timeout`` seconds."""
    budget = _Budget(timeout, clock)
    try:
        conditions: list[ConditionResult] = []
        for cond in rule.conditions:
            result = _check(cond, item, budget)
            conditions.append(result)
            # Short-circuit like a reader would: the outcome is known, the rest only costs time.
            if (rule.match == "all" and not result.held) or (rule.match == "any" and result.held):
                break
        held = [c.held for c in conditions]
        matched = all(held) if rule.match == "all" else any(held)
        exceptions: list[ConditionResult] = []
        if matched:
            for cond in rule.exceptions:
                result = _check(cond, item, budget)
                exceptions.append(result)
                if result.held:
                    matched = False
                    break
    except _RuleTimeout:
        return RuleTrace(rule, timed_out=True, elapsed=budget.elapsed())
    elapsed = budget.elapsed()
    if elapsed > timeout:
        return RuleTrace(rule, timed_out=True, elapsed=elapsed)
    return RuleTrace(rule, matched, None, tuple(conditions), tuple(exceptions), False, elapsed)


def order_rules(rules: Sequence[RoutingRule]) -> list[RoutingRule]:
    """Evaluation order: ascending priority, then the given (file) order."""
    return [r for _, r in sorted(enumerate(rules), key=lambda p: (p[1].priority, p[0]))]


def evaluate_rules(
    rules: Sequence[RoutingRule],
    item: InboundItem,
    *,
    disabled: Collection[str] = (),
    timeout: float = DEFAULT_RULE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> RoutingDecision:
    """Every rule in order against ``item``; see the module docstring for the semantics."""
    traces: list[RuleTrace] = []
    notes: list[str] = []
    deliver: tuple[str, str | None, str] | None = None
    categories: dict[str, None] = {}
    archive: dict[str, None] = {}
    mark_read = False
    stopped_by: str | None = None
    for rule in order_rules(rules):
        if not rule.enabled:
            traces.append(RuleTrace(rule, skipped="disabled in the gateway file"))
            continue
        if stopped_by is not None:
            traces.append(RuleTrace(rule, skipped=f"rule {stopped_by!r} stopped the evaluation"))
            continue
        if rule.name in disabled:
            traces.append(RuleTrace(rule, skipped="disabled automatically (took too long earlier)"))
            continue
        trace = evaluate_rule(rule, item, timeout=timeout, clock=clock)
        traces.append(trace)
        if not trace.matched:
            continue
        act = rule.action
        if act.deliver_mailbox:
            if deliver is None:
                deliver = (act.deliver_mailbox, act.deliver_folder, rule.name)
            else:
                notes.append(
                    f"rule {rule.name!r}: deliver_to {act.deliver_mailbox} ignored, "
                    f"rule {deliver[2]!r} already chose {deliver[0]}"
                )
        categories.update(dict.fromkeys(act.categories))
        if act.archive_to:
            archive[act.archive_to.lower()] = None
        mark_read = mark_read or act.mark_read
        if act.stop:
            stopped_by = rule.name
    return RoutingDecision(
        traces=tuple(traces),
        deliver_mailbox=deliver[0] if deliver else None,
        deliver_folder=deliver[1] if deliver else None,
        deliver_rule=deliver[2] if deliver else None,
        categories=tuple(categories),
        mark_read=mark_read,
        archive_to=tuple(archive),
        notes=tuple(notes),
    )
