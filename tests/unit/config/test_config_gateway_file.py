"""The gateway file: the shipped example, defaults, normalisation and the look-up helpers."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from graph_dpg.config import (
    DEFAULT_CATEGORIES,
    GatewayConfig,
    load_gateway_file,
    load_gateway_text,
)
from graph_dpg.domain.addresses import Channel, parse_address
from graph_dpg.domain.identifiers import is_valid_cvr
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.domain.receipts import JobCategory

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "gateway.yaml"
CP_A = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
CP_B = "bdcc201c-600c-4254-92c4-bab15dc075b5"
CP_C = "0f4f0a57-5b52-4a43-8b8e-3c1f4e3f2a10"

MINIMAL = """\
organisation:
  cvr: "35833684"
  name: Testkommune
main_mailbox: Post@Test.dk
monitoring_mailbox: drift@test.dk
"""


def gateway(extra: str = "") -> GatewayConfig:
    return load_gateway_text(MINIMAL + textwrap.dedent(extra), "test.yaml")


def test_example_loads_and_is_realistic() -> None:
    config = load_gateway_file(EXAMPLE)
    assert config.organisation.name == "Eksempel Kommune"
    assert is_valid_cvr(config.organisation.cvr)
    assert len(config.function_mailboxes) >= 3
    assert len(config.contact_points) >= 5
    assert [cp.name for cp in config.contact_points if cp.mailbox is None]  # one explicitly unmapped
    assert len(config.rules) >= 3
    assert any(c.field == "memo:kle" for rule in config.rules for c in rule.conditions)
    assert all(c.pattern is not None for rule in config.rules for c in rule.conditions if c.op == "regex")
    every_box = set(config.mailboxes)
    for cp in config.contact_points:
        assert cp.mailbox is None or cp.mailbox in every_box


def test_example_sender_contact_points_can_send_to_a_parsed_address() -> None:
    config = load_gateway_file(EXAMPLE)
    box = config.function_mailboxes[1]
    address = parse_address(f"0102031234@{box.sender_contact_points[0]}.ngdp.{config.gateway_domain}")
    assert config.mailbox_for_sender(address.sender_kind, address.sender_id) == [box.address]


def test_minimal_file_gets_the_documented_defaults() -> None:
    config = gateway()
    assert config.gateway_domain == "digital-post.dk"
    assert config.main_mailbox == "post@test.dk"  # addresses compare case-insensitively
    assert config.archive_mailbox is None
    assert config.function_mailboxes == () and config.contact_points == () and config.rules == ()
    assert config.organisation.mandatory_allowed is False
    assert config.organisation.legal_notification_allowed is False
    for state, (name, color) in DEFAULT_CATEGORIES.items():
        assert config.categories.get(state).name == name
        assert config.categories.get(state).color == color
    assert config.categories.get(JobCategory.QUEUED).name == "Digital Post: I kø"
    for channel in Channel:
        assert config.channel_policy(channel) == DEFAULT_POLICIES[channel]
    assert config.inbox_sources() == [("post@test.dk", "inbox")]


def test_function_mailbox_defaults_and_sources() -> None:
    config = gateway(
        f"""
        function_mailboxes:
          - address: jobcenter@test.dk
            sender_contact_points: ["{CP_A.upper()}"]
            inbox_folders: [inbox, "Sikker mail"]
          - address: modtager@test.dk
        """
    )
    jobcenter, receiver = config.function_mailboxes
    assert jobcenter.outgoing_folder == "sentitems"
    assert jobcenter.sender_contact_points == (CP_A,)  # UUIDs are kept lower-case, like parse_address
    assert receiver.may_send is False
    assert config.outgoing_sources() == [("jobcenter@test.dk", "sentitems")]
    assert config.inbox_sources() == [
        ("post@test.dk", "inbox"),
        ("jobcenter@test.dk", "inbox"),
        ("jobcenter@test.dk", "Sikker mail"),
    ]


def test_mailbox_for_sender_and_contact_point() -> None:
    config = gateway(
        f"""
        function_mailboxes:
          - address: a@test.dk
            cvrs: [35833684]          # unquoted: YAML makes it a number; accepted for CVRs
            sender_contact_points: [{CP_A}]
          - address: b@test.dk
            cvrs: ["35833684"]
        contact_points:
          - {{id: {CP_A}, name: A, mailbox: A@test.dk, folder: Digital Post}}
          - {{id: {CP_B}, name: Lukket, mailbox: null}}
        """
    )
    assert config.mailbox_for_sender("cvr", "35833684") == ["a@test.dk", "b@test.dk"]
    assert config.mailbox_for_sender("contact_point", CP_A.upper()) == ["a@test.dk"]
    assert config.mailbox_for_sender("contact_point", CP_B) == []
    assert config.mailbox_for_sender("cvr", "12345674") == []
    assert config.may_send_as("B@test.dk", "cvr", "35833684")
    assert not config.may_send_as("b@test.dk", "contact_point", CP_A)
    with pytest.raises(ValueError, match="unknown sender kind"):
        config.mailbox_for_sender("cpr", "0102031234")

    assert config.mailbox_for_contact_point(CP_A) == "a@test.dk"
    assert config.mailbox_for_contact_point(CP_B) is None  # explicitly unmapped
    assert config.mailbox_for_contact_point(CP_C) is None  # unknown
    unmapped = config.contact_point(CP_B)
    assert unmapped is not None and unmapped.name == "Lukket"
    assert config.contact_point(CP_C) is None
    mapped = config.contact_point(CP_A.upper())
    assert mapped is not None and mapped.folder == "Digital Post"


def test_channel_policy_merges_overrides_onto_the_defaults() -> None:
    config = gateway(
        """
        channels:
          mitdk:
            max_attachments: 5
            max_message_mb: 20.5
            allowed_types:
              .PDF: [application/pdf]
              jpg: image/jpeg
        """
    )
    mitdk = config.channel_policy("mitdk")
    assert mitdk.channel is Channel.MITDK
    assert mitdk.max_attachments == 5
    assert mitdk.max_message_bytes == 20_500_000
    assert dict(mitdk.allowed_types) == {
        "pdf": frozenset({"application/pdf"}),
        "jpg": frozenset({"image/jpeg"}),
    }
    assert config.channel_policy(Channel.NGDP) == DEFAULT_POLICIES[Channel.NGDP]

    only_count = gateway("channels: {EBoks: {max_attachments: 3}}").channel_policy("eboks")
    assert only_count.max_attachments == 3
    assert only_count.allowed_types == DEFAULT_POLICIES[Channel.EBOKS].allowed_types
    assert only_count.max_message_bytes == DEFAULT_POLICIES[Channel.EBOKS].max_message_bytes


def test_categories_can_be_partly_overridden() -> None:
    config = gateway(
        """
        categories:
          failed: {color: preset9}
          sent: {name: "DP sendt"}
          warning: {name: "DP advarsel", color: none}
        """
    )
    assert (config.categories.failed.name, config.categories.failed.color) == (
        "Digital Post: Fejlet",
        "preset9",
    )
    assert (config.categories.sent.name, config.categories.sent.color) == ("DP sendt", "preset7")
    assert config.categories.warning.color == "none"
    assert [state for state, _ in config.categories.items()] == list(DEFAULT_CATEGORIES)
    with pytest.raises(KeyError):
        config.categories.get("unknown")


RULES = f"""
function_mailboxes:
  - address: job@test.dk
