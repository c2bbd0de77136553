"""Scenario entries for memos NgDP forwards as S/MIME e-mail (source smime-mail, docs/sandbox.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graph_dpg.config import load_gateway_file
from graph_dpg.demo.scenario import DEMO_GATEWAY, InboundMemoSpec, load_scenario


def test_smime_mail_source_needs_the_smtp_mailbox_and_only_it_has_one() -> None:
    with pytest.raises(ValidationError, match="mailbox"):
        InboundMemoSpec(name="x", memo={}, source="smime-mail")
    with pytest.raises(ValidationError, match="mailbox"):
        InboundMemoSpec(name="x", memo={}, mailbox="digitalpost-smtp@sandby.dk")
    spec = InboundMemoSpec(name="x", memo={}, source="smime-mail", mailbox="digitalpost-smtp@sandby.dk")
    assert spec.mailbox == "digitalpost-smtp@sandby.dk"


def test_built_in_forwarded_scene_targets_the_demo_smtp_recipient_system() -> None:
    config = load_gateway_file(DEMO_GATEWAY)
    smtp = {b.address for b in config.function_mailboxes if b.digital_post_smtp == "rest-receipt"}
    forwarded = [m for m in load_scenario().inbound if m.source == "smime-mail"]
    assert forwarded and all(m.mailbox in smtp for m in forwarded)
