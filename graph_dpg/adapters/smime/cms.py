"""CMS (RFC 5652) for S/MIME: decrypt EnvelopedData and AuthEnvelopedData, verify and make SignedData,
make EnvelopedData. The ASN.1 structures come from pyasn1-modules (rfc5652, rfc5083, rfc5084, rfc3565,
rfc4055, rfc5751); the primitives from ``cryptography``; chains from ``cryptography.x509.verification``.

What is implemented (and nothing else; anything else is refused with a typed error or an INVALID verdict):

- key transport (KeyTransRecipientInfo): rsaEncryption (RSA PKCS#1 v1.5, RFC 3370 4.2.1) and id-RSAES-OAEP
  (RFC 3560, hash and MGF1 SHA-1/224/256/384/512, an empty label);
- content encryption: AES-128/192/256-CBC (RFC 3565), AES-128/192/256-GCM in AuthEnvelopedData
  (RFC 5083, RFC 5084), and 3-DES-CBC for decryption only (older Outlook sent it; RFC 8551 2.7 says MAY);
- signatures: RSA PKCS#1 v1.5 (rsaEncryption or sha*WithRSAEncryption) and RSASSA-PSS (RFC 4056) over
  SHA-256/384/512, with or without signed attributes (RFC 5652 5.4: contentType and messageDigest are
  then required and checked).

Against a padding oracle (RFC 3218 2.3; the Bleichenbacher oracle that cryptography fixed in its own
pkcs7 decryption in 50.0.0, CVE-2026-69247), a key-transport failure is not reported as such: a random
content key of the right length is used instead, and every failure after that reads the same ("cannot be
decrypted: damaged, or not encrypted to this key").

Every function here is synchronous and keeps nothing between calls, so a service can run it through
``CpuPool.run``. Private keys and decrypted content are never logged nor written anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ, useful
from pyasn1_modules import rfc3565, rfc4055, rfc5083, rfc5084, rfc5280, rfc5652, rfc5751

from graph_dpg.core.errors import (
    LimitExceededError,
    NoMatchingKeyError,
    SecureMailError,
    UnsupportedAlgorithmError,
)
from graph_dpg.domain.smime import SignatureCheck, Signer, Verdict

#: The largest CMS structure read (Exchange Online accepts mails up to 150 MB; base64 makes them 4/3).
MAX_CMS_BYTES = 160_000_000
#: Signers and recipients read from one structure; certificates carried in one SignedData.
MAX_SIGNERS = 16
MAX_RECIPIENTS = 1000
MAX_CERTIFICATES = 50
#: Longest certificate chain (leaf to anchor) the verifier builds.
MAX_CHAIN_DEPTH = 8

_DES_EDE3_CBC = univ.ObjectIdentifier("1.2.840.113549.3.7")
_SHA_WITH_RSA = {
    univ.ObjectIdentifier("1.2.840.113549.1.1.11"): "sha256",
    univ.ObjectIdentifier("1.2.840.113549.1.1.12"): "sha384",
    univ.ObjectIdentifier("1.2.840.113549.1.1.13"): "sha512",
}
_DIGESTS: dict[univ.ObjectIdentifier, tuple[str, Callable[[], hashes.HashAlgorithm]]] = {
    rfc4055.id_sha256: ("sha256", hashes.SHA256),
    rfc4055.id_sha384: ("sha384", hashes.SHA384),
    rfc4055.id_sha512: ("sha512", hashes.SHA512),
}
#: Hashes allowed inside OAEP and MGF1 (key transport): SHA-1 is the OAEP default (RFC 4055 4.1), safe there.
_OAEP_HASHES: dict[univ.ObjectIdentifier, Callable[[], hashes.HashAlgorithm]] = {
    rfc4055.id_sha1: hashes.SHA1,
    rfc4055.id_sha224: hashes.SHA224,
    rfc4055.id_sha256: hashes.SHA256,
    rfc4055.id_sha384: hashes.SHA384,
    rfc4055.id_sha512: hashes.SHA512,
}
_CBC_KEY_BYTES = {rfc3565.id_aes128_CBC: 16, rfc3565.id_aes192_CBC: 24, rfc3565.id_aes256_CBC: 32}
_GCM_KEY_BYTES = {rfc5084.id_aes128_GCM: 16, rfc5084.id_aes192_GCM: 24, rfc5084.id_aes256_GCM: 32}
_ALGORITHM_NAMES = {
    rfc3565.id_aes128_CBC: "AES-128-CBC",
    rfc3565.id_aes192_CBC: "AES-192-CBC",
    rfc3565.id_aes256_CBC: "AES-256-CBC",
    rfc5084.id_aes128_GCM: "AES-128-GCM",
    rfc5084.id_aes192_GCM: "AES-192-GCM",
    rfc5084.id_aes256_GCM: "AES-256-GCM",
    _DES_EDE3_CBC: "3DES-CBC",
}
_PEM_CMS = re.compile(rb"-----BEGIN (?:PKCS7|CMS|PKCS #7 SIGNED DATA)-----(.*?)-----END", re.S)
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")


# --------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class DecryptionKey:
    """One of the organisation's certificates with its private key (several at once during rollover)."""

    certificate: x509.Certificate
    key: PrivateKeyTypes

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Decrypted:
    content: bytes
    recipient: x509.Certificate
    algorithm: str


