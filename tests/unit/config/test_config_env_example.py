"""``.env.example`` documents every setting, each with a comment, with the real defaults and no secrets."""

from __future__ import annotations

import re
from pathlib import Path

from graph_dpg.config import Settings, env_name, load_settings

ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
KEY_LINE = re.compile(r"(GRAPH_DPG_[A-Z0-9_]+)=(.*)")


def example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()


def documented() -> dict[str, tuple[int, str]]:
    """Key → (line index, value) of every ``GRAPH_DPG_X=value`` line."""
    found: dict[str, tuple[int, str]] = {}
    for index, line in enumerate(example_lines()):
        match = KEY_LINE.fullmatch(line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is listed twice"
            found[match.group(1)] = (index, match.group(2))
    return found


def test_every_setting_appears_in_env_example() -> None:
    missing = [env_name(name) for name in Settings.model_fields if env_name(name) not in documented()]
    assert missing == []


def test_env_example_lists_no_unknown_setting() -> None:
    known = {env_name(name) for name in Settings.model_fields}
    assert sorted(set(documented()) - known) == []


def test_every_setting_has_a_comment_right_above_it() -> None:
    lines = example_lines()
    uncommented = [key for key, (index, _) in documented().items() if not lines[index - 1].startswith("#")]
    assert uncommented == []


def test_secrets_are_empty_in_the_template() -> None:
    secrets = [
        env_name(n) for n, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
    ]
    assert secrets  # the check below must check something
    values = documented()
    assert {key: values[key][1] for key in secrets} == dict.fromkeys(secrets, "")


def test_template_loads_and_states_the_true_defaults() -> None:
    from_template = load_settings(ENV_EXAMPLE).model_dump(exclude={"replica_id"})
    defaults = load_settings(None).model_dump(exclude={"replica_id"})
    assert from_template == defaults
