"""What a Pipefile says about how its steps are executed rather than what they compute:
`settings: {executor: ...}` at the top level, a step's `retries:` and `timeout:`, and the
`custom:` resources of `resources:` (a cluster's own kinds of node). None of these enter a
step's key: where and how often a step runs does not change what it makes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from .. import lazyre, spec
from .reader import NodeReader

if TYPE_CHECKING:
    from yaml import Node

SETTINGS_KEYS = ("executor",)
EXECUTOR_KEYS = ("type", "address", "store")
_DURATION = lazyre.Pattern(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_CUSTOM_NAME = lazyre.Pattern(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
# Ray's own names for what cpus/gpus/memory already say: asked again as custom they would clash.
_RESERVED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


def parse_duration(value) -> Optional[float]:
    """Seconds from a number (seconds) or a text like 90s, 2.5m, 1h, 500ms; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return None


def load_settings(r: NodeReader, node: Node) -> Optional[spec.ExecutorSettings]:
    """`settings:` of the Pipefile: today only `executor:` (a type, or {type, address, store})."""
    f = r.fields(node, "settings", SETTINGS_KEYS)
    if "executor" not in f:
        return None
    en = f["executor"]
    v = r.value(en)
    hint = f"one of: {', '.join(spec.EXECUTOR_TYPES)} (e.g. executor: ray, or executor: {{type: ray, store: NAME}})"
    if isinstance(v, str):
        if v not in spec.EXECUTOR_TYPES:
            r.error(en, f"settings: unknown executor '{v}'", hint)
            return None
        return spec.ExecutorSettings(v, loc=r.loc(en))
    if not isinstance(v, dict):
        r.error(en, f"settings: executor must be a name or a mapping, not {v!r}", hint)
        return None
    ef = r.fields(en, "settings: executor", EXECUTOR_KEYS)
    kind = r.value(ef["type"]) if "type" in ef else "local"
    if kind not in spec.EXECUTOR_TYPES:
        r.error(ef.get("type", en), f"settings: unknown executor type {kind!r}", hint)
        return None
    address = r.string(ef["address"], "settings: executor address") if "address" in ef else ""
    store = r.string(ef["store"], "settings: executor store") if "store" in ef else ""
    if kind == "local" and (address or store):
        r.error(en, "settings: address and store are for the ray executor", "add type: ray, or remove them")
    return spec.ExecutorSettings(kind, address or "", store or "", r.loc(en))


def load_retries(r: NodeReader, node: Node, what: str) -> Optional[int]:
    v = r.value(node)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
        r.error(
            node,
            f"retries of {what} must be a whole number from 0 to 100, not {v!r}",
            "the times a step is run again when the executor fails under it (a worker that died); "
            "a command that exits non-zero is never retried",
        )
        return None
    return v


def load_timeout(r: NodeReader, node: Node, what: str) -> Optional[float]:
    v = r.value(node)
    seconds = parse_duration(v)
    if seconds is None or seconds <= 0:
        r.error(node, f"timeout of {what} is not a positive duration: {v!r}", "write seconds (600) or 90s, 30m, 2h")
        return None
    return seconds


def load_custom_resources(r: NodeReader, node: Node, what: str) -> tuple:
    """`custom: {NAME: amount}` of `resources:`: ((name, amount), ...) sorted."""
    out = {}
    for name, kn, vn in r.mapping(node, f"custom resources of {what}"):
        v = r.value(vn)
        if not _CUSTOM_NAME.match(name) or name in _RESERVED_RESOURCES:
            r.error(
                kn,
                f"custom resource name {name!r} of {what} is not usable",
                "letters, digits, _ . : -; cpus, gpus and memory have keys of their own",
            )
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:  # (.nan, .inf too)
            r.error(
                vn, f"custom resource '{name}' of {what} must be a positive number, not {v!r}", "e.g. special_node: 1"
            )
        else:
            out[name] = float(v)
    return tuple(sorted(out.items()))
