"""Inbound: cost of the rule engine and of one memo delivery, each against a baseline from the same run.

1. Rule engine: 60 rules (equals / contains / regex over subject, body, attachments, MeMo fields) against a
   memo with a 50 KB body. Baseline: the same tests as a hand-written loop over stdlib ``re`` patterns
   (no explanations, no time budget). The ratio is the price of explanations + the abandonable regex.
2. Catastrophic pattern ``(a+)+$``: stdlib ``re`` on short inputs (time doubles per character) vs the
   engine on a 50,000-character body with a 0.5 s budget (abandoned, rule reported as timed out).
3. Delivery: memos through InboundService (NgDP emulator → store → Graph emulator → receipt → delete),
   SQLite, in-process. Baseline: one bare ``create_message`` of the same rendered mail.

    python bench/inbound_bench.py [--memos 40] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "inbound"))
from _common import add_json_option, write_json
from inbound_memos import CP_BYG, citizen_memo

from graph_dpg import memo as memolib
from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.adapters.store import create_store
from graph_dpg.demo.ngdp import in_process_client
from graph_dpg.domain.inbound_view import render_memo_mail
from graph_dpg.domain.routing import memo_item
from graph_dpg.domain.rules import (
    InboundItem,
    RoutingRule,
    RuleAction,
    RuleCondition,
    evaluate_rules,
)
from graph_dpg.sandbox.graph import GraphTenant, create_app
from graph_dpg.sandbox.ngdp import NgdpState
from graph_dpg.services.inbound import ContactPointRoute, InboundService, InboundSettings


def _rules() -> list[RoutingRule]:
    rules = []
    for i in range(20):
        rules.append(
            RoutingRule(
                f"c{i}",
                (RuleCondition.make("body", "contains", f"nøgleord-{i}"),),
                RuleAction(categories=("x",)),
            )
        )
        rules.append(
            RoutingRule(
                f"e{i}",
                (RuleCondition.make("memo:kle", "equals", f"{i:02}.00.00"),),
                RuleAction(categories=("x",)),
            )
        )
        rules.append(
            RoutingRule(
                f"r{i}",
                (
                    RuleCondition.make("subject", "regex", rf"\bsag[- ]?{i}\b"),
                    RuleCondition.make("attachment_name", "regex", rf"^bilag-{i}\.pdf$"),
                ),
                RuleAction(categories=("x",)),
                match="any",
            )
        )
    return rules


def _baseline(rules: list[RoutingRule], item: InboundItem) -> int:
    compiled = [
        (r, [(c, re.compile(c.value or "", re.I) if c.op == "regex" else None) for c in r.conditions])
        for r in rules
    ]
    hits = 0
    for _rule, conds in compiled:
        for cond, pattern in conds:
            for value in item.values(cond.field):
                if pattern is not None:
                    ok = pattern.search(value) is not None
                elif cond.op == "equals":
                    ok = value.casefold() == (cond.value or "").casefold()
                else:
                    ok = (cond.value or "").casefold() in value.casefold()
                if ok:
                    hits += 1
                    break
    return hits


def _timed(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds


def bench_rules() -> dict[str, Any]:
    _, xml = citizen_memo(body_html="<p>" + "Lorem ipsum dolor sit amet. " * 1800 + "</p>", attachments=3)
    message = memolib.parse(xml)
    item = memo_item(message, xml, from_address="x@29189846.ngdp.digital-post.dk", to=("byg@kommune.dk",))
    rules = _rules()
    engine = _timed(lambda: evaluate_rules(rules, item), 30)
    base = _timed(lambda: _baseline(rules, item), 30)
    print(f"rules: {len(rules)} rules, body {len(item.body):,} chars")
    print(f"  engine   {engine * 1e3:8.2f} ms per item")
    print(f"  baseline {base * 1e3:8.2f} ms per item (stdlib re loop, no explanations)")
    print(f"  ratio    {engine / base:8.2f}x")
    return {"rules": len(rules), "body_chars": len(item.body), "engine_s": engine, "baseline_s": base}


def bench_catastrophic() -> dict[str, Any]:
    evil = re.compile(r"(a+)+$")
    print("catastrophic (a+)+$:")
    stdlib: dict[str, float] = {}
    for n in (20, 22, 24):
        t = _timed(lambda n=n: evil.search("a" * n + "!"), 1)
        stdlib[str(n)] = t
        print(f"  stdlib re, {n} chars + '!': {t:8.3f} s")
    rule = RoutingRule(
        "evil", (RuleCondition.make("body", "regex", r"(a+)+$"),), RuleAction(categories=("x",))
    )
    item = InboundItem(kind="mail", body="a" * 50_000 + "!")
    start = time.perf_counter()
    decision = evaluate_rules([rule], item, timeout=0.5)
    took = time.perf_counter() - start
    print(f"  engine, 50,000 chars, 0.5 s budget: {took:8.3f} s, timed out: {bool(decision.timed_out)}")
    return {
        "stdlib_s_by_chars": stdlib,
        "engine_chars": 50_000,
        "engine_budget_s": 0.5,
        "engine_s": took,
        "engine_timed_out": bool(decision.timed_out),
    }


async def bench_delivery(n: int) -> dict[str, Any]:
    tenant = GraphTenant("t")
    for box in ("post@kommune.dk", "byg@kommune.dk", "it@kommune.dk"):
        tenant.add_mailbox(box)
    ngdp = NgdpState(validate_memos=False)
    print("NgDP emulator MeMo validation: off (NgdpState(validate_memos=False), a throughput benchmark)")
    with tempfile.TemporaryDirectory() as tmp:
        store = create_store(f"sqlite:///{tmp}/s.db")
        async with GraphMailbox(
            StaticTokenCredential("t"),
            "http://127.0.0.1/v1.0",
            transport=httpx.ASGITransport(app=create_app(tenant)),
            retry=RetryPolicy.fast(),
        ) as mbx:
            settings = InboundSettings(
                organisation_cvr="29189846",
                organisation_name="Sandbox Kommune",
                main_mailbox="post@kommune.dk",
                monitoring_mailbox="it@kommune.dk",
                contact_points={CP_BYG: ContactPointRoute(CP_BYG, "Byg", "byg@kommune.dk")},
                rules=tuple(_rules()),
            )
            service = InboundService(mbx, in_process_client(ngdp), store, settings)
            xmls = [citizen_memo(attachments=2)[1] for _ in range(n)]
            for xml in xmls:
                ngdp.queue_inbound_memo(xml)
            start = time.perf_counter()
            stats = await service.run_once(mail=False)
            per_memo = (time.perf_counter() - start) / n
            assert stats.delivered == n, stats
            assert stats.deleted == n, stats
            message = memolib.parse(xmls[0])
            mail = render_memo_mail(message, xmls[0], target_mailbox="byg@kommune.dk", reply_from=None).mail
            start = time.perf_counter()
            for _ in range(n):
                await mbx.create_message("byg@kommune.dk", "inbox", mail, received=True)
            bare = (time.perf_counter() - start) / n
        store.close()
    print(f"delivery: {n} memos (2 PDFs each), SQLite, both emulators in-process")
    print(f"  full cycle  {per_memo * 1e3:8.1f} ms per memo (pull, store, route, create, receipt, delete)")
    print(f"  baseline    {bare * 1e3:8.1f} ms per bare create_message")
    print(f"  ratio       {per_memo / bare:8.2f}x")
    return {"memos": n, "full_cycle_s": per_memo, "bare_create_s": bare}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memos", type=int, default=40)
    add_json_option(parser)
    args = parser.parse_args()
    results = {"rules": bench_rules(), "catastrophic": bench_catastrophic()}
    results["delivery"] = asyncio.run(bench_delivery(args.memos))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
