"""Param values from outside the Pipefile: `-p name=value` text from the command line (and
the values a client sends), converted to the param's type, plus every param's final value.

Sizes (`4GB`, `512MiB`) are parsed here too: they come both from the Pipefile (memory of a
step) and from the command line (`pipe serve --max-upload`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Optional

from .. import lazyre, names, spec
from ..errors import PipefileError, did_you_mean, raise_all
from ..printable import printable
from ..spec import MISSING
from . import numbers
from .bounds import bounds_range, bounds_text
from .phrases import a, quoted, spelled

_SIZE_RE = lazyre.Pattern(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([KMGTP]?i?B?)?\s*$", re.I)
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
    "T": 10**12,
    "TB": 10**12,
    "KI": 2**10,
    "KIB": 2**10,
    "MI": 2**20,
    "MIB": 2**20,
    "GI": 2**30,
    "GIB": 2**30,
    "TI": 2**40,
    "TIB": 2**40,
}

_TYPE_EXAMPLES = {
    spec.NUMBER: "give a number, e.g. 0.01",
    spec.INTEGER: "give a whole number, e.g. 5",
    spec.BOOLEAN: "give true or false",
    spec.STRING: "give any text",
    spec.LIST: 'give values separated by commas, e.g. a,b,c, or a JSON list, e.g. ["a", 2]',
}


def parse_size(value: Any) -> Optional[int]:
    """Bytes from 4GB, 512MiB, 1e9 or an int; None when it is not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        size = float(value)
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        unit = (m.group(2) or "").upper()
        if unit not in _SIZE_UNITS:
            return None
        size = float(m.group(1)) * _SIZE_UNITS[unit]
    else:
        return None
    # (1e400GB is inf, which int() refuses: inf and nan are no size; a finite one past any
    # machine's is, and the scheduler says it does not fit)
    return int(size) if 0 <= size < math.inf else None


def parse_param_overrides(
    pf: spec.Pipefile, pairs: Iterable[str], errors: Optional[list[PipefileError]] = None
) -> dict:
    """Typed values from `-p name=value` flags; raises for unknown names and bad values
    unless `errors` is given to collect them."""
    found: list[PipefileError] = errors if errors is not None else []
    out: dict = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0].strip():  # (`-p =3`: "no param ''" said nothing)
            found.append(PipefileError(f"-p {printable(pair)}: expected name=value", hint="e.g. -p lr=0.01"))
            continue
        if not names.is_utf8(pair):  # (a value goes into keys and the job database: UTF-8 text)
            found.append(
                PipefileError(
                    f"-p {names.shown(pair)}: is not UTF-8 text (a byte of it is not UTF-8)",
                    hint="give the param in UTF-8; a path whose name is not UTF-8: rename it first "
                    "(convmv -f latin1 -t utf8 -r --notest FOLDER)",
                )
            )
            continue
        name, text = pair.split("=", 1)
        name = name.strip()
        param = pf.params.get(name)
        asset = pf.assets.get(name) if param is None else None
        if asset is not None:  # (an Azure ML pipeline's path input is one: it read as a typo)
            found.append(
                PipefileError(
                    f"-p {printable(pair)}: '{printable(name)}' is an asset (a path), not a param: -p sets params only",
                    asset.loc,
                    "change its path: where it is declared",
                )
            )
            continue
        if param is None:
            found.append(
                PipefileError(
                    f"-p {printable(pair)}: the Pipefile has no param '{printable(name)}'",  # (no forged line)
                    hint=did_you_mean(name, pf.params, "param")
                    if pf.params
                    else "declare it under params: in the Pipefile",
                )
            )
            continue
        # A Pipefile's default may be .inf or .nan (YAML reads them; job records, the designer and
        # pipe serve write them as text), so -p reads them too: a value the file can hold is one
        # -p can give, in YAML's spelling or Python's (`inf`, `-Infinity`, `nan`).
        value = convert_param_text(text, param.type, finite=False)
        if value is None:
            shown = printable(pair if len(pair) <= 80 else f"{pair[:60]}... ({len(text)} characters)")
            t = text.strip()
            if len(t) > numbers.MAX_INT_CHARS and numbers.kind(t) == numbers.INT:  # more digits than pipe reads
                found.append(
                    PipefileError(
                        f"-p {shown}: a number of more than {numbers.MAX_INT_CHARS} characters, more than pipe reads",
                        hint="write a smaller number",
                    )
                )
                continue
            found.append(
                PipefileError(
                    f"-p {shown}: param '{name}' is {a(param.type)}, and {text!r} is not",
                    param.loc,  # where the type comes from
                    _type_hint(param, text),
                )
            )
            continue
        refused = value_refusal(param, value, f"-p {printable(pair)}: ")
        if refused is not None:
            found.append(refused)
            continue
        # (given twice: the last wins, as a script's default before the user's value means it;
        # overridden_params says so)
        out[name] = value
    if errors is None:
        raise_all(found)
    return out