# ------------------------------------------------------------------------------------------ reading


def read_cms_bytes(data: bytes) -> bytes:
    """The DER/BER of a .p7m given as DER, PEM (``-----BEGIN PKCS7-----``) or bare base64."""
    if data[:1] == b"\x30":
        return data  # DER/BER as it is: its last bytes may well look like white space
    stripped = data.strip()
    if match := _PEM_CMS.search(stripped[:MAX_CMS_BYTES]):
        return _b64(match.group(1))
    if stripped and _BASE64_TEXT.fullmatch(stripped[:4096]):
        decoded = _b64(stripped)
        if decoded[:1] == b"\x30":
            return decoded
    raise SecureMailError("not a CMS (PKCS#7) structure")


def looks_like_cms(data: bytes) -> bool:
    """True when ``data`` could be a bare .p7m (DER, PEM or base64 whose first byte decodes to 0x30)."""
    head = data.lstrip()[:64]
    if head[:1] == b"\x30" or head.startswith(b"-----BEGIN"):
        return True
    try:
        return bool(head) and base64.b64decode(head[:16], validate=True)[:1] == b"\x30"
    except (binascii.Error, ValueError):
        return False


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", text), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecureMailError("the S/MIME content is not valid base64") from exc


def decode_content_info(data: bytes) -> tuple[univ.ObjectIdentifier, Any]:
    """(contentType, the decoded content: SignedData, EnvelopedData or AuthEnvelopedData)."""
    if len(data) > MAX_CMS_BYTES:
        raise LimitExceededError(f"the S/MIME structure is larger than {MAX_CMS_BYTES:,} bytes", "size")
    try:
        info, rest = ber_decoder.decode(data, asn1Spec=rfc5652.ContentInfo(), decodeOpenTypes=True)
    except RecursionError as exc:
        raise LimitExceededError("the S/MIME structure is nested too deeply", "depth") from exc
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError) as exc:
        raise SecureMailError("the S/MIME structure is damaged or truncated") from exc
    if rest.strip(b"\x00"):
        raise SecureMailError("the S/MIME structure is followed by unexpected bytes")
    content_type = info["contentType"]
    content = info["content"]
    known = (rfc5652.id_signedData, rfc5652.id_envelopedData, rfc5083.id_ct_authEnvelopedData)
    if content_type not in known:
        raise UnsupportedAlgorithmError(f"the CMS content type {content_type} is not supported")
    if isinstance(content, univ.Any):  # an open type the map did not decode
        raise SecureMailError("the S/MIME structure is damaged")
    return content_type, content


def is_enveloped(content_type: univ.ObjectIdentifier) -> bool:
    return content_type in (rfc5652.id_envelopedData, rfc5083.id_ct_authEnvelopedData)


# ---------------------------------------------------------------------------------------- decryption


def describe_recipient(rid: Any) -> str:
    """A recipient identifier in words (issuer and serial number, or subject key identifier)."""
    name = rid.getName()
    if name == "issuerAndSerialNumber":
        issuer = _name_to_x509(rid["issuerAndSerialNumber"]["issuer"])
        serial = int(rid["issuerAndSerialNumber"]["serialNumber"])
        return f"issuer {issuer.rfc4514_string()}, serial {serial:x}"
    return f"subject key identifier {bytes(rid['subjectKeyIdentifier']).hex()}"


def _name_to_x509(name: Any) -> x509.Name:
    """An issuer name for messages (matching compares DER bytes, never this)."""
    try:
        return _NameFromDer.parse(der_encoder.encode(name))
    except (PyAsn1Error, ValueError):
        return x509.Name([])


