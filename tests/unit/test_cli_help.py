"""Every `--help` of graph-dpg reads as plain text for the admin at the terminal.

The command modules' docstrings are their help descriptions, so reST markup written for Sphinx, citations of
notes that are not in the repository and the story of how a bug was found would all end up on the screen.
The walk discovers the command tree from the parser, so a new subcommand is checked without listing it here.
"""

from __future__ import annotations

import argparse
import re

import pytest

from graph_dpg.cli import COMMANDS, build_parser, main

FORBIDDEN: dict[str, re.Pattern[str]] = {
    "reST inline literal": re.compile(r"``"),
    "reST role": re.compile(r":[a-z]+:`"),
    "reST literal block marker": re.compile(r"::[ \t]*$", re.MULTILINE),
    "reST table border": re.compile(r"^[ \t]*={3,}([ \t]+={3,})+[ \t]*$", re.MULTILINE),
    "note outside the repository": re.compile(r"DESIGN|graph-facts|ngdp-facts|shared/(reference|seeds|memo)"),
    "development history": re.compile(
        r"found by|\bissue\s*#?\d|bench/|chaos|fuzz|regression|^Before,", re.IGNORECASE | re.MULTILINE
    ),
}


def problems(text: str) -> list[str]:
    return [f"{name}: {m.group(0)!r}" for name, pattern in FORBIDDEN.items() if (m := pattern.search(text))]


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += command_paths(sub, (*prefix, name))
    return paths


PATHS = command_paths(build_parser())


def test_the_walk_finds_every_command_and_the_nested_ones():
    top = {p[0] for p in PATHS if p}
    assert top == set(COMMANDS)
    assert {("address", "explain"), ("memo", "validate"), ("memo", "show"), ("rules", "test")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "graph-dpg")
def test_help_is_plain_text_without_history(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: graph-dpg{''.join(' ' + p for p in path)}")
    assert problems(out) == [], out


@pytest.mark.parametrize(
    "text",
    [
        "masked (``010203-xxxx``)",
        "The checks live in :mod:`graph_dpg.diagnostics.doctor`.",
        "one line per file, in argument order::\n\n    FILE: valid",
        "=======  =====\npermission  id\n=======  =====",
        "gateway addresses (DESIGN §1.1)",
        "ids from graph-facts.md",
        "Before, the StoreError escaped (found by bench/chaos.py)",
        "the runtime alerts from 30 days before expiry (issue 8)",
    ],
)
def test_the_checker_catches_what_it_is_for(text):
    assert problems(text)


def test_the_checker_passes_plain_help():
    assert problems("CPR numbers are masked (010203-xxxx) unless --show-cpr is given.\n  a -- b: c") == []
