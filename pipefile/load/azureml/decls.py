"""A component input's declaration, and a job's outputs, as Azure ML checks them (azure-ai-ml's
`Input` and its output schema): what it refuses when the job is submitted is refused here too,
at its line, so a pipeline that runs here is not one Azure turns down. A part of
`nodes.CommandNodes` (`_decls`, `command`)."""

from __future__ import annotations

import math

from ... import spec
from ...errors import PipefileError, did_you_mean
from .yamlfile import Map

TYPE_HINTS = {  # (what a literal of the type looks like, for an error's fix)
    spec.INTEGER: "write a whole number, without quotes: 3",
    spec.NUMBER: "write a number, without quotes: 0.01",
    spec.BOOLEAN: "write true or false, without quotes",
}


def _number(v):
    """`v` as azure-ai-ml reads a number (a numeric text too); None when it is none."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _parses(v, typ: str) -> bool:
    """Whether azure-ai-ml takes `v` as a default of a `typ` input (Input._update_default)."""
    if isinstance(v, (list, dict)) or v is None:
        return False
    if typ in (spec.INTEGER, spec.NUMBER):
        return isinstance(v, bool) or _number(v) is not None
    if typ == spec.BOOLEAN:
        return str(v).lower() in ("true", "false")
    return True


def check(name: str, d, t: str, typ: str, errors: list) -> None:
    """Add to `errors` what Azure refuses in the declaration `d` of input `name` (Azure
    type `t`, pipe type `typ`): min/max on other than a number, min/max or a default that is
    no value of its type, a default on a path input, and a default outside its own enum,
    min or max (every run that leaves the input unbound would use it)."""
    what = f"component input '{name}'"
    limits = {}
    for key in ("min", "max"):
        if d.get(key) is None:
            continue
        if typ not in (spec.INTEGER, spec.NUMBER):
            hint = f"remove {key}: (Azure ML takes min and max on integer and number inputs only)"
            errors.append(PipefileError(f"{what} is {t}: it cannot have {key}:", d.at(key), hint))
        elif (n := _number(d[key])) is None or not math.isfinite(n):
            errors.append(PipefileError(f"{what}: {key} must be a number, not {d[key]!r}", d.at(key), f"{key}: 10"))
        else:
            limits[key] = n
    enum = d.get("enum")
    if typ == spec.STRING and enum is not None and not isinstance(enum, list):  # (it was ignored)
        errors.append(PipefileError(f"{what}: enum must be a list, not {enum!r}", d.at("enum"), "enum: [a, b]"))
        enum = None
    if typ == spec.STRING and isinstance(enum, list) and any(not isinstance(c, str) for c in enum):
        bad = next(c for c in enum if not isinstance(c, str))
        quoted = ", ".join(repr(str(c)) if not isinstance(c, str) else repr(c) for c in enum)
        hint = f"quote them, as Azure ML takes only text in a string input's enum: enum: [{quoted}]"
        errors.append(PipefileError(f"{what}: enum value {bad!r} is not text", d.at("enum"), hint))
        enum = None
    if d.get("default") is None:
        return
    default = d["default"]
    if typ in spec.PATH_TYPES:
        hint = f"bind it in the job's inputs: ({name}: {{type: {t}, path: ./data}}), or declare it optional: true"
        errors.append(PipefileError(f"{what} is {t}: Azure ML takes no default for it", d.at("default"), hint))
        return
    if not _parses(default, typ):
        hint = TYPE_HINTS.get(typ, "write a single value")
        errors.append(PipefileError(f"{what} is {t}, but its default is {default!r}", d.at("default"), hint))
        return
    value = _number(default) if typ in (spec.INTEGER, spec.NUMBER) else default
    for key, outside in (("min", lambda lim: value < lim), ("max", lambda lim: value > lim)):
        if key in limits and value is not None and outside(limits[key]):
            word = "below" if key == "min" else "above"
            hint = f"give a default of at {'least' if key == 'min' else 'most'} {d[key]}, or change its {key}:"
            errors.append(
                PipefileError(f"{what}: its default {default!r} is {word} its {key} {d[key]}", d.at("default"), hint)
            )
    if typ == spec.STRING and isinstance(enum, list) and enum and str(default) not in enum:
        hint = f"give a default from the enum, or add {str(default)!r} to it (at line {d.at('enum').line})"
        errors.append(PipefileError(f"{what}: its default {default!r} is not one of {enum}", d.at("default"), hint))


_PATH_PORTS = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model", "triton_model")
_OUTPUT_MODES = ("rw_mount", "upload", "mount", "direct")


def check_outputs(node: str, outs, job_level: bool, errors: list) -> None:
    """Add to `errors` each output of `outs` (a job's, `job_level`, or its component's) whose
    type or mode Azure refuses: it was read as a uri_folder and its mode ignored, without a
    word. A component may declare a value output (a control output); a job may not."""
    allowed = _PATH_PORTS if job_level else _PATH_PORTS + ("number", "integer", "string", "boolean")
    for oname, o in outs.items() if isinstance(outs, Map) else ():
        if not isinstance(o, Map):
            continue  # (a binding, or null: a uri_folder)
        t, mode = o.get("type"), o.get("mode")
        if t is not None and t not in allowed:
            hint = did_you_mean(str(t), allowed, "type") or f"type: one of {', '.join(_PATH_PORTS)}"
            whose = "a job's output" if job_level else "an output"
            errors.append(
                PipefileError(
                    f"job '{node}': output '{oname}': Azure ML takes no type {t!r} for {whose}", o.at("type"), hint
                )
            )
        if mode is not None and mode not in _OUTPUT_MODES:
            hint = f"mode: one of {', '.join(_OUTPUT_MODES)} (here an output is a folder of this machine in any mode)"
            errors.append(
                PipefileError(f"job '{node}': output '{oname}': Azure ML takes no mode {mode!r}", o.at("mode"), hint)
            )


def decl_bounds(d, typ: str) -> tuple:
    """(min, max) of a number or integer input, kept on the decl as its enum is (the Pipefile
    `pipe import azureml` writes holds its steps, and -p, to them too); None where it has none
    a Pipefile's min:/max: could say."""
    if typ not in (spec.NUMBER, spec.INTEGER):
        return None, None
    low, high = (
        d.get(k) if isinstance(d.get(k), (int, float)) and not isinstance(d.get(k), bool) else None
        for k in ("min", "max")
    )
    return (None, None) if low is not None and high is not None and low > high else (low, high)


def decl_enum(d, typ: str) -> tuple:
    """A component input's `enum:`, each value as its type reads it: kept on the decl, so the
    Pipefile `pipe import azureml` writes holds its steps (and -p) to it too. () when it has
    none a Pipefile's enum could say (a path input's, or values not of its type)."""
    choices = d.get("enum")
    if typ not in spec.VALUE_TYPES or not isinstance(choices, list) or not choices:
        return ()
    out = tuple(typed(c, typ) for c in choices)
    return out if all(spec.value_fits(c, typ) for c in out) and len(set(out)) == len(out) else ()


def typed(value, typ: str):
    """A default as its type reads it: azure-ai-ml writes them as text ('1.0', 'False'), and
    a number input's whole default as a float (`default: 1` renders 1.0 on Azure)."""
    if typ == spec.NUMBER and type(value) is int:
        return float(value)
    if not isinstance(value, str):
        return value
    try:
        if typ == spec.BOOLEAN and value in ("True", "False", "true", "false"):
            return value in ("True", "true")
        if typ == spec.INTEGER:
            return int(value)
        if typ == spec.NUMBER:
            return float(value)
    except ValueError:
        pass
    return value