rules:
  - name: late
    priority: 50
    conditions: [{{field: Subject, op: contains, value: " Sag "}}]
    actions: {{categories: [Sag]}}
  - name: first
    priority: 10
    match: any
    conditions:
      - {{field: "memo:KLE", op: regex, value: '^27\\.'}}
      - {{field: "HEADER:X-Kilde", op: exists}}
      - {{field: subject, op: regex, value: 'Jobplan', case_sensitive: true}}
    exceptions:
      - {{field: "memo:recipient_contact_point", op: equals, value: "{CP_A}"}}
    actions:
      deliver_to: {{mailbox: JOB@test.dk, folder: Jobcenter}}
      mark_read: true
      stop: true
  - name: also-50
    priority: 50
    enabled: false
    conditions: [{{field: body, op: contains, value: x}}]
    actions: {{archive_to: job@test.dk}}
  - name: default-priority
    conditions: [{{field: attachment_content, op: contains, value: "<memo:Message"}}]
    actions: {{stop: true}}
"""


def test_rules_are_normalised_compiled_and_ordered() -> None:
    config = gateway(RULES)
    late, first, disabled, default = config.rules
    assert late.match == "all" and late.enabled and late.exceptions == ()
    assert late.conditions[0].field == "subject"
    assert late.conditions[0].value == " Sag "  # spaces in a comparison value are kept
    kle, header, cased = first.conditions
    assert (kle.field, header.field) == ("memo:kle", "header:X-Kilde")
    assert header.value is None and header.pattern is None
    assert kle.pattern is not None and kle.pattern.search("27.12.04") and not kle.pattern.search("02.27")
    assert kle.pattern.flags & re.IGNORECASE
    assert cased.pattern is not None and not cased.pattern.flags & re.IGNORECASE
    assert first.actions.deliver_to is not None
    assert first.actions.deliver_to.mailbox == "job@test.dk"
    assert first.exceptions[0].value == CP_A
    assert default.priority == 100
    assert [r.name for r in config.ordered_rules()] == ["first", "late", "default-priority"]
    assert [r.name for r in config.ordered_rules(include_disabled=True)] == [
        "first",
        "late",
        "also-50",
        "default-priority",
    ]
    assert disabled.enabled is False


def test_models_are_frozen() -> None:
    config = gateway(RULES)
    with pytest.raises(ValidationError):
        config.main_mailbox = "x@test.dk"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.rules[0].priority = 1  # type: ignore[misc]


def test_model_validate_works_without_a_file() -> None:
    config = GatewayConfig.model_validate(
        {
            "organisation": {"cvr": "35833684", "name": "X"},
            "main_mailbox": "a@x.dk",
            "monitoring_mailbox": "b@x.dk",
            "gateway_domain": "DP.Example.DK.",
        }
    )
    assert config.gateway_domain == "dp.example.dk"


def test_a_mailbox_that_is_ngdps_smtp_recipient_system_is_read_and_answered_as_configured() -> None:
    from graph_dpg.bootstrap.rules import inbound_settings
    from graph_dpg.core.errors import ConfigError

    config = gateway(
        """
        function_mailboxes:
          - address: SikkerPost@test.dk
            digital_post_smtp: no-receipt
        """
    )
    assert ("sikkerpost@test.dk", "inbox") in [(m.lower(), f) for m, f in config.inbox_sources()]
    settings = inbound_settings(config)
    assert settings.forwarded_mailboxes == frozenset({"sikkerpost@test.dk"})
    assert settings.forwarded_receipt is False
    with pytest.raises(ConfigError):
        gateway(
            """
            function_mailboxes:
              - address: x@test.dk
                digital_post_smtp: push
            """
        )
