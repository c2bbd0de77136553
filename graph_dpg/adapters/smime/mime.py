"""Opening and sealing S/MIME messages: the MIME around the CMS (RFC 8551 section 3, RFC 1847).

:func:`open_message` takes a whole message (.eml) or a bare .p7m and peels every S/MIME layer (encrypted,
opaque-signed, clear-signed, in any order, at most :data:`MAX_LAYERS` deep) down to the readable MIME
entity, keeping what each layer said (encrypted to which certificate, signed by whom, verdict).
:func:`seal_message` does the reverse as Outlook does: sign (opaque or multipart/signed) and encrypt, the
original From/To/Subject outside.

Clear-signed content is digested as RFC 8551 3.1.1 prescribes: the bytes of the first part exactly as they
stand between the boundaries, with line ends made canonical (CRLF) -- the form an .eml saved with LF line
ends loses. All of it is synchronous, holds no state and touches no disk.
"""

from __future__ import annotations

import base64
import email.header
import email.policy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from graph_dpg.adapters.smime import cms
from graph_dpg.core.errors import LimitExceededError, NotMimeError, SecureMailError
from graph_dpg.domain.smime import Layer, OpenedMessage, SmimeKind, smime_kind

#: S/MIME layers peeled at most (Outlook's triple wrap is signed-encrypted-signed: 3).
MAX_LAYERS = 8
#: The largest message read (Exchange Online's limit is 150 MB).
MAX_MESSAGE_BYTES = cms.MAX_CMS_BYTES

