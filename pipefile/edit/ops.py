"""The edit operations on params and step fields (`set_param`, `set`, `connect`, ...).

Each takes an `Editor` and the operation's JSON object, refuses bad input with a located
EditError that says the fix, and otherwise changes the text and the intended data through
`Editor.put` (or the step operations of steps.py).
"""

from __future__ import annotations

import re
from typing import Any

from .. import spec
from ..errors import PipefileError, did_you_mean
from ..load import numbers, stdlib
from ..load.params import convert_param_text, type_example
from ..load.reader import NAME_RE
from .editor import Editor
from .errors import EditError
from .tree import MAP, SCALAR, line_start

FIELD_FORMS = (
    "inputs.NAME",
    "params.NAME",
    "outputs.NAME.path",
    "environment",
    "resources.KEY",
    "command",
    "description",
    "matrix.AXIS",
)
RESOURCE_KEYS = ("cpus", "memory", "gpus")
_BEFORE_STEPS = ("assets", "environments", "components", "steps")


def arg(op: dict, key: str, kind: Any = str, optional: bool = False) -> Any:
    if key not in op:
        if optional:
            return None
        raise EditError(f"'{key}' is missing", hint=f"give the operation a '{key}'")
    value = op[key]
    if optional and value is None:
        return None
    if not isinstance(value, kind):
        raise EditError(f"'{key}' must be {_kind_name(kind)}, not {type(value).__name__}", hint=f"give '{key}' as such")
    return value


def _kind_name(kind: Any) -> str:
    return {str: "a string", dict: "an object"}.get(kind, "of another kind")


def name_arg(op: dict, key: str, what: str) -> str:
    name = arg(op, key)
    if not NAME_RE.fullmatch(name):
        raise EditError(
            f"'{name}' is not a valid {what} name",
            hint="use ASCII letters, digits, '_' and '-', starting with a letter or '_'",
        )
    return name


def value_arg(op: dict) -> Any:
    if "value" not in op:
        raise EditError("'value' is missing", hint="give the operation a 'value' (null removes the key)")
    v = op["value"]
    if not (v is None or isinstance(v, (str, int, float, bool, list, dict))):
        raise EditError(f"a value of kind {type(v).__name__} cannot be written", hint="give text, a number or a bool")
    return v


def type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return spec.BOOLEAN
    if isinstance(value, int):
        return spec.INTEGER
    if isinstance(value, float):
        return spec.NUMBER
    if isinstance(value, str):
        return spec.STRING
    if isinstance(value, list):
        return spec.LIST
    return None


def typed(ed: Editor, node: Any, value: Any, typ: Any, what: str) -> Any:
    """`value` as a value of type `typ` (text converted as `-p` does); refused if it is not one."""
    if typ == spec.LIST:  # (a list param: a foreach maps over it; a single value is no list)
        if not isinstance(value, list):
            raise ed.fail(node, f"{what} is a list, and {shown(value)} is not", 'give a list: ["a", "b"]')
        return value
    if typ not in VALUE_TYPES:
        return value
    got = value
    if isinstance(value, str) and typ != spec.STRING:
        got = convert_param_text(value, typ)
    elif typ == spec.NUMBER and isinstance(value, int) and not isinstance(value, bool):
        got = float(value)
    if got is None or not spec.value_fits(got, typ):
        hint = type_example(typ)
        if typ == spec.INTEGER and isinstance(value, float) and what.startswith("param"):
            hint += "; for fractions, declare it a number: {type: number, default: ...}"
        raise ed.fail(node, f"{what} is {_a(typ)}, and {shown(value)} is not", hint)
    return got


VALUE_TYPES = (spec.NUMBER, spec.INTEGER, spec.STRING, spec.BOOLEAN)


def shown(value: Any) -> str:
    """A value in a message as the request spelt it (JSON: true, null, [1, "a"]), not as
    Python writes it (True, None); text in single quotes, as the loader's messages write it.
    Long ones cut."""
    import json

    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _a(typ: str) -> str:
    return ("an " if typ[0] in "aeiou" else "a ") + typ