class _NameFromDer:
    """x509.Name from DER by way of pyasn1 (for messages only; matching compares DER bytes)."""

    _OIDS: ClassVar[dict[str, x509.ObjectIdentifier]] = {
        "2.5.4.3": NameOID.COMMON_NAME,
        "2.5.4.5": NameOID.SERIAL_NUMBER,
        "2.5.4.6": NameOID.COUNTRY_NAME,
        "2.5.4.10": NameOID.ORGANIZATION_NAME,
        "2.5.4.11": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "2.5.4.97": NameOID.ORGANIZATION_IDENTIFIER,
    }

    @classmethod
    def parse(cls, der: bytes) -> x509.Name:
        name, _ = der_decoder.decode(der, asn1Spec=rfc5280.Name())
        attributes: list[x509.NameAttribute[str]] = []
        for rdn in name["rdnSequence"]:
            for atv in rdn:
                oid = str(atv["type"])
                value = _directory_string(atv["value"])
                attributes.append(x509.NameAttribute(cls._OIDS.get(oid) or x509.ObjectIdentifier(oid), value))
        return x509.Name(attributes)


def _directory_string(value: Any) -> str:
    try:
        decoded, _ = ber_decoder.decode(_encoded(value))
        if isinstance(decoded, univ.Choice):
            decoded = decoded.getComponent()
        return str(decoded)
    except (PyAsn1Error, ValueError, TypeError):
        return _encoded(value).hex()


def _matches(rid: Any, certificate: x509.Certificate) -> bool:
    name = rid.getName()
    if name == "issuerAndSerialNumber":
        ias = rid["issuerAndSerialNumber"]
        return (
            int(ias["serialNumber"]) == certificate.serial_number
            and der_encoder.encode(ias["issuer"]) == certificate.issuer.public_bytes()
        )
    if name == "subjectKeyIdentifier":
        return bytes(rid["subjectKeyIdentifier"]) == _subject_key_identifier(certificate)
    return False


def _subject_key_identifier(certificate: x509.Certificate) -> bytes:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def decrypt(content_type: univ.ObjectIdentifier, content: Any, keys: Sequence[DecryptionKey]) -> Decrypted:
    """Decrypt an EnvelopedData or AuthEnvelopedData with whichever of ``keys`` it was encrypted to."""
    authenticated = content_type == rfc5083.id_ct_authEnvelopedData
    infos = content["recipientInfos"]
    if len(infos) > MAX_RECIPIENTS:
        raise LimitExceededError(f"more than {MAX_RECIPIENTS} recipients", "recipients")
    described: list[str] = []
    for info in infos:
        if info.getName() != "ktri":
            described.append(f"a {info.getName()} recipient (only key transport is supported)")
            continue
        ktri = info["ktri"]
        for candidate in keys:
            if _matches(ktri["rid"], candidate.certificate):
                encrypted = (
                    content["authEncryptedContentInfo"] if authenticated else content["encryptedContentInfo"]
                )
                algorithm = encrypted["contentEncryptionAlgorithm"]["algorithm"]
                key_length = _content_key_length(algorithm, authenticated)
                cek = _unwrap_key(ktri, candidate.key, key_length)
                plain = _decrypt_content(encrypted, cek, content, authenticated)
                return Decrypted(
                    plain, candidate.certificate, _ALGORITHM_NAMES.get(algorithm, str(algorithm))
                )
        described.append(describe_recipient(ktri["rid"]))
    kinds = {info.getName() for info in infos}
    if kinds and kinds != {"ktri"} and not keys:
        raise UnsupportedAlgorithmError("the message uses a recipient type other than RSA key transport")
    raise NoMatchingKeyError(
        "the message is encrypted to none of our certificates (" + "; ".join(described[:5]) + ")",
        described,
    )


def _content_key_length(algorithm: univ.ObjectIdentifier, authenticated: bool) -> int:
    table = _GCM_KEY_BYTES if authenticated else {**_CBC_KEY_BYTES, _DES_EDE3_CBC: 24}
    if algorithm not in table:
        raise UnsupportedAlgorithmError(f"content encryption {algorithm} is not supported")
    return table[algorithm]


def _unwrap_key(ktri: Any, key: PrivateKeyTypes, length: int) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedAlgorithmError("only RSA certificates are supported for decryption")
    alg = ktri["keyEncryptionAlgorithm"]
    oid = alg["algorithm"]
    pad: asym_padding.AsymmetricPadding
    if oid == rfc4055.rsaEncryption:
        pad = asym_padding.PKCS1v15()
    elif oid == rfc4055.id_RSAES_OAEP:
        pad = _oaep_padding(alg["parameters"])
    else:
        raise UnsupportedAlgorithmError(f"key transport {oid} is not supported")
    try:
        cek = key.decrypt(bytes(ktri["encryptedKey"]), pad)
    except ValueError:
        cek = b""
    # RFC 3218 2.3: never tell a padding failure apart from a wrong content key.
    return cek if len(cek) == length else os.urandom(length)


