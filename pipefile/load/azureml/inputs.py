"""The inputs of an Azure ML pipeline job itself (its top-level `inputs:`): a literal is a
param (`pipe run -p NAME=VALUE` sets it), a path an asset. A part of `pipeline.Importer`'s
reading; what is wrong is added to its errors, each said once (docs/azureml.md)."""

from __future__ import annotations

from typing import Optional

from ... import spec
from ...errors import PipefileError, did_you_mean
from ..reader import NAME_RE
from .nodes import _TYPE_HINTS, PORT_TYPES, typed
from .yamlfile import Map


class SaidAlready(PipefileError):
    """What reads something whose own error is reported already (a job, a pipeline input):
    it fails, but no second error is said for it."""


_INPUT_KEYS = {"type", "default", "value", "path", "optional", "enum", "min", "max", "description", "mode"}
# The scope's value of a pipeline input whose error is said: a job binding it fails quietly
# (a second "is number, not [1, 2]" or "no input 'x'" at each binding said the same again).
BROKEN = object()


def top_inputs(imp, inputs, top) -> dict:
    """The pipeline's inputs as a scope (name -> Binding, None when unset, or BROKEN); each
    literal becomes a param of `imp`, each path an asset."""
    scope: dict = {}
    if not isinstance(inputs, Map):
        raise PipefileError("inputs: must be a mapping", top.at("inputs"))
    for name, v in inputs.items():
        loc = inputs.at(name)
        scope[name] = BROKEN  # (until it is read whole)
        if not NAME_RE.fullmatch(name):
            imp.errors.append(PipefileError(f"'{name}' is not a valid input name", loc))
            continue
        # (a typo, `defualt: 0.1`, left the input with no value without a word; Azure refuses it)
        imp._check_keys(v, _INPUT_KEYS, f"pipeline input '{name}'")
        if isinstance(v, Map) and ("path" in v or PORT_TYPES.get(v.get("type")) in spec.PATH_TYPES):
            if "path" not in v:
                scope[name] = None  # an optional path input left empty
                continue
            try:
                b = imp.bind(v, imp.path, loc, {}, "", f"pipeline input '{name}'")
            except PipefileError as e:
                imp.errors.append(e)
                continue
            if b is not None and b.kind == spec.BIND_PATH:
                imp.assets[name] = spec.Asset(name, b.ref, b.type, loc=loc)
                scope[name] = spec.Binding(spec.BIND_ASSET, loc, ref=name, type=b.type)
            continue
        value = v.get("default", v.get("value")) if isinstance(v, Map) else v
        if value is None:  # (Azure takes its value from `--set inputs.NAME=...`): a param -p may set
            _unset_param(imp, name, v, loc, scope)
            continue
        said = len(imp.errors)
        typ = input_type(v, value, name, loc, imp.errors)
        if isinstance(value, (list, dict)):  # (no value at all: its enum and bindings say no more)
            continue
        choices = input_enum(v, value, name, imp.errors, typ) if isinstance(v, Map) else ()
        imp.params[name] = spec.Param(name, typ or spec.type_of_value(value), value, loc=loc, enum=choices)
        if len(imp.errors) == said:
            scope[name] = spec.Binding(spec.BIND_PARAM, loc, ref=name)
    return scope


def _unset_param(imp, name: str, v, loc, scope: dict) -> None:
    """A literal input with no value: a param whose value is None (its bindings are unbound,
    as they were) until `-p NAME=VALUE` gives one, of its `type:` (text when it has none)."""
    t = v.get("type") if isinstance(v, Map) else None
    if t is not None and t not in PORT_TYPES:
        hint = did_you_mean(str(t), PORT_TYPES, "type")
        imp.errors.append(PipefileError(f"pipeline input '{name}': unknown type {t!r}", v.at("type"), hint))
        return
    typ = PORT_TYPES[t] if t is not None else spec.STRING
    said = len(imp.errors)
    choices = input_enum(v, None, name, imp.errors, typ) if isinstance(v, Map) else ()
    imp.params[name] = spec.Param(name, typ, None, loc=loc, enum=choices)
    if len(imp.errors) == said:
        scope[name] = spec.Binding(spec.BIND_PARAM, loc, ref=name)


def input_enum(v: Map, value, name: str, errors: list, typ: Optional[str] = None) -> tuple:
    """The `enum:` of the pipeline's literal input `name` (its `-p` values are held to it as
    its default is, params.value_refusal); () when there is none. What is wrong is added to
    `errors`, located, as a component input's enum is checked against what is bound. The
    default and the values are compared as the input's type `typ` reads them: azure-ai-ml
    writes a default as text (default: '1' of an integer input is 1, in enum [1, 2])."""
    if "enum" not in v:
        return ()
    choices = v["enum"]
    if not isinstance(choices, list) or not choices:
        errors.append(
            PipefileError(f"pipeline input '{name}': enum must be a non-empty list", v.at("enum"), "e.g. enum: [a, b]")
        )
        return ()
    if typ is not None:
        # (as -p reads a value of that type: the enum holds what it is compared with)
        choices = [typed(c, typ) for c in choices]
        value = typed(value, typ)
    if value is not None and value not in choices:
        key = "default" if "default" in v else "value"
        errors.append(
            PipefileError(
                f"pipeline input '{name}' is {value!r}, which is not one of its enum values {choices}",
                v.at(key),
                f"give a {key} from the enum, or add {value!r} to the enum (at line {v.at('enum').line})",
            )
        )
    return tuple(choices)


def input_type(v, value, name: str, loc, errors: list) -> Optional[str]:
    """The type of the pipeline's literal input `name` (None: as its value reads). A type
    Azure does not know, a default of another type, and a list or mapping (no value of an
    input) are added to `errors`, located: they ran as given (a list said to need a foreach)."""
    if isinstance(value, (list, dict)):
        errors.append(
            PipefileError(f"pipeline input '{name}': a list or mapping is not a value", loc, "give a literal")
        )
        return None
    t = v.get("type") if isinstance(v, Map) else None
    if t is None:
        return None
    if t not in PORT_TYPES:
        hint = did_you_mean(str(t), PORT_TYPES, "type")
        errors.append(PipefileError(f"pipeline input '{name}': unknown type {t!r}", v.at("type"), hint))
        return None
    typ = PORT_TYPES[t]
    fits = spec.value_fits(typed(value, typ), typ) or typ == spec.STRING or typ in spec.PATH_TYPES
    if not fits:  # (as a component input's literal is checked: an int is a number, anything a string)
        key = "default" if "default" in v else "value"
        errors.append(PipefileError(f"pipeline input '{name}' is {typ}, not {value!r}", v.at(key), _TYPE_HINTS[typ]))
    return typ
