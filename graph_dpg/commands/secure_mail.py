"""graph-dpg secure-mail open FILE and graph-dpg secure-mail seal FILE: S/MIME by hand.

open reads a mail (.eml) or a bare .p7m, peels its S/MIME layers and prints the header fields, the text
(CPR numbers masked as 010203-xxxx unless --show-cpr), the attachments and the verdict: encrypted to which
certificate, signed by whom, valid or why not. --cert takes PKCS#12 or a PEM holding key and certificate
(repeatable; one --password-env names the variable holding the password for all of them); --trust a PEM
file of trust anchors (repeatable). Without --cert / --trust the configured GRAPH_DPG_SMIME_CERTIFICATES,
GRAPH_DPG_SMIME_CERTIFICATE_PASSWORD and GRAPH_DPG_SMIME_TRUST_ANCHORS apply; with no trust anchors at all a
signature counts as untrusted. GRAPH_DPG_SMIME_ORGANISATION_ONLY applies as in the gateway: a valid signature
by an employee or personal certificate is then refused.

  exit 0  readable, and every signature valid and trusted (an unsigned message, encrypted or not, says
          "not signed" and is 0)
  exit 1  S/MIME that cannot be decrypted or read (no matching key, unsupported algorithm, truncated,
          beyond a bound), or a signature that is invalid, untrusted or expired
  exit 2  not a MIME message nor a .p7m at all, or a usage error (options, unreadable certificate files)

seal reads a whole .eml and writes the S/MIME message to standard output: its body signed with --sign-cert
(opaque signed-data, as Outlook signs before it encrypts; --detached for multipart/signed) and then
encrypted to every --to-cert (AES-256-CBC, RSA key transport); From, To, Subject and the other header
fields stay outside. Without --sign-cert it only encrypts, and says so on standard error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from graph_dpg.commands import command
from graph_dpg.commands.inputs import UnreadableInput, read_input
from graph_dpg.core.errors import (
    ConfigError,
    LimitExceededError,
    NotMimeError,
    SecureMailError,
)
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.smime import Layer, SignatureCheck, Verdict

EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("secure-mail", help="open (decrypt, verify) and seal S/MIME secure mail")
    sub = parser.add_subparsers(dest="secure_mail_command", metavar="SUBCOMMAND", required=True)

    opener = command(sub, "open", "decrypt and verify an S/MIME mail (.eml) or .p7m", __doc__)
    opener.add_argument("file", metavar="FILE", help="the mail (.eml) or .p7m; - reads standard input")
    opener.add_argument("--cert", action="append", default=[], metavar="FILE", help="PKCS#12 or PEM key+cert")
    opener.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    opener.add_argument("--trust", action="append", default=[], metavar="FILE", help="PEM trust anchors")
    opener.add_argument("--show-cpr", action="store_true", help="print CPR numbers in clear")
    opener.set_defaults(func=run_open)

    sealer = command(sub, "seal", "sign and encrypt a mail (.eml) to certificates", __doc__)
    sealer.add_argument("file", metavar="FILE", help="the mail (.eml); - reads standard input")
    sealer.add_argument("--to-cert", action="append", required=True, metavar="PEM", help="recipient cert")
    sealer.add_argument("--sign-cert", metavar="FILE", help="PKCS#12 or PEM key+cert to sign with")
    sealer.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    sealer.add_argument("--detached", action="store_true", help="sign as multipart/signed (clear-signed)")
    sealer.set_defaults(func=run_seal)


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_env:
        return None
    value = os.environ.get(args.password_env)
    if value is None:
        raise ConfigError(f"the environment variable {args.password_env} is not set")
    return value


def _fail(message: str, code: int) -> int:
    print(f"graph-dpg secure-mail: {message}", file=sys.stderr)
    return code


def _configured(args: argparse.Namespace) -> tuple[list[Any], Any, bool]:
    """(decryption keys, trust anchors, organisation certificates only): keys and anchors from the options,
    else from the settings; GRAPH_DPG_SMIME_ORGANISATION_ONLY always from the settings, as in the gateway."""
    from graph_dpg.adapters.smime import load_decryption_keys, load_trust_anchors
    from graph_dpg.config.settings import load_settings

    cert_paths: Sequence[str | os.PathLike[str]] = args.cert
    trust_paths: Sequence[str | os.PathLike[str]] = args.trust
    password = _password(args)
    settings = load_settings()
    if not args.cert or not args.trust:
        if not args.cert:
            cert_paths = settings.smime_certificates
            secret = settings.smime_certificate_password
            password = password if args.password_env else (secret.get_secret_value() if secret else None)
        if not args.trust:
            trust_paths = settings.smime_trust_anchors
    keys, anchors = load_decryption_keys(cert_paths, password), load_trust_anchors(trust_paths)
    return keys, anchors, settings.smime_organisation_only


def _signature_line(check: SignatureCheck, detached: bool) -> str:
    who = check.signer.describe("en") if check.signer is not None else "an unknown signer"
    form = "clear-signed" if detached else "opaque"
    when = f", signed {check.signing_time:%Y-%m-%d %H:%M:%S}Z" if check.signing_time else ""
    verdict = check.verdict.value.upper() if check.verdict is not Verdict.VALID else "valid"
    reason = f": {check.reason}" if check.reason else ""
    how = f"{form}, {check.digest_algorithm}, {check.signature_algorithm}{when}"
    return f"signed ({how}) by {who}: {verdict}{reason}"


def _layer_lines(layers: Sequence[Layer]) -> list[str]:
    lines: list[str] = []
    for layer in layers:
        if layer.kind == "encrypted":
            to = layer.recipient.describe("en") if layer.recipient is not None else "?"
            lines.append(
                f"encrypted ({layer.algorithm}) to {to}, certificate SHA-256 {layer.recipient_fingerprint}"
            )
        else:
            lines.extend(_signature_line(check, layer.detached) for check in layer.signatures)
    return lines


def run_open(args: argparse.Namespace) -> int:
    mask: Callable[[str], str] = (lambda text: text) if args.show_cpr else mask_cprs
    try:
        data = read_input(args.file)
    except UnreadableInput as exc:
        return _fail(f"{args.file}: {exc}", EXIT_USAGE)
    try:
        keys, anchors, organisation_only = _configured(args)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)

    from graph_dpg.adapters.smime import open_message
    from graph_dpg.commands.rules import parse_eml
    from graph_dpg.domain.smime import accept_only_organisation_certificates

    try:
        opened = open_message(data, keys, anchors)
    except NotMimeError as exc:
        return _fail(f"{args.file}: {exc}", EXIT_USAGE)
    except LimitExceededError as exc:
        print(f"{args.file}: CANNOT OPEN: {exc} [limit: {exc.limit}]")
        return EXIT_NOT_OK
    except SecureMailError as exc:
        print(mask(f"{args.file}: CANNOT OPEN: {exc} [{exc.reason}]"))
        return EXIT_NOT_OK
    message = opened.message
    if organisation_only:
        # As the gateway's SmimeOpener does: a valid signature by an employee or personal certificate is
        # refused, as the delivered mail's overview shows it.
        message = accept_only_organisation_certificates(message)
    for name, value in opened.outer_headers:
        print(mask(f"{name}: {value}"))
    if opened.bare_p7m:
        print("(a bare .p7m: no header fields outside)")
    layer_lines = _layer_lines(message.layers)
    if organisation_only and message.signed:
        layer_lines.append("only organisation certificates are accepted (GRAPH_DPG_SMIME_ORGANISATION_ONLY)")
    if not message.signed:
        layer_lines.append("not signed")
    if not message.encrypted:
        layer_lines.insert(0, "not encrypted")
    print()
    for line in layer_lines:
        print(mask(f"S/MIME: {line}"))
    try:
        mail = parse_eml(message.content)
    except UnreadableInput as exc:
        print(mask(f"content: CANNOT READ: {exc}"))
        return EXIT_NOT_OK
    print()
    print(mask(mail.body.rstrip()) if mail.body.strip() else "(no text)")
    if mail.attachments:
        print()
        print("Attachments:")
        for attachment in mail.attachments:
            print(mask(f"  {attachment.name} ({attachment.content_type}, {attachment.size:,} bytes)"))
    bad = [check for check in message.signatures if check.verdict is not Verdict.VALID]
    print()
    if bad:
        print(f"Verdict: NOT OK: {len(bad)} signature(s) {', '.join(c.verdict.value for c in bad)}")
        return EXIT_NOT_OK
    print("Verdict: OK" + (" (not signed)" if not message.signed else ""))
    return EXIT_OK


def run_seal(args: argparse.Namespace) -> int:
    from graph_dpg.adapters.smime import load_certificates, load_signing_key, seal_message

    try:
        data = read_input(args.file)
    except UnreadableInput as exc:
        return _fail(f"{args.file}: {exc}", EXIT_USAGE)
    try:
        recipients = [
            cert
            for path in args.to_cert
            for cert in load_certificates(path, label="recipient certificate")[:1]
        ]
        signer = load_signing_key(args.sign_cert, _password(args)) if args.sign_cert else None
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        sealed = seal_message(data, recipients, signer, detached=args.detached)
    except NotMimeError as exc:
        return _fail(f"{args.file}: {exc}", EXIT_USAGE)
    except (SecureMailError, LimitExceededError) as exc:
        return _fail(f"{args.file}: {exc}", EXIT_NOT_OK)
    if signer is None:
        print("graph-dpg secure-mail: not signed (no --sign-cert): encrypted only", file=sys.stderr)
    sys.stdout.buffer.write(sealed)
    sys.stdout.flush()
    return EXIT_OK