def overridden_params(pairs: Iterable[str]) -> list:
    """(loc, message, hint) notes of each `-p NAME=VALUE` that replaces an earlier one of
    another value (the last given wins: a script's default before the user's "$@"), for the
    CLI to say: a value given and then silently not used was lost without a word."""
    given: dict = {}
    notes = []
    for pair in pairs:
        if "=" not in pair:
            continue
        name, text = pair.split("=", 1)
        name, text = name.strip(), text.strip()
        before = given.get(name)
        if before is not None and not _same_text(before, text):
            notes.append(
                (
                    None,
                    f"-p {printable(name)}={printable(text)} replaces -p {printable(name)}={printable(before)} "
                    "given before it: the last given is used",
                    "give the param once if that was not meant",
                )
            )
        given[name] = text
    return notes


def _same_text(a: str, b: str) -> bool:
    """Whether two -p values are one value written two ways (0.5 and .5)."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def enum_refusal(param: spec.Param, value: Any, prefix: str = "") -> Optional[PipefileError]:
    """The error for a value outside the param's `enum:`; None when it is allowed (or there is no enum)."""
    if not param.enum or value in param.enum:
        return None
    return PipefileError(
        f"{prefix}param '{param.name}' is {quoted(value)}, which is not one of its enum values",
        param.loc,  # where the enum is declared
        enum_hint(value, param.enum),
    )


def value_refusal(param: spec.Param, value: Any, prefix: str = "") -> Optional[PipefileError]:
    """The error for a value the param's own `enum:` refuses, or an input bound to it does (an
    Azure ML component's `enum:`, `min:`, `max:`: the same value written in the file is refused
    at load); None when every one allows it."""
    refused = enum_refusal(param, value, prefix)
    if refused is not None:
        return refused
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    for lim in param.limits:
        said = f"{prefix}param '{param.name}' is {quoted(value)}"
        if number and value != value and (lim.low is not None or lim.high is not None):
            return PipefileError(  # (nan: below and above nothing, so held by no bounds)
                f"{said}, not a number, which {lim.what} does not take (its bounds: {bounds_text(lim.low, lim.high)})",
                lim.loc,
                f"give a number {bounds_range(lim.low, lim.high)}",
            )
        if number and lim.low is not None and value < lim.low:
            return PipefileError(
                f"{said}, below the min {lim.low} of {lim.what}",
                lim.loc,
                f"give a value of at least {lim.low}: -p {param.name}={lim.low}",
            )
        if number and lim.high is not None and value > lim.high:
            return PipefileError(
                f"{said}, above the max {lim.high} of {lim.what}",
                lim.loc,
                f"give a value of at most {lim.high}: -p {param.name}={lim.high}",
            )
        if lim.enum and value not in lim.enum:
            return PipefileError(
                f"{said}, which {lim.what} does not take (its enum: [{', '.join(map(quoted, lim.enum))}])",
                lim.loc,
                f"{enum_hint(value, lim.enum)} (e.g. -p {param.name}={spelled(lim.enum[0])})",
            )
    return None


def narrowed_enum(choices: tuple, held: Iterable) -> tuple:
    """The values of `choices` (an enum; () takes any) that `held` (another enum it is bound to) takes too."""
    held = tuple(held)
    return tuple(v for v in choices if v in held) if choices else held


def held_enum(param: spec.Param) -> tuple:
    """The only values `param` takes (() for any): its enum:, narrowed by that of each input
    with one that it is bound to (its limits), as a -p value is held."""
    out = tuple(param.enum)
    for lim in param.limits:
        if lim.enum:
            out = narrowed_enum(out, lim.enum)
    return out