# --- set_param --------------------------------------------------------------------------------
def set_param(ed: Editor, op: dict) -> None:
    name = name_arg(op, "name", "param")
    value = value_arg(op)
    what = f"param '{name}'"
    if isinstance(value, dict):  # (written as a param's value, a mapping reads as its long form)
        raise EditError(
            f"{what} cannot take a mapping as its value ({shown(value)})",
            hint="give text, a number, a boolean or a list",
        )
    k, v = ed.find(["params", name])
    params = ed.data.get("params") if isinstance(ed.data, dict) else None
    current = params.get(name) if isinstance(params, dict) else None
    if v is not None and v.kind == MAP:  # the long form: {type, default, description}
        if not isinstance(current, dict):  # (a mapping written in the file reads as one)
            raise ed.fail(v, f"{what} is not a mapping as read", "write it as {type: ..., default: ...}")
        typ = current.get("type") if isinstance(current.get("type"), str) else type_of(current.get("default"))
        if value is not None:
            value = typed(ed, v, value, typ, what)
            _in_enum(ed, v, value, current.get("enum"), what)
        elif "type" not in current and "default" in current:
            # Without its default the param needs its type, which the default gave: written in its place.
            dk, dv = v.get("default")
            if dk is None or dv.kind == "alias" or typ is None:
                raise ed.fail(v, f"{what} takes its default from elsewhere", "declare its type: {type: ...}")
            ed.owned(dv, what)
            ed.doc.splice(dk.start, dv.cend - (1 if dv.style in ("|", ">") else 0), f"type: {typ}")
            del current["default"]
            current["type"] = typ
            return
        ed.put(["params", name, "default"], value, what, keep=2)
        return
    if v is not None:
        typ = type_of(current)
        if value is None:
            raise ed.fail(
                v,
                f"{what} is written as {name}: VALUE, which needs a value",
                f"to make it required, declare it without a default: {name}: {{type: {typ or 'string'}}}",
            )
        ed.put(["params", name], typed(ed, v, value, typ, what), what, keep=2)
        return
    if value is None:
        raise EditError(f"there is no {what} to clear", hint="give the new param a default value")
    if ed.find(["params"])[0] is None:
        add_section(ed, "params", {name: value})
        return
    ed.put(["params", name], value, what)


def _in_enum(ed: Editor, node: Any, value: Any, choices: Any, what: str) -> None:
    """A value outside the param's `enum:` is refused, naming the values it allows."""
    if isinstance(choices, list) and choices and value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise ed.fail(node, f"{what} is {shown(value)}, which is not one of its enum values", f"give one of: {allowed}")


def add_section(ed: Editor, key: str, value: dict) -> None:
    """A new top-level section, before the first of assets/environments/components/steps
    (with the comment lines right above it, which belong to it)."""
    root = ed.root()
    at = None
    for k, _ in root.pairs():
        if k.kind == SCALAR and k.value in _BEFORE_STEPS:
            at = k
            break
    if at is None:
        ed.add_entry(root, key, value)
    else:
        pos = line_start(ed.text, at.start)
        while pos > 0:
            prev = line_start(ed.text, pos - 1)
            if not ed.text[prev:pos].startswith("#"):
                break
            pos = prev
        ed.doc.insert_lines(pos, ed.lines({key: value}, 0))
    ed.data[key] = value


# --- set --------------------------------------------------------------------------------------
def set_field(ed: Editor, op: dict) -> None:
    step = arg(op, "step")
    field = arg(op, "field")
    value = value_arg(op)
    sk, sv = ed.step(step)
    what = f"step '{step}'"
    data = ed.data["steps"][step]
    if not isinstance(data, dict):
        raise ed.fail(sk, f"{what} is not a mapping", "write the step as key: value lines")
    parts = field.split(".")
    head = parts[0]
    base = ["steps", step]
    comp = data.get("component")
    if head in ("environment", "command", "description") and len(parts) == 1:
        if head == "command" and comp is not None and value is not None:
            raise ed.fail(
                sk,
                f"{what} uses component '{comp}', which gives its command",
                "edit the component's command, or remove component: from the step",
            )
        if value is not None and head != "command" and not isinstance(value, str):
            raise ed.fail(sk, f"the {head} of {what} must be text, not {shown(value)}", f"give the {head} as a string")
        ed.put(base + [head], value, f"the {head} of {what}", keep=2)
        return
    if head in ("inputs", "params") and len(parts) == 2 and NAME_RE.fullmatch(parts[1]):
        set_input(ed, step, parts[1], value, params=head == "params")
        return
    if head == "resources" and len(parts) == 2 and parts[1] in RESOURCE_KEYS:
        ed.put(base + ["resources", parts[1]], _resource(ed, sk, parts[1], value, what), f"resources of {what}", keep=2)
        return
    if head == "resources" and len(parts) == 3 and parts[1] == "custom":
        ed.put(base + ["resources", "custom", parts[2]], value, f"resources of {what}", keep=2)
        return
    if head == "outputs" and len(parts) == 3 and parts[2] == "path" and NAME_RE.fullmatch(parts[1]):
        out = (data.get("outputs") or {}).get(parts[1]) if isinstance(data.get("outputs") or {}, dict) else None
        keys = base + ["outputs", parts[1]]
        if isinstance(out, dict) and value is not None:
            keys.append("path")
        if value is not None and not isinstance(value, str):
            raise ed.fail(sk, f"the path of output '{parts[1]}' of {what} must be text", "give a path: build/out.csv")
        ed.put(keys, value, f"output '{parts[1]}' of {what}", keep=2)
        return
    if head == "matrix" and len(parts) == 2:
        set_axis(ed, step, parts[1], value)
        return
    raise ed.fail(
        sk,
        f"unknown field '{field}' of {what}",
        (did_you_mean(field, _field_names(data), "field") or "") + "; fields: " + ", ".join(FIELD_FORMS),
    )


