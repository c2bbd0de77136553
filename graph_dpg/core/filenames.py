"""File-name rules shared by the MeMo library and the attachment policies (below both of them).

NgDP rejects ``< > : " / \\ | ? *``, CR, LF and some Unicode spaces in ``File/filename`` since
10 September 2025 (see ``docs/facts/ngdp.md``, "File names"). :func:`sanitize_filename` replaces each run
of them with ``-`` (as the ITK reference library does: ``a<<c.pdf`` → ``a-c.pdf``) and says what it changed.

Bidirectional controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates, U+200E/U+200F and
U+061C marks) are replaced the same way, with their own warning: NgDP does not list them, but they make a
name display as something else (``faktura\u202egpj.exe`` shows as ``fakturaexe.jpg``).
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
#: Characters that reorder how a name is displayed, so that ``x\u202egpj.exe`` reads as ``xexe.jpg``.
BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f"
    + "".join(chr(c) for c in range(0x202A, 0x202F))
    + "".join(chr(c) for c in range(0x2066, 0x206A))
)
_REPLACED = FORBIDDEN_FILENAME_CHARS | _CONTROL_CHARS | BIDI_CONTROLS
_REPLACED_RUN = re.compile("[" + re.escape("".join(sorted(_REPLACED))) + "]+")
SAFE_FILENAME = "attachment"


def sanitize_filename(name: str) -> tuple[str, list[Finding]]:
    """Replace each run of forbidden characters with ``-``; give a safe name to empty or dots-only names.

    Returns the new name and one warning finding per kind of change (empty when nothing changed).
    """
    findings: list[Finding] = []
    replaced = sorted({ch for ch in name if ch in _REPLACED})
    result = _REPLACED_RUN.sub("-", name) if replaced else name
    forbidden = [ch for ch in replaced if ch not in BIDI_CONTROLS]
    bidi = [ch for ch in replaced if ch in BIDI_CONTROLS]
    if forbidden:
        listed = ", ".join(_describe(ch) for ch in forbidden)
        findings.append(
            Finding(
                "filename.forbidden-chars",
                f"file name {_shown(name)} changed to {_shown(result)}: replaced {listed}",
                severity="warning",
                params={"file": _shown(name), "renamed": _shown(result)},
            )
        )
    if bidi:
        listed = ", ".join(_describe(ch) for ch in bidi)
        findings.append(
            Finding(
                "filename.bidi-controls",
                f"file name {_shown(name)} changed to {_shown(result)}: replaced {listed}, which change the "
                "order in which the name is displayed",
                severity="warning",
                params={"file": _shown(name), "renamed": _shown(result)},
            )
        )
    if not result.strip(" .-"):
        findings.append(
            Finding(
                "filename.empty",
                f"file name {name!r} has no usable characters; renamed to {SAFE_FILENAME!r}",
                severity="warning",
                params={"file": _shown(name), "renamed": repr(SAFE_FILENAME)},
            )
        )
        result = SAFE_FILENAME
    return result, findings


def _shown(name: str) -> str:
    # repr() escapes control characters but shows bidi controls as they are, so the finding itself would
    # display the reordered name: write those as \u escapes.
    return "".join(f"\\u{ord(c):04x}" if c in BIDI_CONTROLS else c for c in repr(name))


def _describe(ch: str) -> str:
    label = unicodedata.name(ch, "control character")
    shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
    return f"{shown} ({label})" if shown.startswith("'") else f"{shown} {label}"