def _oaep_padding(parameters: Any) -> asym_padding.OAEP:
    # SHA-1 is OAEP's default (RFC 4055 4.1): no collision resistance is needed there.
    hash_alg: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303
    mgf_hash: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303
    if parameters.isValue and _encoded(parameters) not in (b"", b"\x05\x00"):
        try:
            params, _ = ber_decoder.decode(_encoded(parameters), asn1Spec=rfc4055.RSAES_OAEP_params())
        except PyAsn1Error as exc:
            raise SecureMailError("the RSA-OAEP parameters are damaged") from exc
        if params["hashFunc"].isValue:
            hash_alg = _hash_from(params["hashFunc"]["algorithm"], _OAEP_HASHES, "OAEP hash")
        if params["maskGenFunc"].isValue:
            mgf = params["maskGenFunc"]
            if mgf["algorithm"] != rfc4055.id_mgf1:
                raise UnsupportedAlgorithmError(f"mask generation {mgf['algorithm']} is not supported")
            inner, _ = ber_decoder.decode(_encoded(mgf["parameters"]), asn1Spec=rfc5280.AlgorithmIdentifier())
            mgf_hash = _hash_from(inner["algorithm"], _OAEP_HASHES, "MGF1 hash")
        if params["pSourceFunc"].isValue:
            source = params["pSourceFunc"]
            label, _ = ber_decoder.decode(_encoded(source["parameters"]), asn1Spec=univ.OctetString())
            if source["algorithm"] != rfc4055.id_pSpecified or bytes(label):
                raise UnsupportedAlgorithmError("RSA-OAEP with a label is not supported")
    return asym_padding.OAEP(mgf=asym_padding.MGF1(mgf_hash), algorithm=hash_alg, label=None)


def _hash_from(
    oid: univ.ObjectIdentifier,
    table: dict[univ.ObjectIdentifier, Callable[[], hashes.HashAlgorithm]],
    what: str,
) -> hashes.HashAlgorithm:
    if oid not in table:
        raise UnsupportedAlgorithmError(f"{what} {oid} is not supported")
    return table[oid]()


_UNREADABLE = "the message cannot be decrypted: it is damaged, or not encrypted to this certificate's key"


