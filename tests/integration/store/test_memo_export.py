"""``graph-dpg memo export``: IT takes the files of a received memo out of the state database (issue 15: a
file too big for the case worker's mailbox stays with the gateway). Real store on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path

from graph_dpg import memo as m
from graph_dpg.adapters.store import SqlStore
from graph_dpg.commands import memo as memo_command
from graph_dpg.ports.store import InboundSource

UID = "7d1bd3a1-5c1e-4d5e-9a43-0e7c6b3a2f10"
CPR = "0102031234"
CVR = "29189846"


def _memo(files: list[tuple[str, bytes]]) -> bytes:
    message = m.MemoMessage(
        header=m.MessageHeader(
            message_type="DIGITALPOST",
            message_uuid=UID,
            label="Tegninger",
            sender=m.Sender(CPR, "CPR", "Anders And"),
            recipient=m.Recipient(CVR, "CVR", label="Sandbox Kommune"),
        ),
        body=m.MessageBody(
            created_datetime=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            main_document=m.Document(
                "main",
                tuple(m.File("application/pdf", name, "da", data) for name, data in files),
                label="Brev",
            ),
        ),
    )
    return m.build(message)


def _export(url: str, out: Path, uid: str = UID) -> tuple[int, str, str]:
    args = argparse.Namespace(memo_uuid=uid, out=str(out), database_url=url, env_file="")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = memo_command.memo_export(args, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_export_writes_each_file_decoded_under_a_safe_unique_name_and_the_memo(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    files = [
        ("tegning.pdf", b"%PDF-1.4 one"),
        ("tegning.pdf", b"%PDF-1.4 two"),  # the same name twice in one memo
        ("../../etc/passwd", b"not a path"),  # separators are NgDP-forbidden: replaced, stays in DIR
        (f"kvittering {CPR}.pdf", b"%PDF-1.4 cpr"),
    ]
    xml = _memo(files)
    assert store.store_inbound_memo(UID, InboundSource.PULL, xml)
    out = tmp_path / "udtraek"
    code, stdout, stderr = _export(store_url, out)
    assert (code, stderr) == (0, "")
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert written == {
        "tegning.pdf": b"%PDF-1.4 one",
        "tegning (2).pdf": b"%PDF-1.4 two",
        "..-..-etc-passwd": b"not a path",
        f"kvittering {CPR}.pdf": b"%PDF-1.4 cpr",
        f"{UID}.memo.xml": xml,
    }
    assert len(stdout.splitlines()) == 5
    assert CPR not in stdout and "kvittering 010203-xxxx.pdf" in stdout  # names on screen are masked


def test_export_refuses_to_overwrite_and_writes_nothing(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    store.store_inbound_memo(UID, InboundSource.PUSH, _memo([("a.pdf", b"%PDF a"), ("b.pdf", b"%PDF b")]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.pdf").write_bytes(b"IT's own file")
    code, stdout, stderr = _export(store_url, out)
    assert code == 2 and stdout == "" and "b.pdf" in stderr and "nothing written" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.pdf"]
    assert (out / "b.pdf").read_bytes() == b"IT's own file"


def test_export_of_an_unknown_or_cleaned_up_memo_says_so(store_url: str, tmp_path: Path) -> None:
    code, stdout, stderr = _export(store_url, tmp_path / "x")
    assert code == 1 and stdout == "" and UID in stderr and "retention" in stderr
    assert not (tmp_path / "x").exists()


def test_export_of_a_memo_that_is_no_readable_memo_writes_its_xml(
    store: SqlStore, store_url: str, tmp_path: Path
) -> None:
    broken = f"<memo:Message xmlns:memo='https://DigitalPost.dk/MeMo-1'><x>{CPR}</x>".encode()
    store.store_inbound_memo(UID, InboundSource.PULL, broken)
    code, _, stderr = _export(store_url, tmp_path / "out")
    assert code == 0 and "XML only" in stderr and CPR not in stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{UID}.memo.xml"]
    assert (tmp_path / "out" / f"{UID}.memo.xml").read_bytes() == broken


def test_export_is_a_memo_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="graph-dpg")
    memo_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["memo", "export", "--memo-uuid", UID, "--out", "d"])
    assert (args.func, args.memo_uuid, args.out) == (memo_command.run_export, UID, "d")