def set_axis(ed: Editor, step: str, axis: str, value: Any) -> None:
    """The values of a matrix axis the step declares: a list of distinct numbers, strings or
    booleans (whether they fit the axis input's type, `pipe validate` says: the preview's errors)."""
    sk, _ = ed.step(step)
    matrix = ed.data["steps"][step].get("matrix")
    what = f"matrix axis '{axis}' of step '{step}'"
    if not isinstance(matrix, dict) or axis in ("include", "exclude") or axis not in matrix:
        axes = [a for a in matrix if a not in ("include", "exclude")] if isinstance(matrix, dict) else []
        raise ed.fail(
            sk,
            f"step '{step}' has no {what.split(' of ')[0]}",
            did_you_mean(axis, axes, "axis") if axes else "only the values of an axis of its matrix: are set here",
        )
    if not isinstance(value, list) or not value:
        raise ed.fail(sk, f"the {what} must be a list of values, not {shown(value)}", "give a list: [0.01, 0.1]")
    seen: set = set()
    for v in value:
        if v is None or isinstance(v, (list, dict)):
            raise ed.fail(
                sk, f"the {what} holds {shown(v)}, which is no axis value", "give numbers, strings or booleans"
            )
        key = (type(v).__name__, v)
        if key in seen:
            raise ed.fail(sk, f"the {what} holds {shown(v)} twice", "give each value once")
        seen.add(key)
    ed.put(["steps", step, "matrix", axis], value, what, keep=3)


def _resource(ed: Editor, node: Any, key: str, value: Any, what: str) -> Any:
    """cpus a number, gpus a whole number (text that is one taken as it), memory a size."""
    if value is None or key == "memory":
        return value
    got = numbers.parse(value.strip()) if isinstance(value, str) else value
    if isinstance(got, bool) or not isinstance(got, (int, float)) or (key == "gpus" and not isinstance(got, int)):
        kind, example = ("a whole number", "1") if key == "gpus" else ("a number", "2 or 0.5")
        raise ed.fail(
            node, f"resources.{key} of {what} must be {kind}, not {shown(value)}", f"give {kind}, e.g. {example}"
        )
    return got


def _field_names(data: dict) -> list:
    out = ["environment", "command", "description"]
    for section in ("inputs", "params", "resources"):
        if isinstance(data.get(section), dict):
            out += [f"{section}.{k}" for k in data[section]]
    if isinstance(data.get("outputs"), dict):
        out += [f"outputs.{k}.path" for k in data["outputs"]]
    return out


def component_inputs(ed: Editor, comp: Any) -> dict | None:
    """{input name: declared type or None} of a step's component (the Pipefile's own, or a
    std one); None when there is no such component (`pipe validate` says so)."""
    if isinstance(comp, str) and stdlib.is_std_ref(comp):
        try:
            found = stdlib.library().resolve(comp).component
        except PipefileError:
            return None
        return {name: decl.type for name, decl in found.inputs.items()}
    comps = ed.data.get("components")
    if not isinstance(comp, str) or not isinstance(comps, dict) or not isinstance(comps.get(comp), dict):
        return None
    decls = comps[comp].get("inputs") or {}
    if not isinstance(decls, dict):
        return None
    out = {}
    for k, d in decls.items():
        t = d.get("type") if isinstance(d, dict) else d
        out[k] = t if isinstance(t, str) else None
    return out


def component_outputs(ed: Editor, comp: Any) -> list:
    """The output names a step's component (the Pipefile's own, or a std one) declares; [] when
    there is no such component (add_step has refused it then)."""
    if isinstance(comp, str) and stdlib.is_std_ref(comp):
        try:
            return list(stdlib.library().resolve(comp).component.outputs)
        except PipefileError:
            return []
    comps = ed.data.get("components")
    found = comps.get(comp) if isinstance(comp, str) and isinstance(comps, dict) else None
    outputs = found.get("outputs") if isinstance(found, dict) else None
    return [k for k in outputs if isinstance(k, str)] if isinstance(outputs, dict) else []


def set_input(ed: Editor, step: str, name: str, value: Any, params: bool = False) -> None:
    sk, sv = ed.step(step)
    data = ed.data["steps"][step]
    what = f"input '{name}' of step '{step}'"
    decls = component_inputs(ed, data.get("component"))
    if decls is not None and name not in decls:
        raise ed.fail(
            sk,
            f"step '{step}' uses component '{data.get('component')}', which has no input '{name}'",
            did_you_mean(name, decls, "input") or f"component '{data.get('component')}' declares no inputs",
        )
    binding = isinstance(value, str) and value.lstrip().startswith("${{")
    if decls and value is not None and not binding and decls.get(name) in VALUE_TYPES:
        value = typed(ed, sk, value, decls[name], what)
    # a step's own params: mapping, where the file has one; else params are inputs, as components declare them
    section = "params" if params and isinstance(data.get("params"), dict) else "inputs"
    keys = ["steps", step, section, name]
    current = (data.get(section) or {}).get(name) if isinstance(data.get(section) or {}, dict) else None
    if isinstance(current, dict) and value is not None and not binding:
        if "value" in current:
            keys.append("value")
        elif "path" in current and isinstance(value, str):
            keys.append("path")
    ed.put(keys, value, what, keep=2)


def is_binding(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\s*\$\{\{.*\}\}\s*", value, re.S) is not None
