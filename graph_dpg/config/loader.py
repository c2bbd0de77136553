"""The gateway file's loader: YAML → :class:`~graph_dpg.config.gateway.GatewayConfig`, every problem at once.

:class:`~graph_dpg.core.errors.ConfigError` lists precise ``FILE:LINE: field.path: what is wrong`` strings.
Line numbers come from ruamel.yaml's round-trip loader, which remembers where each key and list item was;
pydantic's error locations are walked through that tree. Consistency checks that span sections (every
referenced mailbox is configured, sender contact points belong to one mailbox, names are unique) run on the
raw tree, so they are reported even when other parts of the file fail validation.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from graph_dpg.config._common import _clean_message, _did_you_mean, _got
from graph_dpg.config.gateway import CATEGORY_STATES, DEFAULT_CATEGORIES, GatewayConfig
from graph_dpg.config.yaml_bounds import check_yaml, read_yaml_file
from graph_dpg.core.errors import ConfigError


def load_gateway_file(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway file; :class:`ConfigError` lists every ``FILE:LINE: field: problem``.
    The file is read within bounds (size, UTF-8, nesting depth, alias expansion: ``config.yaml_bounds``)."""
    source = str(path)
    return load_gateway_text(read_yaml_file(path, source), source)


def load_gateway_text(text: str, source: str = "<gateway file>") -> GatewayConfig:
    """Like :func:`load_gateway_file`, from text already read (``source`` names it in messages)."""
    check_yaml(text, source)
    yaml = YAML(typ="rt", pure=True)
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise _config_error(source, [f"{source}:{line}: YAML syntax: {what}"]) from None
    except YAMLError as exc:
        raise _config_error(source, [f"{source}:1: YAML syntax: {exc}"]) from None
    if tree is None:
        raise _config_error(source, [f"{source}:1: the file is empty"])
    if not isinstance(tree, CommentedMap):
        raise _config_error(
            source, [f"{source}:1: the file must be a mapping (organisation:, main_mailbox: ...)"]
        )

    located: list[tuple[int, str, str]] = []  # (line, field path, message)
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(_plain(tree))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            message = _gateway_message(err)
            if message is not None:
                located.append((_line_of(tree, loc), _format_loc(loc), message))
    for loc, message in _cross_checks(tree):
        located.append((_line_of(tree, loc), _format_loc(loc), message))
    if located or config is None:
        located.sort(key=lambda item: item[0])
        unique = dict.fromkeys(
            f"{source}:{line}: {path}: {message}" if path else f"{source}:{line}: {message}"
            for line, path, message in located
        )
        raise _config_error(source, list(unique))
    return config


def _config_error(source: str, problems: list[str]) -> ConfigError:
    return ConfigError(f"{source}: {len(problems)} problem(s)", problems)


def _plain(node: Any) -> Any:
    """ruamel's round-trip types → plain dict/list/str/int/float/bool, so pydantic sees ordinary data."""
    if isinstance(node, Mapping):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _line_of(tree: Any, loc: Sequence[Any]) -> int:
    """1-based line of the deepest part of ``loc`` that exists in the file."""
    line = 0
    node = tree
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(node, CommentedMap) and seg in node:
            line = node.lc.key(seg)[0]
            node = node[seg]
        elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
            line = node.lc.item(seg)[0]
            node = node[seg]
        else:
            break
    return int(line) + 1


def _format_loc(loc: Sequence[Any]) -> str:
    out = ""
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


_FRIENDLY = {
    "dict_type": "must be a mapping (key: value lines)",
    "model_type": "must be a mapping (key: value lines)",
    "model_attributes_type": "must be a mapping (key: value lines)",
    "list_type": "must be a list (lines starting with '- ')",
    "tuple_type": "must be a list (lines starting with '- ')",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}


def _gateway_message(err: Mapping[str, Any]) -> str | None:
    """The admin-facing text of one pydantic error; None for an echo of errors reported elsewhere."""
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "missing":
        if len(loc) >= 2 and loc[0] == "contact_points" and loc[-1] == "mailbox":
            return (
                "is required: give the mailbox address, or null to leave the contact point unmapped on "
                "purpose (its post then goes to the main mailbox with a warning banner)"
            )
        return "is required"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = _did_you_mean(str(loc[-1]), allowed) if allowed else ""
        listing = f" (allowed here: {', '.join(allowed)})" if allowed and not hint else ""
        return f"unknown field{hint}{listing}"
    if kind == "too_short" and loc and loc[-1] == "conditions":
        if err.get("input"):
            return None  # pydantic's "0 items after validation": the items' own errors say why
        return "needs at least one condition (e.g. {field: from, op: exists} to match everything)"
    if kind in _FRIENDLY:
        return _FRIENDLY[kind] + _got(err.get("input"))
    message = _clean_message(err)
    if kind in ("value_error", "assertion_error"):
        return message
    return message + _got(err.get("input"))


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """The field names of the model at ``loc`` (for "did you mean" on unknown keys)."""
    tp: Any = GatewayConfig
    for seg in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(seg))
            if info is None:
                return []
            tp = info.annotation
            continue
        origin = get_origin(tp)
        args = get_args(tp)
        if origin in (tuple, list) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp
            tp = options[0]
        else:
            return tp


