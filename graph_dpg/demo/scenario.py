"""The sandbox scenario file (YAML; docs/sandbox.md describes every field): a registry for the emulated NgDP,
mails users "send" from Outlook (put into Sent Items as Outlook leaves them), inbound memos NgDP delivers and
secure mails arriving in inboxes, each with what should happen to it (``expect``)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from graph_dpg.config.yaml_bounds import YamlLimits, check_yaml, read_yaml_file
from graph_dpg.core.errors import ConfigError

DEMO_DIR = Path(__file__).parent
DEMO_GATEWAY = DEMO_DIR / "gateway.yaml"
DEMO_SCENARIO = DEMO_DIR / "scenario.yaml"
#: A scenario may carry raw memos (XML text): more room than a gateway file, the same depth and aliases.
SCENARIO_LIMITS = YamlLimits(max_bytes=10_000_000)

#: Smallest contents whose magic numbers sniff as the kind (content sniffing judges attachments).
_CONTENT: dict[str, bytes] = {
    "pdf": b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
    "png": base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    ),
    "txt": "Bilag i tekstform: æøå ÆØÅ.\n".encode(),
    # A Windows program ("MZ" header + PE signature offset): refused whatever its name says.
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + bytes(48)
    + b"PE\x00\x00"
    + bytes(64),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryEntry(_Model):
    cpr: str | None = None
    cvr: str | None = None
    status: Literal["REGISTERED", "EXEMPT", "CLOSED"] = "REGISTERED"

    @model_validator(mode="after")
    def _one(self) -> RegistryEntry:
        if (self.cpr is None) == (self.cvr is None):
            raise ValueError("give exactly one of cpr or cvr")
        return self


class NgdpContactPoint(_Model):
    id: str
    name: str
    memo_size_threshold_mb: float = 99.5
    allowed_number_of_attachments: int = 10


class AttachmentSpec(_Model):
    name: str
    kind: Literal["pdf", "png", "txt", "exe"] | None = None
    text: str | None = None
    count: int = Field(1, ge=1, le=50, description="That many copies, numbered (bilag-1.pdf, ...)")

    @model_validator(mode="after")
    def _content(self) -> AttachmentSpec:
        if (self.kind is None) == (self.text is None):
            raise ValueError("give exactly one of kind (generated content) or text")
        return self

    def files(self) -> list[tuple[str, str, bytes]]:
        data = self.text.encode() if self.text is not None else _CONTENT[self.kind or "txt"]
        ctype = {
            "pdf": "application/pdf",
            "png": "image/png",
            "exe": "application/pdf",  # what a renamed file claims to be
        }.get(self.kind or "", "application/json" if self.name.endswith(".json") else "text/plain")
        if self.count == 1:
            return [(self.name, ctype, data)]
        stem, dot, ext = self.name.rpartition(".")
        return [
            (f"{stem}-{i + 1}{dot}{ext}" if dot else f"{self.name}-{i + 1}", ctype, data)
            for i in range(self.count)
        ]


class MassSpec(_Model):
    count: int = Field(ge=1, le=100_000, description="Lines written to masseforsendelse.txt")
    unregistered: int = Field(0, ge=0, description="How many of them NgDP's registry does not know")


class MeetingSpec(_Model):
    """The mail is a meeting request Outlook sent (an eventMessageRequest in Sent Items, its event with the
    times; the Graph emulator's ``put_sent_meeting``): the letter carries an AFTALE action."""

    start: str = Field(description="Local start as Outlook writes it, e.g. 2026-12-15T10:00:00")
    end: str
    time_zone: str = "Romance Standard Time"  # the Windows name Outlook writes for Danish time
    location: str = ""
    room: tuple[str, str] | None = None  # a booked room (name, address): an attendee of type resource


class OutboundMail(_Model):
    name: str
    description: str = ""
    mailbox: str
    to: list[str]
    cc: list[str] = []
    subject: str
    body: str = "<p></p>"
    attachments: list[AttachmentSpec] = []
    mass: MassSpec | None = None
    # Signed by the case worker's certificate in Outlook (clear: multipart/signed; opaque: signed-data):
    # put into Sent Items as S/MIME, stored as Exchange stores it.
    signed: Literal["clear", "opaque"] | None = None
    meeting: MeetingSpec | None = None
    expect: Literal["sent", "rejected", "failed", "any"] = "any"

    @model_validator(mode="after")
    def _meeting_alone(self) -> OutboundMail:
        if self.meeting is not None and (self.signed or self.mass or self.attachments or self.cc):
            raise ValueError("a meeting request has no signature, mass delivery, attachments or cc here")
        return self


class InboundMemoSpec(_Model):
    name: str
    description: str = ""
    memo: dict[str, Any] | None = None  # keyword arguments of graph_dpg.sandbox.ngdp.samples.sample_memo
    raw: str | None = None  # the XML as is (e.g. an invalid memo)
    # How NgDP hands it over: pull (the gateway fetches it), push (NgDP posts it to the gateway) or
    # smime-mail (NgDP's forwarder mails it as S/MIME to ``mailbox``, the SMTP recipient system).
    source: Literal["pull", "push", "smime-mail"] = "pull"
    mailbox: str | None = None
    expect_mailbox: str | None = None

    @model_validator(mode="after")
    def _one(self) -> InboundMemoSpec:
        if (self.memo is None) == (self.raw is None):
            raise ValueError("give exactly one of memo or raw")
        if (self.source == "smime-mail") != (self.mailbox is not None):
            raise ValueError("mailbox (the SMTP recipient system's) is given exactly for source smime-mail")
        return self


class SmimeSpec(_Model):
    """The inbox mail arrives as S/MIME (parties of graph_dpg.demo.smime.DemoPki)."""

    encrypt_to: Literal["organisation", "other-organisation"] | None = "organisation"
    sign: Literal["authority", "case-worker", "other-organisation"] | None = "authority"

    @model_validator(mode="after")
    def _something(self) -> SmimeSpec:
        if self.encrypt_to is None and self.sign is None:
            raise ValueError("give encrypt_to, sign or both")
        return self


class InboxMail(_Model):
    name: str
    description: str = ""
    mailbox: str
    from_: tuple[str, str] = Field(alias="from")
    subject: str
    body: str = "<p></p>"
    attachments: list[AttachmentSpec] = []
    smime: SmimeSpec | None = None
    expect_mailbox: str | None = None


class Scenario(_Model):
    registry: list[RegistryEntry] = []
    ngdp_contact_points: list[NgdpContactPoint] = []
    outbound: list[OutboundMail] = []
    inbound: list[InboundMemoSpec] = []
    inbox_mails: list[InboxMail] = []
    timeout_seconds: float = Field(90.0, gt=0, le=3600)


def load_scenario(path: str | Path | None = None) -> Scenario:
    """The scenario at ``path`` (default: the built-in one); ConfigError lists every problem."""
    source = Path(path) if path is not None else DEMO_SCENARIO
    text = read_yaml_file(source, str(source), SCENARIO_LIMITS)
    check_yaml(text, str(source), SCENARIO_LIMITS)
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ConfigError(f"{source}: cannot read the scenario: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{source}: not a scenario",
            [f"{source}:1: the scenario must be a mapping (registry:, outbound:, inbound: ...)"],
        )
    try:
        return Scenario.model_validate(data or {})
    except ValidationError as exc:
        problems = [f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"{source}: invalid scenario", problems) from None


def mass_recipients(index: int, count: int) -> list[str]:
    """``count`` made-up CPR numbers with valid dates (1960s-1990s), distinct per mail ``index``."""
    result: list[str] = []
    for i in range(count):
        n = index * 100_000 + i
        day, month, year = 1 + n % 28, 1 + (n // 28) % 12, 60 + (n // 336) % 40
        result.append(f"{day:02d}{month:02d}{year:02d}{(1000 + n) % 10000:04d}")
    return result