def _decrypt_content(encrypted: Any, cek: bytes, envelope: Any, authenticated: bool) -> bytes:
    algorithm = encrypted["contentEncryptionAlgorithm"]
    oid = algorithm["algorithm"]
    if not encrypted["encryptedContent"].isValue:
        raise SecureMailError("the encrypted content is missing (detached content is not supported)")
    ciphertext = bytes(encrypted["encryptedContent"])
    if authenticated:
        try:
            params, _ = ber_decoder.decode(
                _encoded(algorithm["parameters"]), asn1Spec=rfc5084.GCMParameters()
            )
        except PyAsn1Error as exc:
            raise SecureMailError("the AES-GCM parameters are damaged") from exc
        nonce = bytes(params["aes-nonce"])
        tag_length = int(params["aes-ICVlen"])
        mac = bytes(envelope["mac"])
        if len(mac) != tag_length or not 12 <= tag_length <= 16 or not nonce:
            raise SecureMailError(_UNREADABLE)
        aad = b""
        if envelope["authAttrs"].isValue:
            aad = _explicit_set(der_encoder.encode(envelope["authAttrs"]))
        try:
            decryptor = Cipher(
                algorithms.AES(cek), modes.GCM(nonce, mac, min_tag_length=tag_length)
            ).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(ciphertext) + decryptor.finalize()
        except (InvalidTag, ValueError) as exc:
            raise SecureMailError(_UNREADABLE) from exc
    try:
        iv_value, _ = ber_decoder.decode(_encoded(algorithm["parameters"]), asn1Spec=univ.OctetString())
        iv = bytes(iv_value)
    except PyAsn1Error as exc:
        raise SecureMailError("the content encryption parameters are damaged") from exc
    block: algorithms.AES | TripleDES = TripleDES(cek) if oid == _DES_EDE3_CBC else algorithms.AES(cek)
    size = block.block_size // 8
    if len(iv) != size or not ciphertext or len(ciphertext) % size:
        raise SecureMailError(_UNREADABLE)
    cbc = Cipher(block, modes.CBC(iv)).decryptor()
    padded = cbc.update(ciphertext) + cbc.finalize()
    unpadder = padding.PKCS7(block.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise SecureMailError(_UNREADABLE) from exc


def _encoded(value: Any) -> bytes:
    """The encoding of a value pyasn1 may or may not have decoded (an open type it knew, or univ.Any)."""
    if not value.isValue:
        return b""
    return bytes(value) if isinstance(value, univ.Any) else bytes(der_encoder.encode(value))


def _octets(value: Any) -> bytes | None:
    try:
        decoded, _ = ber_decoder.decode(_encoded(value), asn1Spec=univ.OctetString())
        return bytes(decoded)
    except PyAsn1Error:
        return None


def _oid(value: Any) -> univ.ObjectIdentifier | None:
    try:
        decoded, _ = ber_decoder.decode(_encoded(value), asn1Spec=univ.ObjectIdentifier())
        return cast(univ.ObjectIdentifier, decoded)
    except PyAsn1Error:
        return None


def _explicit_set(der_implicit: bytes) -> bytes:
    """An [n] IMPLICIT SET OF encoding with its tag byte replaced by SET (0x31): RFC 5652 5.4 and RFC 5083 2.2
    compute signatures and MACs over the attributes with the EXPLICIT SET OF tag."""
    return b"\x31" + der_implicit[1:]


# -------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class TrustAnchors:
    """The certificates a signer's chain must end in (the OCES3 roots in production, a test CA in tests).
    Empty: every signature counts as untrusted."""

    certificates: tuple[x509.Certificate, ...] = ()


def signed_content(signed_data: Any) -> bytes | None:
    """The encapsulated content of an opaque SignedData (None when detached)."""
    encap = signed_data["encapContentInfo"]
    return bytes(encap["eContent"]) if encap["eContent"].isValue else None


def verify(
    signed_data: Any,
    content: bytes,
    anchors: TrustAnchors,
    *,
    at: datetime | None = None,
) -> tuple[SignatureCheck, ...]:
    """One check per SignerInfo of ``signed_data`` over ``content`` (the eContent, or the detached content).

    The chain is checked at ``at`` (default: now), which should be when the mail reached us (Exchange's
    receivedDateTime): the signingTime attribute is only what the signer claims. A signature that would be
    trusted at its signing time (or just before its certificate expired) but not at ``at`` is EXPIRED.
    """
    checked_at = at or datetime.now(UTC)
    certificates = _carried_certificates(signed_data)
    infos = signed_data["signerInfos"]
    if len(infos) == 0:
        return (SignatureCheck(Verdict.INVALID, None, "the signed message holds no signature"),)
    if len(infos) > MAX_SIGNERS:
        raise LimitExceededError(f"more than {MAX_SIGNERS} signatures", "signers")
    e_content_type = signed_data["encapContentInfo"]["eContentType"]
    return tuple(
        _verify_one(info, content, e_content_type, certificates, anchors, checked_at) for info in infos
    )


def _carried_certificates(signed_data: Any) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    if not signed_data["certificates"].isValue:
        return found
    for choice in list(signed_data["certificates"])[:MAX_CERTIFICATES]:
        if choice.getName() != "certificate":
            continue
        try:
            found.append(x509.load_der_x509_certificate(der_encoder.encode(choice["certificate"])))
        except (ValueError, PyAsn1Error):
            continue
    return found


def signer_of(certificate: x509.Certificate) -> Signer:
    """The subject of ``certificate`` read as an OCES certificate (domain.smime.Signer)."""
    subject = certificate.subject

    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    email = first(NameOID.EMAIL_ADDRESS)
    if email is None:
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            emails = san.get_values_for_type(x509.RFC822Name)
            email = emails[0] if emails else None
        except x509.ExtensionNotFound:
            pass
    return Signer.from_subject(
        subject.rfc4514_string(),
        common_name=first(NameOID.COMMON_NAME),
        organisation=first(NameOID.ORGANIZATION_NAME),
        serial_number=first(NameOID.SERIAL_NUMBER),
        organization_identifier=first(NameOID.ORGANIZATION_IDENTIFIER),
        email=email,
    )


def _verify_one(
    info: Any,
    content: bytes,
    e_content_type: Any,
    certificates: list[x509.Certificate],
    anchors: TrustAnchors,
    at: datetime,
) -> SignatureCheck:
    sid = info["sid"]
    leaf = next((cert for cert in certificates if _matches(sid, cert)), None)
    signer = signer_of(leaf) if leaf is not None else None
    digest_oid = info["digestAlgorithm"]["algorithm"]
    signature_oid = info["signatureAlgorithm"]["algorithm"]
    digest_name = _DIGESTS[digest_oid][0] if digest_oid in _DIGESTS else str(digest_oid)
    signing_time = None

    def result(verdict: Verdict, reason: str = "") -> SignatureCheck:
        return SignatureCheck(
            verdict, signer, reason, digest_name, _signature_name(signature_oid), signing_time, at
        )

    if leaf is None:
        return result(Verdict.INVALID, "the signer's certificate is not in the message")
    if digest_oid not in _DIGESTS:
        return result(Verdict.INVALID, f"digest algorithm {digest_oid} is not supported (SHA-256/384/512)")
    hash_factory = _DIGESTS[digest_oid][1]
    content_digest = _digest(hash_factory(), content)
    if info["signedAttrs"].isValue:
        attributes = {str(attr["attrType"]): attr["attrValues"] for attr in info["signedAttrs"]}
        digest_values = attributes.get(str(rfc5652.id_messageDigest))
        type_values = attributes.get(str(rfc5652.id_contentType))
        if digest_values is None or type_values is None or len(digest_values) != 1:
            return result(Verdict.INVALID, "the signed attributes lack contentType or messageDigest")
        if _octets(digest_values[0]) != content_digest:
            return result(
                Verdict.INVALID, "the content does not match the signed digest (changed after signing)"
            )
        if _oid(type_values[0]) != e_content_type:
            return result(Verdict.INVALID, "the signed content type does not match the content")
        time_values = attributes.get(str(rfc5652.id_signingTime))
        if time_values is not None and len(time_values) == 1:
            signing_time = _time(time_values[0])
        signed_bytes = _explicit_set(der_encoder.encode(info["signedAttrs"]))
    else:
        signed_bytes = content
    try:
        _check_signature(leaf, info, signed_bytes, hash_factory())
    except UnsupportedAlgorithmError as exc:
        return result(Verdict.INVALID, str(exc))
    except (InvalidSignature, ValueError, TypeError):
        return result(Verdict.INVALID, "the signature does not match (the message was changed after signing)")
    others = [cert for cert in certificates if cert is not leaf]
    verdict, reason = check_chain(leaf, others, anchors, at, signing_time)
    return result(verdict, reason)


def _signature_name(oid: Any) -> str:
    if oid == rfc4055.id_RSASSA_PSS:
        return "RSASSA-PSS"
    if oid == rfc4055.rsaEncryption or oid in _SHA_WITH_RSA:
        return "RSA PKCS#1 v1.5"
    return str(oid)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    return hashlib.new(algorithm.name, data).digest()


def _time(value: Any) -> datetime | None:
    try:
        decoded, _ = ber_decoder.decode(_encoded(value), asn1Spec=rfc5652.Time())
        component = decoded.getComponent()
        return cast(datetime, component.asDateTime).astimezone(UTC)
    except (PyAsn1Error, ValueError, TypeError, AttributeError):
        return None


def _check_signature(
    certificate: x509.Certificate, info: Any, signed: bytes, digest: hashes.HashAlgorithm
) -> None:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError("only RSA signatures are supported")
    alg = info["signatureAlgorithm"]
    oid = alg["algorithm"]
    signature = bytes(info["signature"])
    if oid == rfc4055.rsaEncryption:
        public_key.verify(signature, signed, asym_padding.PKCS1v15(), digest)
    elif oid in _SHA_WITH_RSA:
        if _SHA_WITH_RSA[oid] != digest.name:
            raise UnsupportedAlgorithmError("the signature's hash differs from the digest algorithm")
        public_key.verify(signature, signed, asym_padding.PKCS1v15(), digest)
    elif oid == rfc4055.id_RSASSA_PSS:
        pss, pss_hash = _pss_padding(alg["parameters"])
        public_key.verify(signature, signed, pss, pss_hash)
    else:
        raise UnsupportedAlgorithmError(f"signature algorithm {oid} is not supported")


def _pss_padding(parameters: Any) -> tuple[asym_padding.PSS, hashes.HashAlgorithm]:
    try:
        params, _ = ber_decoder.decode(_encoded(parameters), asn1Spec=rfc4055.RSASSA_PSS_params())
    except PyAsn1Error as exc:
        raise UnsupportedAlgorithmError("the RSASSA-PSS parameters are damaged") from exc
    if not params["hashAlgorithm"].isValue:
        raise UnsupportedAlgorithmError("RSASSA-PSS with SHA-1 is not supported")
    hash_oid = params["hashAlgorithm"]["algorithm"]
    if hash_oid not in _DIGESTS:
        raise UnsupportedAlgorithmError(f"RSASSA-PSS hash {hash_oid} is not supported")
    pss_hash = _DIGESTS[hash_oid][1]()
    mgf_hash = pss_hash
    if params["maskGenAlgorithm"].isValue:
        mgf = params["maskGenAlgorithm"]
        inner, _ = ber_decoder.decode(_encoded(mgf["parameters"]), asn1Spec=rfc5280.AlgorithmIdentifier())
        if mgf["algorithm"] != rfc4055.id_mgf1 or inner["algorithm"] not in _DIGESTS:
            raise UnsupportedAlgorithmError("RSASSA-PSS mask generation is not MGF1 with SHA-2")
        mgf_hash = _DIGESTS[inner["algorithm"]][1]()
    if int(params["trailerField"]) != 1:
        raise UnsupportedAlgorithmError("RSASSA-PSS trailer field other than 1")
    return asym_padding.PSS(asym_padding.MGF1(mgf_hash), int(params["saltLength"])), pss_hash


def _ee_key_usage(policy: Policy, certificate: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise ValueError("the certificate's key usage allows neither digitalSignature nor nonRepudiation")


def _ee_extended_key_usage(
    policy: Policy, certificate: x509.Certificate, usage: x509.ExtendedKeyUsage | None
) -> None:
    # RFC 8550 4.4.4: when present, the EKU must allow emailProtection (or anyExtendedKeyUsage).
    # OCES3 organisation certificates carry no EKU at all (docs/facts/smime.md), which is allowed.
    if usage is not None and not (
        ExtendedKeyUsageOID.EMAIL_PROTECTION in usage or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usage
    ):
        raise ValueError("the certificate's extended key usage does not allow e-mail protection")


def _extension_policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """(CA policy, end-entity policy) for S/MIME signers instead of the web PKI's clientAuth rules."""
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
    )
    ee = (
        ExtensionPolicy.permit_all()
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ee_key_usage)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ee_extended_key_usage)
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_a_ca)
    )
    return ca, ee


