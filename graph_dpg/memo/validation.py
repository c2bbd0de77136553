"""``validate``: XSD (packaged schema of the message's own version) plus business rules, as findings.

The document is parsed once (safely, see :mod:`graph_dpg.memo.xmlsafe`); the version comes from its
``memoVersion``. XSD findings come first, then business-rule findings. Business rules need the model, so
they are skipped when the document is too broken to be read into it (the XSD findings say why).
Warnings (``Finding.severity == "warning"``) never make a message invalid.
"""

from __future__ import annotations

from graph_dpg.core.errors import Finding, MemoError, MemoValidationError
from graph_dpg.memo.codec import detect_version, message_from_element
from graph_dpg.memo.model import MemoMessage, MemoVersion
from graph_dpg.memo.payloads import load
from graph_dpg.memo.rules import check_rules
from graph_dpg.memo.schema import schema_findings

RULE_WELL_FORMED = "xml.well-formed"
RULE_MESSAGE = "memo.message"


def validate(
    data: bytes,
    *,
    mandatory_allowed: bool = False,
    legal_notification_allowed: bool = False,
    version: MemoVersion | None = None,
) -> list[Finding]:
    """Every finding for the MeMo XML ``data``; empty (or warnings only) when it may be sent.

    ``version`` forces the schema (e.g. to check a 1.1 document against 1.2); by default the document's
    ``memoVersion`` decides. Raises :class:`UnsafeXmlError` for DTD/entity tricks: those are an attack to
    report, not a finding to fix.
    """
    return parse_and_validate(
        data,
        mandatory_allowed=mandatory_allowed,
        legal_notification_allowed=legal_notification_allowed,
        version=version,
    )[1]


def parse_and_validate(
    data: bytes,
    *,
    mandatory_allowed: bool = False,
    legal_notification_allowed: bool = False,
    version: MemoVersion | None = None,
) -> tuple[MemoMessage | None, list[Finding]]:
    """``validate`` and ``parse`` with one XML parse: the model (``None`` when the document cannot be read
    into it) and every finding. For receivers, which need both."""
    try:
        root, payloads = load(data)
    except MemoError as exc:
        return None, [Finding(RULE_WELL_FORMED, str(exc), "")]
    try:
        detected = detect_version(root)
    except MemoError as exc:
        return None, [Finding(RULE_MESSAGE, str(exc), "/" + _local_name(root.tag))]
    findings = schema_findings(root, version or detected, payloads)
    try:
        message = message_from_element(root, payloads)
    except MemoError as exc:
        if not findings:
            findings.append(Finding(RULE_MESSAGE, str(exc), "/Message"))
        return None, findings
    findings.extend(
        check_rules(
            message,
            mandatory_allowed=mandatory_allowed,
            legal_notification_allowed=legal_notification_allowed,
        )
    )
    return message, findings


def validate_schema(data: bytes, *, version: MemoVersion | None = None) -> list[Finding]:
    """XSD findings only (no business rules); same parsing and version detection as :func:`validate`."""
    try:
        root, payloads = load(data)
        detected = detect_version(root)
    except MemoError as exc:
        return [Finding(RULE_WELL_FORMED, str(exc), "")]
    return schema_findings(root, version or detected, payloads)


def errors(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.severity == "error"]


def ensure_valid(
    data: bytes,
    *,
    mandatory_allowed: bool = False,
    legal_notification_allowed: bool = False,
    version: MemoVersion | None = None,
) -> list[Finding]:
    """Raise :class:`MemoValidationError` carrying every finding if any is an error; else return warnings."""
    findings = validate(
        data,
        mandatory_allowed=mandatory_allowed,
        legal_notification_allowed=legal_notification_allowed,
        version=version,
    )
    problems = errors(findings)
    if problems:
        summary = "; ".join(str(finding) for finding in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise MemoValidationError(f"MeMo message is invalid: {summary}{more}", findings)
    return findings


def _local_name(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]
