"""Every kind of gateway-file mistake is reported as ``FILE:LINE: field.path: what is wrong``, all at once."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from graph_dpg.config import load_gateway_file, load_gateway_text
from graph_dpg.core.errors import ConfigError

CP_A = "dfebd0ca-e211-47e4-af3a-f0d3344f018e"
CP_B = "bdcc201c-600c-4254-92c4-bab15dc075b5"

HEAD = """\
organisation:
  cvr: "35833684"
  name: Testkommune
main_mailbox: post@test.dk
monitoring_mailbox: drift@test.dk
function_mailboxes:
  - address: job@test.dk
"""  # 7 lines; line numbers below count from here


def problems(body: str, tmp_path: Path, *, dedent: bool = True) -> list[str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(HEAD + (textwrap.dedent(body) if dedent else body), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_gateway_file(path)
    prefix = f"{path}:"
    assert all(p.startswith(prefix) for p in info.value.problems)
    return [p.removeprefix(prefix) for p in info.value.problems]


def rule(
    conditions: str = "[{field: subject, op: contains, value: x}]", actions: str = "{stop: true}"
) -> str:
    return f"""
    rules:
      - name: r
        conditions: {conditions}
        actions: {actions}
    """


def test_bad_cvr(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(HEAD.replace('"35833684"', '"87654321"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_gateway_file(path)
    assert info.value.problems == [
        f"{path}:2: organisation.cvr: CVR number 87654321 fails the modulus-11 check (weighted sum 156, remainder 2)"
    ]


def test_bad_cvr_of_a_function_mailbox(tmp_path: Path) -> None:
    found = problems(
        '  - address: hr@test.dk\n    cvrs: ["35833684", 1234567]\n',
        tmp_path,
        dedent=False,
    )
    assert found == ["9: function_mailboxes[1].cvrs[1]: CVR number must have 8 digits, got 7"]


def test_unknown_mailbox_in_rule(tmp_path: Path) -> None:
    found = problems(rule(actions="{deliver_to: {mailbox: Nobody@test.dk}}"), tmp_path)
    assert found == [
        "12: rules[0].actions.deliver_to.mailbox: mailbox 'nobody@test.dk' is not configured (configured: "
        "post@test.dk, drift@test.dk, job@test.dk); add it under function_mailboxes or correct the address"
    ]


def test_unknown_archive_mailbox_and_contact_point_mailbox(tmp_path: Path) -> None:
    found = problems(
        f"""
        contact_points:
          - id: {CP_A}
            name: A
            mailbox: gone@test.dk
        rules:
          - name: r
            conditions: [{{field: from, op: exists}}]
            actions:
              archive_to: arkiv@test.dk
        """,
        tmp_path,
    )
    assert [p.split(": mailbox")[0] for p in found] == [
        "12: contact_points[0].mailbox",
        "17: rules[0].actions.archive_to",
    ]


def test_bad_regex(tmp_path: Path) -> None:
    found = problems(rule(conditions="[{field: body, op: regex, value: '(unclosed'}]"), tmp_path)
    assert found == [
        "11: rules[0].conditions[0].value: regular expression '(unclosed' does not compile: "
        "missing ), unterminated subpattern at position 0"
    ]


def test_bad_colour(tmp_path: Path) -> None:
    found = problems(
        """
        categories:
          failed:
            name: Fejl
            color: red
        """,
        tmp_path,
    )
    assert found == [
        "12: categories.failed.color: must be one of preset0 ... preset24 or none (Outlook's colours), got 'red'"
    ]


def test_duplicate_rule_name(tmp_path: Path) -> None:
    found = problems(
        """
        rules:
          - name: Kvitteringer
            conditions: [{field: subject, op: contains, value: x}]
            actions: {stop: true}
          - name: kvitteringer
            conditions: [{field: subject, op: contains, value: y}]
            actions: {stop: true}
        """,
        tmp_path,
    )
    assert found == [
        "13: rules[1].name: rule name 'kvitteringer' is already used by rules[0]; names must be unique "
        "(case-insensitive)"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("rules: {name: x}\n", "8: rules: must be a list (lines starting with '- ')"),
        (
            rule().replace("- name: r", "- name: r\n        priority: high"),
            "11: rules[0].priority: must be a whole number (got 'high')",
        ),
        (
            rule().replace("- name: r", "- name: r\n        enabled: maybe"),
            "11: rules[0].enabled: must be true or false (got 'maybe')",
        ),
        (
            rule(conditions="[{field: memo:kle, op: equals, value: 27.00}]"),
            "11: rules[0].conditions[0].value: must be text; put it in quotes so YAML keeps it as written "
            "(got 27.0)",
        ),
        ("organisation_name: X\n", "8: organisation_name: unknown field; did you mean 'organisation'?"),
        (
            "gateway_domain: [a]\n",
            "8: gateway_domain: must be text; put it in quotes so YAML keeps it as written (got ['a'])",
        ),
        (
            "channels: {ngdp: {max_attachments: 11}}\n",
            "8: channels.ngdp.max_attachments: Input should be less than or equal to 10 (got 11)",
        ),
        ("channels: {sms: {}}\n", "8: channels.sms: Input should be 'ngdp', 'mitdk' or 'eboks' (got 'sms')"),
    ],
)
def test_wrong_types_and_values(body: str, expected: str, tmp_path: Path) -> None:
    assert problems(body, tmp_path) == [expected]


def test_rule_condition_mistakes(tmp_path: Path) -> None:
    found = problems(
        """
        rules:
          - name: r
            conditions:
              - {field: subjekt, op: contains, value: x}
              - {field: "memo:kel", op: equals, value: "27"}
              - {field: "header:", op: exists}
              - {field: body, op: like, value: x}
              - {field: body, op: exists, value: x}
              - {field: body, op: contains}
              - {field: to, op: equals, value: ""}
            actions: {}
          - name: empty
            conditions: []
            actions: {mark_read: true}
        """,
        tmp_path,
    )
    assert found == [
        "12: rules[0].conditions[0].field: unknown field 'subjekt'; use one of attachment_content, "
        "attachment_name, body, from, original_from, recipients, subject, to, header:<Name> or memo:<field>; "
        "did you mean 'subject'?",
        "13: rules[0].conditions[1].field: unknown MeMo field 'kel'; use one of case_id, kle, label, "
        "legal_notification, mandatory, message_type, message_uuid, post_type, recipient_contact_point, "
        "recipient_id, sender_contact_point, sender_id, sender_id_type; did you mean 'kle'?",
        "14: rules[0].conditions[2].field: header:<Name> needs a mail header name such as header:X-Priority, "
        "got 'header:'",
        "15: rules[0].conditions[3].op: Input should be 'equals', 'contains', 'regex' or 'exists' (got 'like')",
        "16: rules[0].conditions[4].value: op 'exists' takes no value; remove it",
        "17: rules[0].conditions[5].value: op 'contains' needs a value",
        "18: rules[0].conditions[6].value: must not be empty",
        "19: rules[0].actions: the rule does nothing: give deliver_to, categories, mark_read, archive_to or stop",
        "21: rules[1].conditions: needs at least one condition (e.g. {field: from, op: exists} to match "
        "everything)",
    ]


def test_contact_point_mistakes(tmp_path: Path) -> None:
    found = problems(
        f"""
          - address: hr@test.dk
            sender_contact_points: ["{CP_A.upper()}", not-a-uuid]
          - address: JOB@test.dk
        contact_points:
          - id: {CP_B}
            name: Uden postkasse
          - id: "{{{CP_B}}}"
            name: B
            mailbox: null
          - id: {CP_B}
            name: Igen
            mailbox: job@test.dk
        function_mailboxes_extra: 1
        """,
        tmp_path,
    )
    assert found[:2] == [
        "10: function_mailboxes[1].sender_contact_points[1]: must be a UUID like "
        "dfebd0ca-e211-47e4-af3a-f0d3344f018e, got 'not-a-uuid'",
        "11: function_mailboxes[2].address: mailbox 'job@test.dk' is already listed as function_mailboxes[0]; "
        "merge the two entries",
    ]
    assert found[2].startswith(
        "13: contact_points[0].mailbox: is required: give the mailbox address, or null"
    )
    assert found[3:] == [
        f"15: contact_points[1].id: must be a UUID in the form 8-4-4-4-12 hex digits, got '{{{CP_B}}}'",
        f"18: contact_points[2].id: contact point {CP_B} is already listed as contact_points[0]",
        "21: function_mailboxes_extra: unknown field; did you mean 'function_mailboxes'?",
    ]


def test_sender_contact_point_belongs_to_one_mailbox(tmp_path: Path) -> None:
    found = problems(
        f"    sender_contact_points: [{CP_A}]\n"
        "  - address: hr@test.dk\n"
        f'    sender_contact_points: [{CP_B}, "{CP_A.upper()}"]\n',
        tmp_path,
        dedent=False,
    )
    assert found == [
        f"10: function_mailboxes[1].sender_contact_points[1]: sender contact point {CP_A} is already assigned "
        "to function_mailboxes[0] (job@test.dk); a sender contact point belongs to one mailbox"
    ]


def test_duplicate_category_names(tmp_path: Path) -> None:
    found = problems("categories: {sent: {name: 'Digital Post: Fejlet'}}\n", tmp_path)
    assert found == [
        "8: categories.sent.name: the same category name is used for sent and failed; each state needs its own "
        "category"
    ]


def test_allowed_types_mistakes(tmp_path: Path) -> None:
    found = problems("channels: {mitdk: {allowed_types: {pdf: [not a mime]}}}\n", tmp_path)
    assert found == [
        "8: channels.mitdk.allowed_types: pdf: 'not a mime' is not a MIME type like application/pdf"
    ]


def test_all_problems_are_listed_together_in_line_order(tmp_path: Path) -> None:
    found = problems(
        """
        categories: {queued: {color: preset25}}
        rules:
          - name: a
            conditions: [{field: body, op: regex, value: '[z-a]'}]
            actions: {deliver_to: {mailbox: x@test.dk}}
          - name: a
            priority: "1.5"
            conditions: [{field: body, op: exists}]
            actions: {stop: true}
        """,
        tmp_path,
    )
    assert [p.split(":")[0] for p in found] == ["9", "12", "13", "14", "15"]
    assert [p.split(": ")[1] for p in found] == [
        "categories.queued.color",
        "rules[0].conditions[0].value",
        "rules[0].actions.deliver_to.mailbox",
        "rules[1].name",
        "rules[1].priority",
    ]


def test_missing_required_sections(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("gateway_domain: digital-post.dk\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_gateway_file(path)
    assert info.value.problems == [
        f"{path}:1: organisation: is required",
        f"{path}:1: main_mailbox: is required",
        f"{path}:1: monitoring_mailbox: is required",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "g.yaml:1: the file is empty"),
        ("# only a comment\n", "g.yaml:1: the file is empty"),
        ("- a\n- b\n", "g.yaml:1: the file must be a mapping (organisation:, main_mailbox: ...)"),
        ("a: 1\na: 2\n", None),  # duplicate key: a YAML error with its line
        ("organisation: {cvr: 1\nmain_mailbox: x\n", None),
    ],
)
def test_unreadable_yaml(text: str, expected: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        load_gateway_text(text, "g.yaml")
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    if expected is not None:
        assert problem == expected
    else:
        assert re.match(r"g\.yaml:[12]: YAML syntax: ", problem), problem


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_gateway_file(tmp_path / "nope.yaml")
    assert info.value.problems == [f"{tmp_path / 'nope.yaml'}: file not found"]


# --- property tests: whatever an admin types, the loader answers with ConfigError or a config ---------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
_keys = st.sampled_from(
    [
        "organisation",
        "cvr",
        "name",
        "main_mailbox",
        "monitoring_mailbox",
        "function_mailboxes",
        "contact_points",
        "rules",
        "conditions",
        "actions",
        "categories",
        "channels",
        "address",
        "mailbox",
        "field",
        "op",
        "value",
        "ngdp",
        "failed",
    ]
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=5)),
    max_leaves=12,
)


def _dump(data: object) -> str:
    import io

    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def _problems_or_nothing(text: str, source: str) -> list[str]:
    """The problems of a file, or [] when it is valid. Any other exception fails the test."""
    try:
        load_gateway_text(text, source)
    except ConfigError as exc:
        problems = exc.problems
    else:
        return []
    assert problems, "a ConfigError must list at least one problem"
    return problems


@settings(max_examples=settings.default.max_examples * 3 // 5)
@given(st.dictionaries(_keys, _trees, max_size=6))
def test_arbitrary_structures_give_located_problems_or_a_config(data: dict[str, object]) -> None:
    for problem in _problems_or_nothing(_dump(data), "p.yaml"):
        assert re.match(r"p\.yaml:\d+: \S", problem), problem


@settings(max_examples=settings.default.max_examples * 2)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    for problem in _problems_or_nothing(text, "t.yaml"):
        assert re.match(r"t\.yaml:\d+: \S", problem), problem