def _not_a_ca(policy: Policy, certificate: x509.Certificate, value: x509.BasicConstraints | None) -> None:
    if value is not None and value.ca:
        raise ValueError("a CA certificate cannot sign mail")


def check_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: TrustAnchors,
    at: datetime,
    signing_time: datetime | None = None,
) -> tuple[Verdict, str]:
    """VALID, EXPIRED or UNTRUSTED for ``leaf`` at ``at`` (see :func:`verify`); revocation is not checked."""
    if not anchors.certificates:
        return Verdict.UNTRUSTED, "no trust anchors are configured"
    error = _verify_chain_at(leaf, intermediates, anchors, at)
    if error is None:
        return Verdict.VALID, ""
    chain_end = min([leaf.not_valid_after_utc, *(c.not_valid_after_utc for c in intermediates)])
    if at > chain_end:
        earlier = min(signing_time or chain_end, chain_end - timedelta(seconds=1))
        if (
            earlier >= leaf.not_valid_before_utc
            and _verify_chain_at(leaf, intermediates, anchors, earlier) is None
        ):
            return Verdict.EXPIRED, f"the signer's certificate expired {chain_end:%Y-%m-%d}"
    return Verdict.UNTRUSTED, f"the signer's certificate is not trusted: {error}"


def _verify_chain_at(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], anchors: TrustAnchors, at: datetime
) -> str | None:
    ca_policy, ee_policy = _extension_policies()
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors.certificates)))
        .time(at)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        return str(exc)
    return None


