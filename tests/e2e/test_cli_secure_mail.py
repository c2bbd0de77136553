"""graph-dpg secure-mail open / seal end to end through the real entry point: exit codes 0/1/2 as issue 16
specifies, CPR masked unless --show-cpr, and what seal writes opens with openssl and with open again.
Hostile inputs (truncated, garbage, 1,000 MIME parts, deep nesting) end in an exit code, never a traceback.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from graph_dpg.cli import main
from tests.smime_pki import P12_PASSWORD, Pki, make_pki, openssl

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

BODY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSag om 010203-1234, venlig hilsen.\r\n"
MAIL = (
    b"From: anne@kommune.dk\r\nTo: borger@example.dk\r\nSubject: Sikker post\r\nMIME-Version: 1.0\r\n" + BODY
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    (pki.dir / "body.txt").write_bytes(BODY)
    (pki.dir / "mail.eml").write_bytes(MAIL)
    return pki


@pytest.fixture(autouse=True)
def _no_configured_smime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "GRAPH_DPG_SMIME_CERTIFICATES",
        "GRAPH_DPG_SMIME_TRUST_ANCHORS",
        "GRAPH_DPG_SMIME_ORGANISATION_ONLY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("SMIME_PW", P12_PASSWORD)


def run(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def write(pki: Pki, name: str, data: bytes) -> Path:
    path = pki.dir / name
    path.write_bytes(data)
    return path


def _open(pki: Pki, path: Path, *extra: str | Path) -> tuple[int, str, str]:
    return run("secure-mail", "open", path, "--cert", pki.org.p12, "--password-env", "SMIME_PW",
               "--trust", pki.ca.pem, *extra)  # fmt: skip


def test_encrypted_and_signed_by_a_trusted_organisation_exits_0_with_cpr_masked(pki: Pki) -> None:
    signed = openssl("cms", "-sign", "-nodetach", "-in", pki.dir / "body.txt", "-signer", pki.org.pem,
                     "-inkey", pki.org.key_pem)  # fmt: skip
    inner = write(pki, "signed.eml", signed)
    path = write(pki, "enc.eml", openssl("cms", "-encrypt", "-aes256", "-in", inner, "-recip", pki.org.pem))
    code, out, _ = _open(pki, path)
    assert code == 0, out
    assert "encrypted (AES-256-CBC) to Testkommune" in out and "CVR 29189846" in out
    assert ": valid" in out and "Verdict: OK" in out
    assert "010203-xxxx" in out and "010203-1234" not in out
    code, out, _ = _open(pki, path, "--show-cpr")
    assert code == 0 and "010203-1234" in out


def test_unsigned_encrypted_message_exits_0_and_says_not_signed(pki: Pki) -> None:
    path = write(pki, "plain-enc.eml", openssl("cms", "-encrypt", "-aes256", "-in", pki.dir / "body.txt",
                                               "-recip", pki.org.pem))  # fmt: skip
    code, out, _ = _open(pki, path)
    assert code == 0 and "S/MIME: not signed" in out and "Verdict: OK (not signed)" in out


def test_plain_mail_exits_0_not_encrypted_not_signed(pki: Pki) -> None:
    code, out, _ = _open(pki, pki.dir / "mail.eml")
    assert code == 0 and "not encrypted" in out and "Subject: Sikker post" in out


def test_wrong_key_exits_1_and_says_why(pki: Pki) -> None:
    path = write(pki, "other.eml", openssl("cms", "-encrypt", "-aes256", "-in", pki.dir / "body.txt",
                                           "-recip", pki.stranger.pem))  # fmt: skip
    code, out, _ = _open(pki, path)
    assert code == 1 and "CANNOT OPEN" in out and "[no-key]" in out


@pytest.mark.parametrize("signer", ["stranger", "expired"])
def test_untrusted_or_expired_signer_exits_1(pki: Pki, signer: str) -> None:
    party = getattr(pki, signer)
    path = write(pki, f"{signer}.eml", openssl("cms", "-sign", "-in", pki.dir / "body.txt", "-signer",
                                               party.pem, "-inkey", party.key_pem))  # fmt: skip
    code, out, _ = _open(pki, path)
    assert code == 1 and ("UNTRUSTED" if signer == "stranger" else "EXPIRED") in out and "NOT OK" in out


def test_without_trust_anchors_a_signature_is_untrusted(pki: Pki) -> None:
    path = write(pki, "signed-only.eml", openssl("cms", "-sign", "-in", pki.dir / "body.txt", "-signer",
                                                 pki.org.pem, "-inkey", pki.org.key_pem))  # fmt: skip
    code, out, _ = run("secure-mail", "open", path)
    assert code == 1 and "no trust anchors are configured" in out


def test_configured_certificates_and_anchors_are_used_without_options(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPH_DPG_SMIME_CERTIFICATES", f"{pki.org2.both},{pki.org.both}")
    monkeypatch.setenv("GRAPH_DPG_SMIME_TRUST_ANCHORS", str(pki.ca.pem))
    path = write(pki, "cfg.eml", openssl("cms", "-encrypt", "-aes256", "-in", pki.dir / "body.txt",
                                         "-recip", pki.org.pem))  # fmt: skip
    code, out, _ = run("secure-mail", "open", path)
    assert code == 0, out


@pytest.mark.parametrize(
    ("name", "data"),
    [("junk.bin", b"\x00\xffjunk" * 100), ("text.txt", b"just some words, no header\n")],
)
def test_not_mime_nor_p7m_exits_2(pki: Pki, name: str, data: bytes) -> None:
    code, _, err = _open(pki, write(pki, name, data))
    assert code == 2 and "neither a MIME message nor" in err


def test_missing_file_and_bad_password_exit_2(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _open(pki, pki.dir / "nope.eml")[0] == 2
    monkeypatch.setenv("SMIME_PW", "wrong")
    code, _, err = _open(pki, pki.dir / "mail.eml")
    assert code == 2 and "PKCS#12" in err


def test_truncated_exits_1(pki: Pki) -> None:
    data = openssl("cms", "-encrypt", "-aes256", "-in", pki.dir / "body.txt", "-recip", pki.org.pem)
    code, out, _ = _open(pki, write(pki, "trunc.eml", data[:-200]))
    assert code == 1 and "CANNOT OPEN" in out


def test_a_thousand_mime_parts_inside_encryption_answers_cleanly(pki: Pki) -> None:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=f%d.txt\r\n\r\nx\r\n"
        % i
        for i in range(1000)
    )
    entity = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    inner = write(pki, "many.txt", entity)
    path = write(pki, "many.eml", openssl("cms", "-encrypt", "-aes256", "-binary", "-in", inner,
                                          "-recip", pki.org.pem))  # fmt: skip
    code, out, _ = _open(pki, path)
    # decrypted, then the mail bound of `rules test` (commands/rules.py check_eml) answers: it counts the
    # closing delimiter too, so 1,000 parts read as 1,001
    assert code == 1 and "encrypted (AES-256-CBC)" in out and "CANNOT READ: refused" in out


def test_seal_writes_what_openssl_decrypts_and_verifies_and_open_reads(pki: Pki) -> None:
    # seal writes bytes to stdout: the real process, to capture them
    done = subprocess.run(
        [sys.executable, "-m", "graph_dpg", "secure-mail", "seal", str(pki.dir / "mail.eml"),
         "--to-cert", str(pki.org2.pem), "--sign-cert", str(pki.org.p12), "--password-env", "SMIME_PW"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sealed = write(pki, "sealed.eml", done.stdout)
    assert b"Subject: Sikker post" in done.stdout and b"venlig hilsen" not in done.stdout
    inner = openssl("cms", "-decrypt", "-in", sealed, "-recip", pki.org2.pem, "-inkey", pki.org2.key_pem)
    assert b"venlig hilsen" in openssl("cms", "-verify", "-CAfile", pki.ca.pem, input=inner)
    code, out, _ = run("secure-mail", "open", sealed, "--cert", pki.org2.p12, "--password-env", "SMIME_PW",
                       "--trust", pki.ca.pem)  # fmt: skip
    assert code == 0 and "Verdict: OK" in out


def test_seal_without_sign_cert_says_so(pki: Pki) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graph_dpg", "secure-mail", "seal", str(pki.dir / "mail.eml"),
         "--to-cert", str(pki.org.pem)],
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and b"encrypted only" in done.stderr
    assert b"smime-type=enveloped-data" in done.stdout


def test_seal_of_junk_exits_2(pki: Pki) -> None:
    code, _, err = run("secure-mail", "seal", write(pki, "junk2.bin", b"\x00\x01"), "--to-cert", pki.org.pem)
    assert code == 2 and "not a MIME message" in err


@pytest.mark.parametrize(("organisation_only", "code"), [("true", 1), ("false", 0)])
def test_open_applies_the_organisation_only_setting_like_the_gateway(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, organisation_only: str, code: int
) -> None:
    """GRAPH_DPG_SMIME_ORGANISATION_ONLY (seed 001): an employee's valid signature is refused, as the
    gateway's SmimeOpener refuses it; an organisation's stays valid."""
    monkeypatch.setenv("GRAPH_DPG_SMIME_ORGANISATION_ONLY", organisation_only)
    employee = write(pki, "employee-signed.eml", openssl("cms", "-sign", "-in", pki.dir / "body.txt",
                     "-signer", pki.employee.pem, "-inkey", pki.employee.key_pem))  # fmt: skip
    got, out, _ = _open(pki, employee)
    assert got == code, out
    assert "employee certificate" in out
    if organisation_only == "true":
        assert "REFUSED" in out and "only organisation certificates are accepted" in out
    organisation = write(pki, "org-signed.eml", openssl("cms", "-sign", "-in", pki.dir / "body.txt",
                         "-signer", pki.org.pem, "-inkey", pki.org.key_pem))  # fmt: skip
    assert _open(pki, organisation)[0] == 0