def enum_hint(value: Any, choices: Iterable) -> str:
    """The hint for a value outside an enum: the close one, if any, and all the allowed ones."""
    choices = list(choices)
    close = did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else None
    near = f"{close} " if close and close.startswith("did you mean") else ""  # not its list of names
    return near + "give one of: " + ", ".join(spelled(c) for c in choices)


def type_example(typ: str) -> str:
    """How to give a value of a param type: 'give a whole number, e.g. 5'."""
    return _TYPE_EXAMPLES.get(typ, "give a value of that type")


def _type_hint(param: spec.Param, text: str) -> str:
    hint = type_example(param.type)
    if param.type == spec.INTEGER and isinstance(numbers.parse(text), float):
        # The default was written as a whole number, which made the param an integer.
        default = "" if param.default is MISSING else f", default: {float(param.default)!r}"
        hint += f"; for fractions, declare it a number: {param.name}: {{type: number{default}}}"
    return hint


def convert_param_text(text: str, typ: str, finite: bool = True) -> Any:
    """The value of `text` as a param of type `typ`; None when it is not one. Numbers are
    read as in a Pipefile (`load.numbers`): `1e-3`, `.5`, `1_000`, `0x1F`. With `finite`
    (a value sent as JSON, which has none), no nan or infinity; without it (-p, read as the
    Pipefile's default is), `.inf`, `inf`, `-Infinity`, `.nan`, `nan` and `1e999` too."""
    t = text.strip()
    if typ in (spec.INTEGER, spec.NUMBER):
        v = numbers.parse(t)
        if typ == spec.INTEGER:
            return v if isinstance(v, int) else None
        if v is None and not finite and t.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return float(t)  # (Python's spellings, which YAML reads as text)
        try:
            return float(v) if v is not None and (not finite or math.isfinite(v)) else None
        except OverflowError:  # an integer past what a float holds
            return None
    if typ == spec.LIST:
        return _list_text(t, finite)
    if typ == spec.BOOLEAN:
        low = t.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        return None
    return text


def _non_finite_items(v: Any) -> bool:
    """True for a list holding NaN, an infinity or a number past a float (`[1e999]`): Python's
    json reads them, strict JSON has none, and a number param refuses them."""
    return isinstance(v, list) and any(isinstance(x, float) and not math.isfinite(x) for x in v)


def _list_text(t: str, finite: bool = True) -> Any:
    """A list param's value: a JSON list (`["a", 2]`, and without `finite` `[1, Infinity]`, as
    Python's json reads it), else comma-separated text (`a,b`)."""
    if t.startswith("["):
        import json

        try:
            v = json.loads(t)
        except ValueError:
            return None
        return tuple(v) if spec.value_fits(v, spec.LIST) and not (finite and _non_finite_items(v)) else None
    return tuple(x.strip() for x in t.split(",") if x.strip())


def resolve_params(
    pf: spec.Pipefile, overrides: Mapping[str, Any], errors: Optional[list[PipefileError]] = None
) -> dict:
    """Every param's value: the override, else the default.

    Raises for required ones left unset, unless `errors` is given to collect them.
    """
    values = {}
    found: list[PipefileError] = errors if errors is not None else []
    for name, p in pf.params.items():
        if name in overrides:
            given = overrides[name]
            if any(isinstance(x, str) and "\0" in x for x in (given if isinstance(given, (list, tuple)) else (given,))):
                # It would end in a command, a path or an environment value, none of which can hold one.
                found.append(
                    PipefileError(
                        f"the value of param '{name}' holds a NUL character (\\0)", hint="give a value without it"
                    )
                )
                continue
            if isinstance(given, (list, tuple)) and not all(names.is_utf8(x) for x in given if isinstance(x, str)):
                found.append(  # (JSON spells one, "\ud800": no file name, command or record holds it)
                    PipefileError(
                        f"the value of param '{name}' holds a lone surrogate (\\ud800-\\udfff), which is not text",
                        hint="give a value without it (a character beyond U+FFFF is a pair, \\ud83d\\ude00, or itself)",
                    )
                )
                continue
            refused = value_refusal(p, overrides[name])  # a served job's or a client's value, not only -p's
            if refused is not None:
                found.append(refused)
                continue
            values[name] = overrides[name]
        elif p.default is not MISSING:
            values[name] = p.default
        else:
            found.append(
                PipefileError(
                    f"param '{name}' is required and has no value", p.loc, f"give it on the command line: -p {name}=..."
                )
            )
    if errors is None:
        raise_all(found)
    return values