# -------------------------------------------------------------------------------------------- making


def _any(value: Any) -> univ.Any:
    return univ.Any(der_encoder.encode(value))


def _algorithm(oid: univ.ObjectIdentifier, parameters: Any | None = None, null: bool = False) -> Any:
    identifier = rfc5280.AlgorithmIdentifier()
    identifier["algorithm"] = oid
    if parameters is not None:
        identifier["parameters"] = _any(parameters)
    elif null:
        identifier["parameters"] = univ.Any(b"\x05\x00")
    return identifier


def _attribute(oid: univ.ObjectIdentifier, value: Any) -> Any:
    attribute = rfc5652.Attribute()
    attribute["attrType"] = oid
    attribute["attrValues"].append(_any(value))
    return attribute


def _issuer_and_serial(certificate: x509.Certificate) -> Any:
    ias = rfc5652.IssuerAndSerialNumber()
    issuer, _ = der_decoder.decode(certificate.issuer.public_bytes(), asn1Spec=rfc5280.Name())
    ias["issuer"] = issuer
    ias["serialNumber"] = certificate.serial_number
    return ias


def _capabilities() -> Any:
    capabilities = rfc5751.SMIMECapabilities()
    for oid in (rfc3565.id_aes256_CBC, rfc3565.id_aes192_CBC, rfc3565.id_aes128_CBC):
        capability = rfc5751.SMIMECapability()
        capability["capabilityID"] = oid
        capabilities.append(capability)
    return capabilities


