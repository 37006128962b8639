"""A component input's `min:` and `max:`: inclusive bounds of a number or integer input, the
keys (and meaning) of Azure ML's component YAML. A value out of them is refused at load,
wherever it is given: the input's default, a step's value, a param's default (and a `-p`
value: the param's limits, params.value_refusal), a matrix axis or sweep input, so a run
never starts a step its component would refuse (`std/split_data` given a fraction of 1.5 ran
the steps before it first)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from .. import spec
from ..spec import MISSING, InputDecl
from .expansion import expansion_values
from .phrases import a, quoted, spelled
from .reader import NodeReader, is_scalar

if TYPE_CHECKING:
    from yaml import Node

# A sweep's draws that reach no bound (a normal is any number, a lognormal any above 0).
_UNBOUNDED = ("normal", "qnormal", "lognormal", "qlognormal")


def load_bounds(r: NodeReader, f: Mapping[str, Node], typ: str, name: str, what: str, decl: InputDecl) -> InputDecl:
    """`decl` with the `min:`/`max:` of its fields `f`; the default and enum values checked
    against them (an out-of-bounds default would be refused wherever the input is left unset)."""
    if "min" not in f and "max" not in f:
        return decl
    owner = f"input '{name}' of {what}"
    if typ not in (spec.NUMBER, spec.INTEGER):
        key = "min" if "min" in f else "max"
        r.error(f[key], f"{owner} is {a(typ)}, which takes no {key}:", f"remove {key}:, or make it type: number")
        return decl
    low, high = (_bound(r, f[k], f"{k} of {owner}") if k in f else None for k in ("min", "max"))
    if low is not None and high is not None and low > high:
        r.error(f["max"], f"{owner} has max {spelled(high)} below its min {spelled(low)}", "swap them")
        return decl
    if decl.default is not MISSING and (why := out_of_bounds(decl.default, low, high)):
        r.error(f["default"], f"default of {owner} is {quoted(decl.default)}, {why}", bounds_hint(low, high))
    for v in decl.enum:
        if why := out_of_bounds(v, low, high):
            r.error(f["enum"], f"enum of {owner} holds {quoted(v)}, {why}", "remove it, or widen min:/max:")
    return dataclasses.replace(decl, low=low, high=high)


def _bound(r: NodeReader, node: Node, what: str) -> Optional[Any]:
    v = r.value(node) if is_scalar(node) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        shown = repr(v) if is_scalar(node) else "a list or mapping"
        r.error(node, f"{what} must be a finite number, not {shown}", "e.g. min: 0")
        return None
    return v  # (as written: 1 stays 1, not 1.0, in messages and `pipe components show`)


def out_of_bounds(value: Any, low: Optional[float], high: Optional[float]) -> str:
    """Why `value` is out of [low, high] ("below its min 0"); "" when it is inside, or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if value != value and (low is not None or high is not None):  # nan: below and above nothing
        return "not a number, outside the bounds"
    if low is not None and value < low:
        return f"below its min {spelled(low)}"
    if high is not None and value > high:
        return f"above its max {spelled(high)}"
    return ""


def bounds_text(low: Optional[float], high: Optional[float]) -> str:
    """'0 to 1', 'at least 1', 'at most 10' ('' without bounds)."""
    if low is not None and high is not None:
        return f"{spelled(low)} to {spelled(high)}"
    if low is not None:
        return f"at least {spelled(low)}"
    return f"at most {spelled(high)}" if high is not None else ""


def bounds_range(low: Optional[float], high: Optional[float]) -> str:
    """'from 0 to 1', 'of at least 1': what follows "give a value"."""
    return f"{'from' if low is not None and high is not None else 'of'} {bounds_text(low, high)}"


def bounds_hint(low: Optional[float], high: Optional[float]) -> str:
    return f"give a value {bounds_range(low, high)}"


def held_bounds(limits: Iterable[spec.ParamLimit]) -> tuple:
    """(low, high): the narrowest bounds of the inputs a param is bound to (its limits)."""
    low = high = None
    for lim in limits:
        if lim.low is not None and (low is None or lim.low > low):
            low = lim.low
        if lim.high is not None and (high is None or lim.high < high):
            high = lim.high
    return low, high


def check_expansion_bounds(r: NodeReader, what: str, comp, expansion: spec.Expansion, decls) -> None:
    """A matrix axis or sweep input of an input with `min:`/`max:` stays inside them: each
    value listed, and a sweep range's ends (its q forms as they round)."""
    how = "axis" if expansion.kind == spec.EXPAND_MATRIX else "sweep input"
    for name in expansion.names if comp is not None and expansion.kind != spec.EXPAND_FOREACH else ():
        decl = decls.get(name)
        if decl is None or (decl.low is None and decl.high is None):
            continue
        low, high, said = decl.low, decl.high, ""
        for v in expansion_values(expansion, name):
            if why := out_of_bounds(v, low, high):
                said = f"gives {quoted(v)}, {why}"
                break
        for n, kind, vs in expansion.space if not said else ():
            if n != name or kind == "choice":
                continue
            if kind in _UNBOUNDED:
                said = f"draws from {kind}, which reaches any value, but the input takes {bounds_text(low, high)}"
                break
            ends = (vs[0], vs[1]) if not kind.startswith("q") else tuple(round(x / vs[2]) * vs[2] for x in vs[:2])
            why = out_of_bounds(ends[0], low, high) or out_of_bounds(ends[1], low, high)
            if why:
                why = why.replace("its", "the input's")
                said = f"draws {kind} from {spelled(ends[0])} to {spelled(ends[1])}, {why}"
                break
        if said:
            r.error_at(
                expansion.loc,
                f"{how} '{name}' of {what} {said}",
                f"keep its values inside the input's bounds: {bounds_text(low, high)}",
            )


def held_in_bounds(r: NodeReader, inputs: dict, bounded: list, owner: str) -> dict:
    """A pipeline component's `inputs`, each narrowed to the min:/max: of the inner inputs
    bound to it (`bounded`: (its input, the inner decl, where, what)): a using step's value, a
    `-p` value through it, and its own default are then held to them as any input's are."""
    out = dict(inputs)
    for name, inner, loc, what in bounded:
        decl = out.get(name)
        if decl is None or (inner.low is None and inner.high is None):
            continue
        low, high = held_bounds([spec.ParamLimit(what, loc, (), b.low, b.high) for b in (decl, inner)])
        if low is not None and high is not None and low > high:
            r.error_at(
                loc,
                f"{what} takes {bounds_text(inner.low, inner.high)}, none of which input '{name}' of {owner} takes",
                "give the two inputs bounds that meet, or bind another input",
            )
            continue
        if decl.default is not MISSING and (why := out_of_bounds(decl.default, inner.low, inner.high)):
            why = why.replace("its", "the")
            r.error_at(
                decl.loc,
                f"default of input '{name}' of {owner} is {quoted(decl.default)}, {why} of {what} it is bound to",
                f"give a default {bounds_range(inner.low, inner.high)}",
            )
        out[name] = dataclasses.replace(decl, low=low, high=high)
    return out
