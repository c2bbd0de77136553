"""Every CLI command that reads a file, given a file it cannot use: exit 2 and a sentence that names the file
and says why, never a traceback.

The files: missing, a directory, binary junk, a huge file (sparse: 200 MB that cost no disk), deeply nested
YAML, deeply nested JSON, deeply nested XML, invalid UTF-8, and for YAML a "billion laughs" of aliases. The
slots: the gateway file (check-config, rules test, rules status), the settings file (check-config, run,
doctor), the sandbox scenario, the message of rules test, the file of memo show. ``memo validate`` is a
validator: what it can read gets its verdict line (exit 1), what it cannot read exits 2.

In-process through the real entry point (a subprocess per case would cost seconds); an exception escaping a
command fails the test with its traceback.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import structlog

from graph_dpg.cli import main

GATEWAY = """
organisation: {cvr: "29189846", name: Sandbox Kommune}
main_mailbox: post@kommune.dk
monitoring_mailbox: it@kommune.dk
function_mailboxes:
  - {address: byg@kommune.dk}
"""
EML = b"From: a@example.dk\nTo: post@kommune.dk\nSubject: Hej\n\nTekst\n"
DEPTH = 100_000
LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True)
)


def _huge(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(200_000_000)  # sparse: the size is real, the disk blocks are not


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (how to make it, a fragment of the answer)
    "missing": (lambda p: None, "no"),  # "not found" / "no such file"
    "directory": (lambda p: p.mkdir(), "directory"),
    "binary": (lambda p: p.write_bytes(bytes(range(256)) * 64), "binary"),
    "huge": (_huge, "too big"),
    "nested-yaml": (lambda p: p.write_text("a: " + "[" * DEPTH + "]" * DEPTH + "\n"), ""),
    "nested-json": (lambda p: p.write_text('{"a":' * DEPTH + "1" + "}" * DEPTH), ""),
    "nested-xml": (lambda p: p.write_text("<a>" * DEPTH + "</a>" * DEPTH), ""),
    "invalid-utf8": (lambda p: p.write_bytes(b"Subject: caf\xe9 \xff\xfe\n\nx\n"), ""),
}
#: The answers for the nested and UTF-8 cases depend on the slot (below).
YAML_ANSWERS = {
    "nested-yaml": "nested more than 64 levels",
    "nested-json": "nested more than 64 levels",
    "nested-xml": "must be a mapping",  # a YAML text: one long scalar
    "invalid-utf8": "not UTF-8",
}


def run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.upper().startswith("GRAPH_DPG_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """doctor configures logging for the process; the tests after these must not inherit it."""
    root = logging.getLogger()
    level, handlers, config = root.level, list(root.handlers), structlog.get_config()
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    structlog.configure(**config)


@pytest.fixture
def good(tmp_path: Path) -> dict[str, Path]:
    files = {"gateway": tmp_path / "gateway.yaml", "eml": tmp_path / "ok.eml", "env": tmp_path / "ok.env"}
    files["gateway"].write_text(GATEWAY, encoding="utf-8")
    files["eml"].write_bytes(EML)
    files["env"].write_text("", encoding="utf-8")
    return files


def hostile(tmp_path: Path, kind: str, suffix: str) -> tuple[Path, str]:
    make, answer = HOSTILE[kind]
    path = tmp_path / f"hostile-{kind}{suffix}"
    make(path)
    return path, answer


def assert_refused(code: int, said: str, path: Path, answer: str) -> None:
    assert code == 2, said
    assert "Traceback" not in said
    assert path.name in said, said
    assert answer in said, said


# --------------------------------------------------------------------------------------- YAML: gateway file

YAML_SLOTS: dict[str, Callable[[Path, dict[str, Path]], list[str]]] = {
    "check-config": lambda f, g: ["check-config", str(f), "--env-file", str(g["env"])],
    "rules test --rules": lambda f, g: ["rules", "test", "--rules", str(f), str(g["eml"])],
    "rules status --rules": lambda f, g: [
        "rules",
        "status",
        "--rules",
        str(f),
        "--database-url",
        f"sqlite:///{g['env'].parent / 'state.db'}",
    ],
    "sandbox --scenario": lambda f, g: ["sandbox", "--scenario", str(f)],
}


@pytest.mark.parametrize("slot", list(YAML_SLOTS))
@pytest.mark.parametrize("kind", [*HOSTILE, "billion-laughs"])
def test_yaml_files_that_cannot_be_used(tmp_path: Path, good: dict[str, Path], slot: str, kind: str) -> None:
    if kind == "billion-laughs":
        path, answer = tmp_path / "laughs.yaml", "once its aliases (*name) are expanded"
        path.write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + LAUGHS, encoding="utf-8")
    else:
        path, answer = hostile(tmp_path, kind, ".yaml")
        answer = YAML_ANSWERS.get(kind, answer)
    code, said = run(*YAML_SLOTS[slot](path, good))
    assert_refused(code, said, path, answer)


# -------------------------------------------------------------------------------------- the settings file

ENV_SLOTS: dict[str, Callable[[Path, dict[str, Path]], list[str]]] = {
    "check-config --env-file": lambda f, g: ["check-config", str(g["gateway"]), "--env-file", str(f)],
    "run --env-file": lambda f, g: ["run", "--env-file", str(f), "--gateway-file", str(g["gateway"])],
    "doctor --env-file": lambda f, g: ["doctor", "--env-file", str(f), "--gateway-file", str(g["gateway"])],
}
ENV_ANSWERS = {"binary": "binary", "invalid-utf8": "not UTF-8", "huge": "too big", "directory": "directory"}


@pytest.mark.parametrize("slot", list(ENV_SLOTS))
@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "huge", "invalid-utf8"])
def test_settings_files_that_cannot_be_used(
    tmp_path: Path, good: dict[str, Path], slot: str, kind: str
) -> None:
    path, _ = hostile(tmp_path, kind, ".env")
    code, said = run(*ENV_SLOTS[slot](path, good))
    assert_refused(code, said, path, ENV_ANSWERS.get(kind, "not found"))


# ----------------------------------------------------------------------------------- messages and MeMo

MAIL_ANSWERS = {
    "missing": "no such file",
    "binary": "binary content",
    "nested-yaml": "none of From:",
    "nested-json": "none of From:",
    "nested-xml": "not a header field",
    "invalid-utf8": "not UTF-8",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_rules_test_refuses_a_message_that_is_not_a_mail(
    tmp_path: Path, good: dict[str, Path], kind: str
) -> None:
    path, answer = hostile(tmp_path, kind, ".eml")
    code, said = run("rules", "test", "--rules", str(good["gateway"]), str(path))
    assert_refused(code, said, path, MAIL_ANSWERS.get(kind, answer))


def test_rules_test_refuses_a_memo_file_that_is_not_xml(tmp_path: Path, good: dict[str, Path]) -> None:
    path, _ = hostile(tmp_path, "binary", ".xml")
    code, said = run("rules", "test", "--rules", str(good["gateway"]), str(path))
    assert_refused(code, said, path, "not a MeMo message: the file is not XML")


def _mime(parts: int, depth: int) -> bytes:
    head = b"From: a@example.dk\nTo: post@kommune.dk\nSubject: Mange dele\nMIME-Version: 1.0\n"
    nested = b"".join(
        b"Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n" % (i, i) for i in range(depth)
    )
    flat = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\nContent-Type: text/plain\n\nx\n" * parts
    return head + (nested if depth else flat + b"--b--\n")


@pytest.mark.parametrize(
    ("name", "data", "answer"),
    [
        ("many-parts.eml", _mime(parts=200_000, depth=0), "more than 1000 MIME parts"),
        ("deep.eml", _mime(parts=0, depth=5_000), "more than 100 MIME containers"),
    ],
)
def test_rules_test_refuses_a_mail_beyond_the_mime_bounds(
    tmp_path: Path, good: dict[str, Path], name: str, data: bytes, answer: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, said = run("rules", "test", "--rules", str(good["gateway"]), str(path))
    assert_refused(code, said, path, answer)


def test_a_mail_within_the_bounds_is_still_explained(tmp_path: Path, good: dict[str, Path]) -> None:
    path = tmp_path / "ten-parts.eml"
    path.write_bytes(_mime(parts=10, depth=0))
    code, said = run("rules", "test", "--rules", str(good["gateway"]), str(path))
    assert code == 0, said
    assert "subject: Mange dele" in said


SHOW_ANSWERS = {"missing": "no such file", "huge": "too big", "directory": "directory"}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_memo_show_answers_every_file_it_cannot_show(tmp_path: Path, kind: str) -> None:
    path, _ = hostile(tmp_path, kind, ".xml")
    code, said = run("memo", "show", str(path))
    assert_refused(code, said, path, SHOW_ANSWERS.get(kind, "not a readable MeMo message"))


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_memo_validate_gives_every_file_its_line(tmp_path: Path, kind: str) -> None:
    path, _ = hostile(tmp_path, kind, ".xml")
    code, said = run("memo", "validate", str(path))
    assert "Traceback" not in said
    [line] = said.splitlines()
    if kind in ("missing", "directory", "huge"):
        assert code == 2 and line.startswith(f"{path}: UNREADABLE: "), line
    else:  # it read the bytes: its verdict on them
        assert code == 1 and line.startswith(f"{path}: INVALID"), line
        assert "[xml.well-formed]" in line or "[memo.message]" in line, line
