"""Regenerate the screenshots in docs/img/ (docs/sandbox.md, "Exported mails") from a fresh sandbox run.

    .venv/bin/python tools/screenshots.py [--chromium PATH] [--out docs/img] [--export DIR] [--only PNG ...]

Runs ``graph-dpg sandbox --export`` (or reuses ``--export DIR`` when it already holds an export), then
photographs exported pages with the system's headless Chromium (``chromium --headless --screenshot``; Debian:
``apt-get install chromium``; nothing is downloaded). Each shot is the top of the page at a fixed window
size: the reading-pane header and the body, cropped by the window, PNG under 150 kB (checked).

A shot whose mail the scenario does not produce is skipped with a note, so the script keeps working as the
scenario changes. ``--only`` makes just the named shots (e.g. ``--only meeting-receipt.png``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 150_000


@dataclass(frozen=True)
class Shot:
    png: str  # file name in --out
    candidates: tuple[str, ...]  # exported stems (or glob patterns), the first that exists is used
    size: tuple[int, int]  # window width, height: the crop
    what: str


SHOTS = (
    Shot("receipt-single.png", ("single-1-receipt",), (860, 560), "a receipt for a single letter"),
    Shot(
        "receipt-mass.png",
        ("mass-delivery-*-receipt-update", "mass-delivery-1-receipt"),
        (860, 680),
        "a mass receipt with failures",
    ),
    Shot(
        "receipt-error.png",
        ("renamed-exe-1-receipt", "too-many-attachments-1-receipt"),
        (860, 620),
        "an error receipt",
    ),
    Shot("banner-unmapped.png", ("unmapped-1-post",), (860, 700), "the unmapped-contact-point banner"),
    Shot(
        "meeting-receipt.png",
        ("meeting-1-receipt",),
        (860, 330),
        "the receipt of a meeting invitation sent as a letter with an AFTALE action",
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--export", type=Path, help="an existing export directory (default: a fresh run)")
    parser.add_argument("--only", nargs="+", metavar="PNG", help="make only these shots (file names)")
    args = parser.parse_args(argv)
    if not args.chromium:
        print("no chromium found: apt-get install chromium (or pass --chromium PATH)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="graph-dpg-shots-") as tmp:
        export = args.export or Path(tmp) / "export"
        if not any(export.glob("*.html")) if export.exists() else True:
            run = subprocess.run(
                [sys.executable, "-m", "graph_dpg", "sandbox", "--export", str(export)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if not any(export.glob("*.html")):
                print(run.stdout[-2000:] + run.stderr[-2000:], file=sys.stderr)
                return 1
        args.out.mkdir(parents=True, exist_ok=True)
        failed = 0
        for shot in SHOTS:
            if args.only and shot.png not in args.only:
                continue
            page = _find(export, shot.candidates)
            if page is None:
                print(f"skipped {shot.png}: no exported mail is {shot.what} ({', '.join(shot.candidates)})")
                continue
            target = args.out / shot.png
            _photograph(args.chromium, page, target, shot.size, Path(tmp))
            size = target.stat().st_size
            ok = size < MAX_BYTES
            failed += not ok
            shown = target.relative_to(REPO) if target.is_relative_to(REPO) else target
            print(f"{'wrote' if ok else 'TOO BIG'} {shown} ({size // 1000} kB) from {page.name}")
        return 1 if failed else 0


def _find(export: Path, candidates: tuple[str, ...]) -> Path | None:
    for candidate in candidates:
        found = sorted(export.glob(f"{candidate}.html"))
        if found:
            return found[-1]
    return None


def _photograph(chromium: str, page: Path, target: Path, size: tuple[int, int], tmp: Path) -> None:
    subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={target}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
