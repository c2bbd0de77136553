"""Findings in words: the sentence a person reads for a :class:`~graph_dpg.core.errors.Finding`.

Every rule code has a catalogue entry ``finding.<rule>`` (:mod:`graph_dpg.domain.texts`) that says what is
wrong and what to do, in Danish and English, filled from the finding's structured ``params`` (the file's
name, the recipient as written with the CPR masked, the line in masseforsendelse.txt, limits). The English
``message`` is for logs and IT; the rule codes go only in the one support line at the end of a receipt.

Findings whose rule starts with one of ``WORDED_PREFIXES`` are written from the catalogue in the mailbox's
language where they are found (secure mail: the signer and verdict are worded by the S/MIME code), so their
message is already the sentence.
"""

from __future__ import annotations

from collections.abc import Iterable

from graph_dpg.core.errors import Finding
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.texts import Text, text

#: Rules whose ``message`` is already a catalogue sentence in the mailbox's language.
WORDED_PREFIXES = ("smime.", "securemail.", "meeting.")

_PREFIX = "finding."

#: Rules under which earlier versions recorded a finding as text only (a job's warnings, a payload's error).
_LEGACY = frozenset({"warning", "error"})


def finding_key(rule: str) -> Text | None:
    """The catalogue key of ``rule``'s sentence, or None when the catalogue has none."""
    try:
        return Text(_PREFIX + rule)
    except ValueError:
        return None


def finding_sentence(finding: Finding, language: str) -> str:
    """What is wrong and what to do, in ``language`` (CPR numbers masked)."""
    if finding.rule.startswith(WORDED_PREFIXES):
        return mask_cprs(finding.message)
    if finding.rule in _LEGACY and finding.message and not finding.params:
        return mask_cprs(finding.message)  # recorded as text by an earlier version: nothing better is known
    key = finding_key(finding.rule)
    if key is not None:
        try:
            return mask_cprs(text(key, language, **{k: str(v) for k, v in finding.params.items()}))
        except KeyError:
            pass  # stored before the finding carried its parameters: the general sentence below
    fallback = Text.FINDING_WARNING if finding.severity == "warning" else Text.FINDING_ERROR
    return text(fallback, language)


def support_codes(findings: Iterable[Finding]) -> list[str]:
    """The distinct rule codes of ``findings``, in order of first appearance; a finding whose detail is
    for IT only (param ``support``, e.g. an unforeseen input error) adds it in parentheses."""
    codes = (f"{f.rule} ({f.params['support']})" if "support" in f.params else f.rule for f in findings)
    return list(dict.fromkeys(c for c in codes if c))


def support_line(findings: Iterable[Finding], language: str) -> str:
    """The one small line for IT support that names the rule codes ("" when there are none)."""
    codes = support_codes(findings)
    return text(Text.RECEIPT_SUPPORT_LINE, language, codes=", ".join(codes)) if codes else ""
