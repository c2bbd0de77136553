"""The bounds on the YAML the gateway reads (``graph_dpg.config.yaml_bounds``): what an admin writes passes,
anchors and merge keys included; size, depth, alias expansion, binary content and invalid UTF-8 are refused
with the line, before a tree is built."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from graph_dpg.config import load_gateway_text
from graph_dpg.config.yaml_bounds import (
    GATEWAY_FILE_LIMITS,
    YamlLimits,
    check_yaml,
    decode_yaml,
    read_yaml_file,
)
from graph_dpg.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "gateway.yaml"


def refused(text: str, limits: YamlLimits = GATEWAY_FILE_LIMITS) -> str:
    with pytest.raises(ConfigError) as exc:
        check_yaml(text, "gw.yaml", limits)
    [problem] = exc.value.problems
    return problem


def test_the_example_gateway_file_passes_and_loads() -> None:
    text = read_yaml_file(EXAMPLE, "example")
    check_yaml(text, "example")
    assert load_gateway_text(text, "example").organisation.name


def test_anchors_and_merge_keys_within_the_bounds_load() -> None:
    text = """
organisation: {cvr: "29189846", name: Sandbox Kommune}
main_mailbox: post@kommune.dk
monitoring_mailbox: it@kommune.dk
function_mailboxes:
  - &box {address: byg@kommune.dk, cvrs: ["29189846"]}
  - {<<: *box, address: job@kommune.dk}
"""
    check_yaml(text, "gw.yaml")
    config = load_gateway_text(text, "gw.yaml")
    assert [(m.address, m.cvrs) for m in config.function_mailboxes] == [
        ("byg@kommune.dk", ("29189846",)),
        ("job@kommune.dk", ("29189846",)),
    ]


def test_depth_is_counted_over_block_and_flow_collections() -> None:
    limits = YamlLimits(max_depth=3)
    check_yaml("a:\n  b: [1]\n", "gw.yaml", limits)  # the root mapping, a's mapping, b's sequence
    problem = refused("a:\n  b: [[1]]\n", limits)
    assert problem == "gw.yaml:2: nested more than 3 levels deep; no setting needs that many"


def test_a_hundred_thousand_levels_are_refused_instead_of_a_recursion_error() -> None:
    problem = refused("a: " + "[" * 100_000 + "]" * 100_000)
    assert problem.startswith("gw.yaml:1: nested more than 64 levels deep")
    with pytest.raises(ConfigError):
        load_gateway_text("a: " + "[" * 100_000 + "]" * 100_000, "gw.yaml")


def test_billion_laughs_is_refused_on_the_line_where_the_expansion_crosses_the_bound() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    problem = refused("\n".join(lines) + "\n")
    # 9**6 = 531,441 values at f (line 6); 9**5 = 59,049 at e still fits in 200,000.
    assert problem.startswith("gw.yaml:6: stands for more than 200,000 values once its aliases")


def test_expanded_values_are_counted_exactly() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"  # a: 1 + 3; b: 1 + 2 * 4; keys a, b; the root mapping
    check_yaml(text, "gw.yaml", YamlLimits(max_nodes=16))
    assert "more than 15 values" in refused(text, YamlLimits(max_nodes=15))


def test_an_alias_to_the_collection_that_contains_it_is_refused() -> None:
    assert refused("a: &a [1, *a]\n") == "gw.yaml:1: alias *a refers to a collection that contains it"


def test_anchors_are_per_document() -> None:
    text = "a: &a [1, 2]\n---\nb: &a [*a]\n"  # *a of the second document is still open there
    assert "refers to a collection that contains it" in refused(text)


def test_size_is_bounded_before_anything_is_parsed() -> None:
    assert refused("a: " + "x" * 100 + "\n", YamlLimits(max_bytes=50)).startswith(
        "gw.yaml:1: the file is too big (104 bytes): at most 50 bytes are read"
    )


def test_syntax_errors_are_left_to_the_loader_with_their_line() -> None:
    check_yaml("a: [1, 2\nb: 3\n", "gw.yaml")
    with pytest.raises(ConfigError) as exc:
        load_gateway_text("a: [1, 2\nb: 3\n", "gw.yaml")
    assert "YAML syntax" in exc.value.problems[0]


def test_binary_content_and_invalid_utf8_are_named_with_their_position() -> None:
    with pytest.raises(ConfigError) as exc:
        decode_yaml(b"a: 1\nb: \x00\x01\x02\n", "gw.yaml")
    assert exc.value.problems == ["gw.yaml:2: binary content (a NUL byte at column 4): not a YAML text file"]
    with pytest.raises(ConfigError) as exc:
        decode_yaml(b"a: 1\nb: caf\xe9\n", "gw.yaml")
    assert exc.value.problems == ["gw.yaml:2: not UTF-8 (byte 0xe9 at column 7); save the file as UTF-8"]
    assert decode_yaml("\ufeffa: æøå\n".encode(), "gw.yaml") == "a: æøå\n"  # a BOM is dropped


def test_reading_stops_at_the_bound_even_when_the_size_is_unknown(tmp_path: Path) -> None:
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)

    def write() -> None:
        # Unbuffered, and the pipe's end caught around the close too: a buffered close flushes into the
        # closed pipe and raised BrokenPipeError outside the loop (a thread-exception warning, now and then).
        try:
            with open(fifo, "wb", buffering=0) as handle:
                while True:
                    handle.write(b"# " + b"x" * 65_536 + b"\n")
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(ConfigError) as exc:
        read_yaml_file(fifo, "endless", YamlLimits(max_bytes=1_000_000))
    assert exc.value.problems == ["endless:1: the file is too big: at most 1,000,000 bytes are read"]
    writer.join(10)