def sign(
    content: bytes,
    key: PrivateKeyTypes,
    chain: Sequence[x509.Certificate],
    *,
    detached: bool,
    signing_time: datetime | None = None,
) -> bytes:
    """DER ContentInfo(SignedData) over ``content`` as Outlook signs: SHA-256, RSA PKCS#1 v1.5, signed
    attributes contentType, signingTime, messageDigest and SMIMECapabilities (RFC 8551 2.5), the signer's
    chain included; ``detached`` leaves the content out (for multipart/signed)."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedAlgorithmError("only RSA keys can sign")
    certificate = chain[0]
    when = (signing_time or datetime.now(UTC)).replace(microsecond=0)
    info = rfc5652.SignerInfo()
    info["version"] = 1
    info["sid"]["issuerAndSerialNumber"] = _issuer_and_serial(certificate)
    info["digestAlgorithm"] = _algorithm(rfc4055.id_sha256)
    signed_attrs = info.setComponentByName("signedAttrs").getComponentByName("signedAttrs")
    signed_attrs.append(_attribute(rfc5652.id_contentType, rfc5652.id_data))
    time_value = (
        useful.UTCTime.fromDateTime(when)
        if 1950 <= when.year < 2050
        else useful.GeneralizedTime.fromDateTime(when)
    )
    signed_attrs.append(_attribute(rfc5652.id_signingTime, time_value))
    signed_attrs.append(
        _attribute(rfc5652.id_messageDigest, univ.OctetString(hashlib.sha256(content).digest()))
    )
    signed_attrs.append(_attribute(rfc5751.smimeCapabilities, _capabilities()))
    to_sign = _explicit_set(der_encoder.encode(signed_attrs))
    info["signatureAlgorithm"] = _algorithm(rfc4055.rsaEncryption, null=True)
    info["signature"] = key.sign(to_sign, asym_padding.PKCS1v15(), hashes.SHA256())

    signed = rfc5652.SignedData()
    signed["version"] = 1
    signed["digestAlgorithms"].append(_algorithm(rfc4055.id_sha256))
    signed["encapContentInfo"]["eContentType"] = rfc5652.id_data
    if not detached:
        signed["encapContentInfo"]["eContent"] = content
    certificates = signed.setComponentByName("certificates").getComponentByName("certificates")
    for cert in chain:
        choice = rfc5652.CertificateChoices()
        decoded, _ = der_decoder.decode(cert.public_bytes(Encoding.DER), asn1Spec=rfc5280.Certificate())
        choice["certificate"] = decoded
        certificates.append(choice)
    signed["signerInfos"].append(info)
    return _content_info(rfc5652.id_signedData, signed)


def encrypt(content: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """DER ContentInfo(EnvelopedData): AES-256-CBC content, RSA PKCS#1 v1.5 key transport to each of
    ``recipients`` (issuerAndSerialNumber), as Outlook encrypts (RFC 8551 2.7)."""
    if not recipients:
        raise ValueError("at least one recipient certificate is needed")
    cek = os.urandom(32)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()

    enveloped = rfc5652.EnvelopedData()
    enveloped["version"] = 0
    for certificate in recipients:
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise UnsupportedAlgorithmError(
                f"the certificate of {certificate.subject.rfc4514_string()} has no RSA key"
            )
        info = rfc5652.RecipientInfo()
        ktri = info["ktri"]
        ktri["version"] = 0
        ktri["rid"]["issuerAndSerialNumber"] = _issuer_and_serial(certificate)
        ktri["keyEncryptionAlgorithm"] = _algorithm(rfc4055.rsaEncryption, null=True)
        ktri["encryptedKey"] = public_key.encrypt(cek, asym_padding.PKCS1v15())
        enveloped["recipientInfos"].append(info)
    eci = enveloped["encryptedContentInfo"]
    eci["contentType"] = rfc5652.id_data
    eci["contentEncryptionAlgorithm"] = _algorithm(rfc3565.id_aes256_CBC, univ.OctetString(iv))
    eci["encryptedContent"] = ciphertext
    return _content_info(rfc5652.id_envelopedData, enveloped)


def _content_info(content_type: univ.ObjectIdentifier, content: Any) -> bytes:
    info = rfc5652.ContentInfo()
    info["contentType"] = content_type
    info["content"] = _any(content)
    return bytes(der_encoder.encode(info))
