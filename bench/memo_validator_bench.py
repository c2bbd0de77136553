"""Time to validate each official example MeMo: the gateway's validator (lxml/libxml2 + graph_dpg.memo.rules)
next to the NgDP emulator's independent one (xmlschema + its own rules, graph_dpg/sandbox/ngdp/memo_check.py).

The emulator's validator stays on in tests and the sandbox; throughput benchmarks switch it off with
``NgdpState(validate_memos=False)`` and say so in their output. Run: ``python bench/memo_validator_bench.py``
(``--examples DIR`` for another folder of examples, ``--rounds N``, ``--json FILE`` for bench/run_all).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import add_json_option, write_json

from graph_dpg import memo
from graph_dpg.sandbox.ngdp.memo_check import schema, validate_memo

DEFAULT_EXAMPLES = Path(__file__).resolve().parents[1] / "tests" / "unit" / "memo" / "examples"


def _median_ms(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=DEFAULT_EXAMPLES)
    parser.add_argument("--rounds", type=int, default=30)
    add_json_option(parser)
    args = parser.parse_args(argv)
    files = sorted(args.examples.glob("*/*.xml"))
    if not files:
        print(f"no examples under {args.examples}", file=sys.stderr)
        return 1
    schema("1.1"), schema("1.2")  # compile both outside the timing
    memo.validate(files[0].read_bytes())
    print(f"median of {args.rounds} rounds per file; schema compilation excluded")
    print(f"{'example':44} {'bytes':>7} {'lxml ms':>9} {'xmlschema ms':>13} {'ratio':>7}")
    ratios = []
    rows = []
    for path in files:
        data = path.read_bytes()
        ours = _median_ms(
            lambda data=data: memo.validate(data, mandatory_allowed=True, legal_notification_allowed=True),
            args.rounds,
        )
        emulator = _median_ms(
            lambda data=data: validate_memo(data, mandatory_allowed=True, legal_notification_allowed=True),
            args.rounds,
        )
        ratios.append(emulator / ours)
        name = f"{path.parent.name}/{path.name}"
        print(f"{name:44} {len(data):7d} {ours:9.3f} {emulator:13.3f} {emulator / ours:6.0f}x")
        rows.append({"example": name, "bytes": len(data), "gateway_ms": ours, "emulator_ms": emulator})
    print(f"xmlschema / lxml, median over the examples: {statistics.median(ratios):.0f}x")
    write_json(
        args.json,
        {
            "rounds": args.rounds,
            "examples": rows,
            "median_ratio_emulator_vs_gateway": statistics.median(ratios),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
