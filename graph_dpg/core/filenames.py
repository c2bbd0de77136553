"""File-name rules shared by the MeMo library and the attachment policies (below both of them).

NgDP rejects ``< > : " / \\ | ? *``, CR, LF and some Unicode spaces in ``File/filename`` since
10 September 2025 (see ``docs/facts/ngdp.md``, "File names"). :func:`sanitize_filename` replaces each run
of them with ``-`` (as the ITK reference library does: ``a<<c.pdf`` → ``a-c.pdf``) and says what it changed.
"""

from __future__ import annotations

import re
import unicodedata

from graph_dpg.core.errors import Finding

# Exactly NgDP's list (docs/facts/ngdp.md, "File names"); the MeMo library validates File/filename against it.
FORBIDDEN_FILENAME_CHARS: frozenset[str] = frozenset(
    '<>:"/\\|?*\r\n' + "\u00a0" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u205f\u2060\u3000"
)
# Replaced by the sanitiser too, although NgDP does not list them: control characters break headers,
# file systems and the receipt text.
_CONTROL_CHARS: frozenset[str] = frozenset(chr(c) for c in (*range(0x00, 0x20), 0x7F))
_REPLACED = FORBIDDEN_FILENAME_CHARS | _CONTROL_CHARS
_REPLACED_RUN = re.compile("[" + re.escape("".join(sorted(_REPLACED))) + "]+")
SAFE_FILENAME = "attachment"


def sanitize_filename(name: str) -> tuple[str, list[Finding]]:
    """Replace each run of forbidden characters with ``-``; give a safe name to empty or dots-only names.

    Returns the new name and one warning finding per kind of change (empty when nothing changed).
    """
    findings: list[Finding] = []
    replaced = sorted({ch for ch in name if ch in _REPLACED})
    result = _REPLACED_RUN.sub("-", name) if replaced else name
    if replaced:
        listed = ", ".join(_describe(ch) for ch in replaced)
        findings.append(
            Finding(
                "filename.forbidden-chars",
                f"file name {name!r} changed to {result!r}: replaced {listed}",
                severity="warning",
            )
        )
    if not result.strip(" .-"):
        findings.append(
            Finding(
                "filename.empty",
                f"file name {name!r} has no usable characters; renamed to {SAFE_FILENAME!r}",
                severity="warning",
            )
        )
        result = SAFE_FILENAME
    return result, findings


def _describe(ch: str) -> str:
    label = unicodedata.name(ch, "control character")
    shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
    return f"{shown} ({label})" if shown.startswith("'") else f"{shown} {label}"