def _cross_checks(tree: CommentedMap) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Checks across sections, on the raw tree so they run even when other parts fail validation."""

    def seq(node: Any) -> list[tuple[int, Any]]:
        return list(enumerate(node)) if isinstance(node, list) else []

    def norm(value: Any) -> str | None:
        return value.strip().lower() if isinstance(value, str) and value.strip() else None

    boxes = seq(tree.get("function_mailboxes"))
    configured: dict[str, None] = {}
    for key in ("main_mailbox", "monitoring_mailbox", "archive_mailbox"):
        if (address := norm(tree.get(key))) is not None:
            configured[address] = None
    first_box: dict[str, int] = {}
    owner: dict[str, int] = {}
    for i, box in boxes:
        if not isinstance(box, Mapping):
            continue
        if (address := norm(box.get("address"))) is not None:
            configured[address] = None
            if address in first_box:
                yield (
                    ("function_mailboxes", i, "address"),
                    f"mailbox {address!r} is already listed as function_mailboxes[{first_box[address]}]; "
                    "merge the two entries",
                )
            else:
                first_box[address] = i
        for j, cp in seq(box.get("sender_contact_points")):
            if (cp_id := norm(cp)) is None:
                continue
            if cp_id in owner and owner[cp_id] != i:
                yield (
                    ("function_mailboxes", i, "sender_contact_points", j),
                    f"sender contact point {cp_id} is already assigned to function_mailboxes[{owner[cp_id]}] "
                    f"({norm(boxes[owner[cp_id]][1].get('address'))}); a sender contact point belongs to one "
                    "mailbox",
                )
            owner.setdefault(cp_id, i)

    known = ", ".join(configured) or "none"

    def check_mailbox(loc: tuple[Any, ...], value: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
        address = norm(value)
        if address is not None and address not in configured:
            yield (
                loc,
                f"mailbox {address!r} is not configured (configured: {known}); add it under "
                "function_mailboxes or correct the address",
            )

    seen_cp: dict[str, int] = {}
    for i, cp in seq(tree.get("contact_points")):
        if not isinstance(cp, Mapping):
            continue
        yield from check_mailbox(("contact_points", i, "mailbox"), cp.get("mailbox"))
        if (cp_id := norm(cp.get("id"))) is not None:
            if cp_id in seen_cp:
                yield (
                    ("contact_points", i, "id"),
                    f"contact point {cp_id} is already listed as contact_points[{seen_cp[cp_id]}]",
                )
            seen_cp.setdefault(cp_id, i)

    seen_rule: dict[str, int] = {}
    for i, rule in seq(tree.get("rules")):
        if not isinstance(rule, Mapping):
            continue
        if (name := norm(rule.get("name"))) is not None:
            if name in seen_rule:
                yield (
                    ("rules", i, "name"),
                    f"rule name {rule.get('name')!r} is already used by rules[{seen_rule[name]}]; "
                    "names must be unique (case-insensitive)",
                )
            seen_rule.setdefault(name, i)
        actions = rule.get("actions")
        if isinstance(actions, Mapping):
            deliver = actions.get("deliver_to")
            if isinstance(deliver, Mapping):
                yield from check_mailbox(
                    ("rules", i, "actions", "deliver_to", "mailbox"), deliver.get("mailbox")
                )
            yield from check_mailbox(("rules", i, "actions", "archive_to"), actions.get("archive_to"))

    categories = tree.get("categories")
    if isinstance(categories, Mapping):
        by_name: dict[str, list[tuple[str, bool]]] = {}
        for state in CATEGORY_STATES:
            spec = categories.get(state)
            raw_name = spec.get("name") if isinstance(spec, Mapping) else None
            name = norm(raw_name) or DEFAULT_CATEGORIES[state][0].lower()
            by_name.setdefault(name, []).append((state, raw_name is not None))
        for states in by_name.values():
            if len(states) < 2:
                continue
            explicit = [state for state, given in states if given] or [state for state, _ in states]
            listing = " and ".join(state for state, _ in states)
            for state in explicit:
                yield (
                    ("categories", state, "name"),
                    f"the same category name is used for {listing}; each state needs its own category",
                )
