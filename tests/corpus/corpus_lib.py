"""Loading the hostile-input corpus: manifests, mail fixtures and their attachments.

Layout (see README.md): ``<area>/<kind>/manifest.yaml`` maps each input file of the folder to its expected
outcome. Outbound inputs are mail fixtures (JSON) whose attachments point at files under
``outbound/files/`` or are generated at test time (``generate``: large payloads are never committed).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage

ROOT = Path(__file__).resolve().parent
OUTBOUND = ROOT / "outbound"
GATEWAY_DOMAIN = "digital-post.dk"
#: A CPR number in clear: ten digits (or DDMMYY-SSSS) not part of a longer digit run.
CLEAR_CPR = re.compile(r"(?<![0-9])[0-9]{6}-?[0-9]{4}(?![0-9])")


@dataclass(frozen=True)
class Case:
    kind: str
    file: Path
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.file.name}"


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    data = YAML(typ="safe").load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    cases: dict[str, dict[str, Any]] = data["cases"]
    return cases


def cases(area: Path) -> list[Case]:
    """Every case of every kind folder under ``area``; a file on disk missing from its manifest (or the
    other way round) is an error, so nothing in the corpus goes untested."""
    out = []
    for folder in sorted(p for p in area.iterdir() if (p / "manifest.yaml").is_file()):
        entries = manifest(folder)
        on_disk = {p.name for p in folder.iterdir() if p.is_file() and p.name != "manifest.yaml"}
        if set(entries) != on_disk:
            raise AssertionError(
                f"{folder}: manifest and files differ: only in manifest {sorted(set(entries) - on_disk)}, "
                f"only on disk {sorted(on_disk - set(entries))}"
            )
        out += [Case(folder.name, folder / name, expect) for name, expect in entries.items()]
    return out


def _generate(spec: dict[str, Any]) -> bytes:
    size = int(spec["size"])
    if spec["kind"] == "pdf":
        head, tail = b"%PDF-1.4\n%", b"\n%%EOF\n"
        return head + b"\x00" * (size - len(head) - len(tail)) + tail
    if spec["kind"] == "json-label":
        return b'{"label": "' + b"x" * size + b'"}'
    raise ValueError(f"unknown generator {spec['kind']!r}")


def attachment_bytes(spec: dict[str, Any]) -> bytes:
    if "file" in spec:
        return (OUTBOUND / spec["file"]).read_bytes()
    if "text" in spec:
        return str(spec["text"]).encode("utf-8")
    if "b64" in spec:
        return base64.b64decode(spec["b64"])
    if "generate" in spec:
        return _generate(spec["generate"])
    raise ValueError(f"attachment without content: {spec}")


def load_fixture(path: Path) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return fixture


def mail_from(fixture: dict[str, Any]) -> MailMessage:
    return MailMessage(
        subject=fixture["subject"],
        body=fixture.get("body", "<p>Kære borger</p>"),
        body_type=fixture.get("body_type", "html"),
        to=[EmailAddress(a) for a in fixture.get("to", [])],
        cc=[EmailAddress(a) for a in fixture.get("cc", [])],
        bcc=[EmailAddress(a) for a in fixture.get("bcc", [])],
        attachments=[
            Attachment(
                a["name"],
                a.get("content_type", "application/octet-stream"),
                attachment_bytes(a),
                is_inline=bool(a.get("inline", False)),
                content_id=a.get("content_id"),
            )
            for a in fixture.get("attachments", [])
        ],
        mailbox=fixture.get("mailbox"),
    )


def cprs_of(fixture: dict[str, Any]) -> set[str]:
    """The CPR-shaped numbers (10 digits) a fixture's addresses and text attachments carry."""
    texts = [json.dumps(fixture, ensure_ascii=False)]
    for a in fixture.get("attachments", []):
        if "generate" not in a:
            texts.append(attachment_bytes(a).decode("utf-8", errors="replace"))
            texts.append(attachment_bytes(a).decode("utf-16", errors="replace"))
    return {m.replace("-", "") for t in texts for m in CLEAR_CPR.findall(t)}


def clear_cprs(text: str, cprs: set[str]) -> list[str]:
    """Which of ``cprs`` occur in ``text`` in clear (DDMMYYSSSS or DDMMYY-SSSS). A regular expression for
    "any ten digits" would also hit hex runs of UUIDs, so the test data's own numbers are searched."""
    return sorted(c for c in cprs if c in text or f"{c[:6]}-{c[6:]}" in text)