_HEADER_NAME = re.compile(rb"[!-9;-~]+:")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_OUTER_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "Sender")


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of one MIME entity; the body starts after the first empty line."""
    match = re.search(rb"\r?\n\r?\n", data)
    if match is None:
        return data, b""
    return data[: match.start()], data[match.end() :]


def parse_head(data: bytes) -> Message:
    head, _ = split_head(data)
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\r\n\r\n")


def looks_like_mime(data: bytes) -> bool:
    """True when ``data`` starts with a header field (``Name: value``)."""
    first = data.lstrip(b"\r\n")[:1000].split(b"\n", 1)[0]
    return bool(_HEADER_NAME.match(first))


def _body_bytes(entity: Message, body: bytes) -> bytes:
    encoding = str(entity.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
        except ValueError as exc:
            raise SecureMailError("the S/MIME part is not valid base64") from exc
    if encoding in ("7bit", "8bit", "binary"):
        return body
    raise SecureMailError(f"the S/MIME part has an unexpected transfer encoding {encoding!r}")


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body, each exactly as it stands between its boundaries (RFC 2046 5.1.1:
    the line break before a delimiter belongs to the delimiter)."""
    delimiter = re.compile(
        rb"(?m)^--" + re.escape(boundary.encode("ascii", "replace")) + rb"(--)?[ \t]*(?:\r?\n|$)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            end = match.start()
            if body[end - 2 : end] == b"\r\n":
                end -= 2
            elif body[end - 1 : end] == b"\n":
                end -= 1
            parts.append(body[start:end])
        if match.group(1):
            return parts
        start = match.end()
    raise SecureMailError("the signed message is truncated (its closing boundary is missing)")


def canonical(data: bytes) -> bytes:
    """Line ends as CRLF (RFC 8551 3.1.1)."""
    return _BARE_LF.sub(b"\r\n", data)


@dataclass(frozen=True)
class Opened:
    """What :func:`open_message` found: the readable inner entity and its layers (domain type), and the
    outer message's header fields (From, To, Subject ... as they stood outside every layer)."""

    message: OpenedMessage
    outer_headers: tuple[tuple[str, str], ...]
    bare_p7m: bool


def open_message(
    data: bytes,
    keys: Sequence[cms.DecryptionKey],
    anchors: cms.TrustAnchors,
    *,
    at: datetime | None = None,
) -> Opened:
    """Peel every S/MIME layer of ``data`` (a .eml or a bare .p7m).

    Raises NotMimeError when ``data`` is neither; SecureMailError (NoMatchingKeyError,
    UnsupportedAlgorithmError) when a layer cannot be opened; LimitExceededError beyond a bound. A bad
    signature is not an error: it is a verdict in the layer.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise LimitExceededError(f"the message is larger than {MAX_MESSAGE_BYTES:,} bytes", "size")
    layers: list[Layer] = []
    outer: tuple[tuple[str, str], ...] = ()
    bare = False
    current = data
    if not looks_like_mime(data):
        if not cms.looks_like_cms(data):
            raise NotMimeError("neither a MIME message nor a CMS/PKCS#7 (.p7m) file")
        bare = True
        current = _peel_cms(cms.read_cms_bytes(data), None, layers, keys, anchors, at)
    else:
        outer = tuple(
            (name, _header_text(value))
            for name, value in parse_head(data).items()
            if name.title() in _OUTER_HEADERS or name.lower() == "message-id"
        )
    for _ in range(MAX_LAYERS + 1):
        if not looks_like_mime(current):
            break
        entity = parse_head(current)
        ctype = entity.get_content_type()
        params = dict(entity.get_params(header="content-type") or [])
        params.pop(ctype, None)
        kind = smime_kind(ctype, {str(k): str(v) for k, v in params.items()}, entity.get_filename())
        if kind is None:
            break
        if len(layers) >= MAX_LAYERS:
            raise LimitExceededError(f"more than {MAX_LAYERS} S/MIME layers", "depth")
        _, body = split_head(current)
        if kind is SmimeKind.SIGNED_DETACHED:
            current = _peel_detached(entity, body, layers, anchors, at)
        else:
            current = _peel_cms(_body_bytes(entity, body), kind, layers, keys, anchors, at)
    else:
        raise LimitExceededError(f"more than {MAX_LAYERS} S/MIME layers", "depth")
    return Opened(OpenedMessage(current, tuple(layers)), outer, bare)


def _header_text(value: object) -> str:
    return str(email.header.make_header(email.header.decode_header(str(value)))) if value else ""


def _peel_cms(
    der: bytes,
    kind: SmimeKind | None,
    layers: list[Layer],
    keys: Sequence[cms.DecryptionKey],
    anchors: cms.TrustAnchors,
    at: datetime | None,
) -> bytes:
    content_type, content = cms.decode_content_info(cms.read_cms_bytes(der))
    if cms.is_enveloped(content_type):
        decrypted = cms.decrypt(content_type, content, keys)
        layers.append(
            Layer(
                kind="encrypted",
                algorithm=decrypted.algorithm,
                recipient=cms.signer_of(decrypted.recipient),
                recipient_fingerprint=decrypted.recipient.fingerprint(hashes.SHA256()).hex(),
            )
        )
        return decrypted.content
    inner = cms.signed_content(content)
    if inner is None:
        raise SecureMailError("the signature has no content (a detached signature outside multipart/signed)")
    layers.append(Layer(kind="signed", signatures=cms.verify(content, inner, anchors, at=at)))
    return inner


def _peel_detached(
    entity: Message, body: bytes, layers: list[Layer], anchors: cms.TrustAnchors, at: datetime | None
) -> bytes:
    boundary = entity.get_boundary()
    if not boundary:
        raise SecureMailError("the signed message has no boundary")
    parts = split_multipart(body, boundary)
    if len(parts) != 2:
        raise SecureMailError(f"a multipart/signed message has two parts, this one has {len(parts)}")
    signed_part, signature_part = parts
    signature_entity = parse_head(signature_part)
    _, signature_body = split_head(signature_part)
    content_type, content = cms.decode_content_info(
        cms.read_cms_bytes(_body_bytes(signature_entity, signature_body))
    )
    if cms.is_enveloped(content_type):
        raise SecureMailError("the signature part holds encrypted data, not a signature")
    checks = cms.verify(content, canonical(signed_part), anchors, at=at)
    layers.append(Layer(kind="signed", detached=True, signatures=checks))
    return signed_part


# ------------------------------------------------------------------------------------------- sealing


@dataclass(frozen=True)
class SigningKey:
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]


def inner_entity(message: bytes) -> bytes:
    """The MIME entity to protect: the message's Content-* header fields and its body, CRLF line ends."""
    head, body = split_head(canonical(message))
    fields = _unfolded_fields(head)
    content_fields = [raw for name, raw in fields if name.lower().startswith("content-")]
    if not any(name.lower() == "content-type" for name, _ in fields):
        content_fields.insert(0, b"Content-Type: text/plain; charset=us-ascii")
    return b"\r\n".join(content_fields) + b"\r\n\r\n" + body


def _unfolded_fields(head: bytes) -> list[tuple[str, bytes]]:
    """(name, raw field with its continuation lines) for each header field of ``head``."""
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
        elif b":" in line:
            fields.append((line.split(b":", 1)[0].decode("ascii", "replace").strip(), line))
    return fields


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + b"\r\n"


def signed_entity(entity: bytes, signer: SigningKey, *, detached: bool, at: datetime | None = None) -> bytes:
    """``entity`` signed: multipart/signed (``detached``) or opaque (application/pkcs7-mime signed-data)."""
    if detached:
        der = cms.sign(entity, signer.key, signer.chain, detached=True, signing_time=at)
        boundary = "----=_smime_" + base64.b32encode(os.urandom(15)).decode().lower()
        return (
            b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;\r\n'
            + f' boundary="{boundary}"\r\n\r\n'.encode()
            + b"This is a cryptographically signed message in MIME format.\r\n\r\n"
            + f"--{boundary}\r\n".encode()
            + entity
            + f"\r\n--{boundary}\r\n".encode()
            + b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
            + b"Content-Transfer-Encoding: base64\r\n"
            + b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
            + _base64_lines(der)
            + f"\r\n--{boundary}--\r\n".encode()
        )
    der = cms.sign(entity, signer.key, signer.chain, detached=False, signing_time=at)
    return _pkcs7_mime("signed-data", der)


def _pkcs7_mime(smime_type: str, der: bytes) -> bytes:
    return (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
        + _base64_lines(der)
    )


def seal_message(
    message: bytes,
    recipients: Sequence[x509.Certificate],
    signer: SigningKey | None,
    *,
    detached: bool = False,
    at: datetime | None = None,
) -> bytes:
    """The whole message sealed: its Content-* fields and body signed (when ``signer``), then encrypted
    (AES-256-CBC, RSA key transport) to every certificate in ``recipients``; the other header fields (From,
    To, Subject, Date, Message-ID ...) stay outside, followed by MIME-Version."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise LimitExceededError(f"the message is larger than {MAX_MESSAGE_BYTES:,} bytes", "size")
    if not looks_like_mime(message):
        raise NotMimeError("not a MIME message")
    entity = inner_entity(message)
    if signer is not None:
        entity = signed_entity(entity, signer, detached=detached, at=at)
    head, _ = split_head(canonical(message))
    outside = [
        raw
        for name, raw in _unfolded_fields(head)
        if not name.lower().startswith("content-") and name.lower() != "mime-version"
    ]
    envelope = _pkcs7_mime("enveloped-data", cms.encrypt(entity, recipients))
    return b"\r\n".join([*outside, b"MIME-Version: 1.0"]) + b"\r\n" + envelope
