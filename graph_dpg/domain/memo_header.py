"""MemoHeader.json / MemoHeaderInfo.json: MeMo header fields carried as mail attachments.

See docs/product.md, "MemoHeader.json".

Outlook tools and line-of-business systems attach a small JSON document whose fields override the defaults
the gateway derives from the mail (label from the subject, no notification, not mandatory, ...). Keys are
matched case-insensitively; both MeMo element names (``legalNotification``) and snake_case are accepted.
Unknown keys are reported, never silently ignored, so a typo does not change what a citizen receives.

The same files are a leak risk: they describe Digital Post, so a mail carrying them must only go to Digital
Post recipients or to mailboxes inside the organisation (``leak_findings``).

The file is read with :func:`graph_dpg.core.bounded.load_json` (256 KB, 32 levels, numbers of at most 40
characters, no NaN/Infinity, no lone surrogates), and every value is checked before it is used, so any
document gives overrides plus findings and never an exception: a 5,000-digit ``label``, a key with a lone
surrogate, or a ``replyByDateTime`` of 9999-12-31T23:59:59-14:00 (which is in year 10000 in UTC) each
become one error finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from graph_dpg.core.bounded import JsonLimits, load_json
from graph_dpg.core.errors import ContentError, Finding, LimitExceededError

HEADER_FILE_NAMES = frozenset({"memoheader.json", "memoheaderinfo.json"})
_MAX_BYTES = 256 * 1024
_LIMITS = JsonLimits(max_bytes=_MAX_BYTES, max_depth=32, max_number_chars=40)


def is_header_file(name: str) -> bool:
    return name.strip().lower() in HEADER_FILE_NAMES


@dataclass(frozen=True)
class HeaderOverrides:
    label: str | None = None
    notification: str | None = None
    additional_notification: str | None = None
    message_id: str | None = None
    message_code: str | None = None
    post_type: str | None = None
    reply: bool | None = None
    reply_by: datetime | None = None
    do_not_deliver_until: date | None = None
    mandatory: bool | None = None
    legal_notification: bool | None = None
    case_id: str | None = None
    case_system: str | None = None
    kle: str | None = None
    recipient_contact_point: str | None = None
    sender_label: str | None = None
    attention_person: str | None = None
    additional_content: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def merged(self, other: HeaderOverrides) -> HeaderOverrides:
        """Fields set in ``other`` win (MemoHeader.json is read after MemoHeaderInfo.json)."""
        values = dict(vars(self))
        for k, v in vars(other).items():
            if v not in (None, ()):
                values[k] = v
        return HeaderOverrides(**values)


_ALIASES: dict[str, str] = {
    "label": "label",
    "title": "label",
    "subject": "label",
    "notification": "notification",
    "additionalnotification": "additional_notification",
    "messageid": "message_id",
    "messagecode": "message_code",
    "posttype": "post_type",
    "reply": "reply",
    "replybydatetime": "reply_by",
    "replyby": "reply_by",
    "donotdeliveruntildate": "do_not_deliver_until",
    "mandatory": "mandatory",
    "legalnotification": "legal_notification",
    "caseid": "case_id",
    "casesystem": "case_system",
    "kle": "kle",
    "subjectkey": "kle",
    "recipientcontactpoint": "recipient_contact_point",
    "contactpointid": "recipient_contact_point",
    "senderlabel": "sender_label",
    "attentionperson": "attention_person",
    "additionalcontentdata": "additional_content",
}
_BOOL_FIELDS = {"reply", "mandatory", "legal_notification"}
# ASCII digits only: "\d" would accept e.g. full-width "２７".
_KLE_RE = re.compile(r"[0-9]{2}(\.[0-9]{2}(\.[0-9]{2})?)?")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _shown(text: str) -> str:
    """A key or value as it may appear in a finding: invisible and unprintable characters escaped, short."""
    clean = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:80])
    return clean + ("…" if len(text) > 80 else "")


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {
        "true",
        "false",
        "ja",
        "nej",
        "yes",
        "no",
        "1",
        "0",
    }:
        return value.strip().lower() in {"true", "ja", "yes", "1"}
    return None


def parse_header_file(name: str, data: bytes) -> tuple[HeaderOverrides, list[Finding]]:
    """Parse one MemoHeader*.json attachment into overrides plus findings (errors stop sending)."""
    path = _shown(name)
    try:
        doc = load_json(data, _LIMITS)
    except LimitExceededError as exc:
        rule = "memoheader.size" if exc.limit == "size" else "memoheader.json"
        what = f"{exc} to be a header file" if exc.limit == "depth" else str(exc)
        return HeaderOverrides(), [Finding(rule, what, path, params={"file": path})]
    except ContentError as exc:
        return HeaderOverrides(), [Finding("memoheader.json", str(exc), path, params={"file": path})]
    if isinstance(doc, dict) and len(doc) == 1 and _key(next(iter(doc))) in {"memoheader", "messageheader"}:
        doc = next(iter(doc.values()))
    if not isinstance(doc, dict):
        return HeaderOverrides(), [
            Finding("memoheader.shape", "must be a JSON object", path, params={"file": path})
        ]
    values: dict[str, object] = {}
    findings: list[Finding] = []
    for raw_key, value in doc.items():
        field_name = _ALIASES.get(_key(str(raw_key)))
        where = f"{path}:{_shown(str(raw_key))}"
        if field_name is None:
            findings.append(Finding("memoheader.unknown", f"unknown field '{_shown(str(raw_key))}'", where))
            continue
        if value is None:
            continue
        if field_name in _BOOL_FIELDS:
            b = _as_bool(value)
            if b is None:
                findings.append(Finding("memoheader.type", "must be true or false", where))
            else:
                values[field_name] = b
        elif field_name == "reply_by":
            if not isinstance(value, str):
                findings.append(Finding("memoheader.type", "must be an ISO 8601 date-time", where))
                continue
            try:
                dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                findings.append(Finding("memoheader.type", "must be an ISO 8601 date-time", where))
                continue
            if dt.tzinfo is None or dt.utcoffset() is None:
                findings.append(Finding("memoheader.type", "needs a time zone (e.g. Z)", where))
                continue
            try:
                # MeMo writes UTC: a time that is not a date-time in UTC (9999-12-31T23:59:59-14:00 is in year
                # 10000) cannot be sent, and comparing it with another time would overflow later.
                values[field_name] = dt.astimezone(UTC)
            except OverflowError:
                findings.append(
                    Finding("memoheader.type", "is outside the years 1-9999 when written in UTC", where)
                )
        elif field_name == "do_not_deliver_until":
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                values[field_name] = date.fromisoformat(value.strip())
            except ValueError:
                findings.append(Finding("memoheader.type", "must be a date YYYY-MM-DD", where))
        elif field_name == "additional_content":
            pairs = _pairs(value)
            if pairs is None:
                findings.append(
                    Finding("memoheader.type", "must be an object or a list of {name, value}", where)
                )
            else:
                values[field_name] = pairs
        elif isinstance(value, dict | list):
            # str() would turn {"a": 1} into the letter's title "{'a': 1}".
            findings.append(Finding("memoheader.type", "must be text, not a JSON object or list", where))
        elif isinstance(value, bool | float):
            # str() would make the letter's title "True" or "1e+300"; text fields take text (or a whole
            # number, e.g. a case number).
            findings.append(Finding("memoheader.type", "must be text", where))
        else:
            text = str(value).strip()
            if field_name == "kle" and not _KLE_RE.fullmatch(text):
                findings.append(Finding("memoheader.kle", "KLE must look like 27, 27.15 or 27.15.02", where))
                continue
            if field_name == "recipient_contact_point" and not _UUID_RE.fullmatch(text):
                findings.append(Finding("memoheader.contactpoint", "contact point must be a UUID", where))
                continue
            values[field_name] = text
    named = [replace(f, params={"file": path, "field": f.path[len(path) + 1 :]}) for f in findings]
    return HeaderOverrides(**values), named  # type: ignore[arg-type]


def _pairs(value: object) -> tuple[tuple[str, str], ...] | None:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(value, list):
        out = []
        for item in value:
            if not isinstance(item, Mapping) or "name" not in item or "value" not in item:
                return None
            out.append((str(item["name"]), str(item["value"])))
        return tuple(out)
    return None


def leak_findings(
    attachment_names: Iterable[str],
    recipients: Iterable[str],
    *,
    is_digital_post: Iterable[bool],
    internal_domains: Iterable[str],
) -> list[Finding]:
    """A mail with MemoHeader*.json may only go to Digital Post addresses or internal mailboxes."""
    header_files = [n for n in attachment_names if is_header_file(n)]
    if not header_files:
        return []
    domains = {d.lower().lstrip("@") for d in internal_domains}
    leaks = []
    for address, dp in zip(recipients, is_digital_post, strict=True):
        domain = address.rsplit("@", 1)[-1].lower()
        if not dp and domain not in domains:
            leaks.append(address)
    if not leaks:
        return []
    return [
        Finding(
            "memoheader.leak",
            f"{', '.join(header_files)} may only be sent to Digital Post recipients or internal mailboxes; "
            f"external recipient(s): {', '.join(sorted(set(leaks)))}",
            "recipients",
            params={"file": ", ".join(header_files), "external": ", ".join(sorted(set(leaks)))},
        )
    ]
