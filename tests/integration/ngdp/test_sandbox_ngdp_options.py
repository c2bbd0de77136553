"""The NgDP emulator's documented sandbox settings (docs/sandbox.md, "NgDP emulator settings"):
``duplicate_answer`` and ``validate_memos`` from flags and environment, for ``graph-dpg sandbox`` and
``python -m graph_dpg.sandbox.ngdp``; and the sandbox demo's push configured as in production (NgDP's
client certificate forwarded by a simulated Container Apps ingress, no shared secret)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from graph_dpg.adapters.digital_post.push import create_push_app
from graph_dpg.bootstrap import make_push_auth
from graph_dpg.cli import build_parser
from graph_dpg.demo.player import free_port, ngdp_pusher, sandbox_environment, sandbox_settings
from graph_dpg.sandbox.ngdp import NgdpPusher
from graph_dpg.sandbox.ngdp.__main__ import parser as emulator_parser
from graph_dpg.sandbox.ngdp.__main__ import state_from
from graph_dpg.sandbox.ngdp.state import (
    DUPLICATE_ANSWER_ENV,
    VALIDATE_MEMOS_ENV,
    settings_from_env,
)


def test_the_environment_sets_both_settings_and_defaults_are_strict() -> None:
    assert settings_from_env({}) == ("400-code", True)  # validation stays on unless switched off
    assert settings_from_env({DUPLICATE_ANSWER_ENV: "400-opaque", VALIDATE_MEMOS_ENV: "false"}) == (
        "400-opaque",
        False,
    )
    with pytest.raises(ValueError, match=DUPLICATE_ANSWER_ENV):
        settings_from_env({DUPLICATE_ANSWER_ENV: "418"})
    with pytest.raises(ValueError, match=VALIDATE_MEMOS_ENV):
        settings_from_env({VALIDATE_MEMOS_ENV: "maybe"})


def test_the_standalone_emulator_takes_flags_over_the_environment() -> None:
    env = {DUPLICATE_ANSWER_ENV: "409"}
    state = state_from(emulator_parser().parse_args(["--register", "0101701234"]), env)
    assert (state.duplicate_answer, state.validate_memos) == ("409", True)
    assert state.lookup("CITIZEN", "0101701234") is not None
    args = emulator_parser().parse_args(["--duplicate-answer", "422", "--no-validate-memos"])
    state = state_from(args, env)
    assert (state.duplicate_answer, state.validate_memos) == ("422", False)


def test_graph_dpg_sandbox_has_the_flags() -> None:
    args = build_parser().parse_args(["sandbox", "--ngdp-duplicate-answer", "400-field-errors"])
    assert (args.ngdp_duplicate_answer, args.ngdp_no_validation) == ("400-field-errors", False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sandbox", "--ngdp-duplicate-answer", "500"])


def test_the_sandbox_environment_hands_the_settings_to_the_emulator(tmp_path: Path) -> None:
    with sandbox_environment(tmp_path, duplicate_answer="400-opaque", validate_memos=False) as (
        _work,
        _tenant,
        _graph_url,
        state,
        _ngdp,
        _config,
    ):
        assert (state.duplicate_answer, state.validate_memos) == ("400-opaque", False)


async def test_the_demo_gateway_takes_ngdps_certificate_and_refuses_its_own(tmp_path: Path) -> None:
    """The demo's push configuration (sandbox_settings) against the demo's pusher (ngdp_pusher): NgDP's
    push certificate through the ingress header is accepted; the municipality's own certificate from the
    same sandbox CA is not, and the receipt stays at NgDP to be delivered again."""
    with sandbox_environment(tmp_path) as (work, _tenant, graph_url, state, ngdp, _config):
        settings = sandbox_settings(work, graph_url, ngdp, free_port())
        assert settings.push_token is None  # no shared secret: NgDP presents none
        auth = make_push_auth(settings)
        assert auth.problems() == []

        class Sink:
            receipts: list[object] = []

            async def store_pushed_memo(self, memo_uuid: str, xml: bytes) -> None:
                raise AssertionError("no memo is pushed here")

            async def store_pushed_receipt(self, receipt: object) -> None:
                self.receipts.append(receipt)

        sink = Sink()
        # Mounted where the gateway's HTTP server serves it (runtime/http.py)
        app = Starlette(routes=[Mount("/ngdp/push", app=create_push_app(sink, auth))])
        receipt_id = state.queue_receipt(
            {"messageUUID": "5f0c3c1e-8a43-4f3e-9d1e-2b8a3f6c7d10", "receiptStatus": "COMPLETED"}
        )
        transport = httpx.ASGITransport(app=app)
        assert ngdp.pki is not None
        own = NgdpPusher(
            state,
            memo_url="http://gw/ngdp/push/memos",
            receipt_url="http://gw/ngdp/push/receipts",
            client_cert=(ngdp.pki.client.cert, ngdp.pki.client.key),
            forward_as_ingress=True,
            source_ip="198.51.100.7",
            transport=transport,
        )
        demo = ngdp_pusher(ngdp, "http://gw", transport)
        try:
            assert await own.push_receipts() == {receipt_id: 401}
            assert state.receipt_ids() == [receipt_id] and sink.receipts == []
            assert await demo.push_receipts() == {receipt_id: 200}
            assert state.receipt_ids() == [] and len(sink.receipts) == 1
        finally:
            await own.aclose()
            await demo.aclose()
