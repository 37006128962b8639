"""The components a Pipefile can use, described as data (`pipe components list/show`).

Two sources: the std library (`std/NAME@MAJOR`, see load/stdlib.py), and the Pipefile's
own `components:` when there is a Pipefile. Each component is one `describe()` dict, the
JSON shape documented in docs/components.md (keys are only ever added):

    {"name", "ref", "source": "std" | "pipefile", "version", "description",
     "inputs": [PORT], "params": [PORT], "outputs": [OUTPUT], "metrics": [output names],
     "command"}
    PORT   = {"name", "type", "required", "optional", "default", "description", "enum", "min", "max"}
    OUTPUT = {"name", "type", "description"}

`inputs` are the ports that take files and folders, `params` those that take values.
`example_step()` is a step that uses the component and validates (once its input files exist).
"""

from __future__ import annotations

from typing import Optional

from . import spec
from .errors import PipefileError, did_you_mean
from .load import stdlib
from .spec import MISSING, Component

SOURCE_STD = "std"
SOURCE_PIPEFILE = "pipefile"


def _port(decl: spec.InputDecl) -> dict:
    return {
        "name": decl.name,
        "type": decl.type,
        "required": decl.default is MISSING and not decl.optional,
        "optional": decl.optional,
        "default": None if decl.default is MISSING else decl.default,
        "description": decl.description,
        "enum": list(decl.enum) or None,
        "min": decl.low,  # `min:`/`max:` of a number or integer input (inclusive); None: no bound
        "max": decl.high,
    }


def describe(comp: Component, source: str, name: str, version: Optional[str]) -> dict:
    """One component as data (see the module's docstring)."""
    command = comp.command if isinstance(comp.command, str) else list(comp.command)
    return _described(comp, name, comp.name, source, version) | {"metrics": list(comp.metrics), "command": command}


def describe_pipeline(comp: spec.PipelineComponent, name: str) -> dict:
    """A `type: pipeline` component as data: describe()'s keys, `command` None, and its inner
    steps under `steps`."""
    return _described(comp, name, name, SOURCE_PIPEFILE, None) | {
        "metrics": [],
        "command": None,
        "steps": list(comp.steps),
    }


def _described(comp, name: str, ref: str, source: str, version: Optional[str]) -> dict:
    """What a component and a pipeline component both say: their ports, inputs and params apart."""
    inputs = [d for d in comp.inputs.values() if d.type not in spec.VALUE_TYPES]
    params = [d for d in comp.inputs.values() if d.type in spec.VALUE_TYPES]
    return {
        "name": name,
        "ref": ref,
        "source": source,
        "version": version,
        "description": comp.description,
        "inputs": [_port(d) for d in inputs],
        "params": [_port(d) for d in params],
        "outputs": [{"name": o.name, "type": o.type, "description": o.description} for o in comp.outputs.values()],
    }


def _pipeline_components(pf: spec.Pipefile) -> dict:
    # (getattr: a spec cached before the field existed has none)
    return dict(getattr(pf, "pipeline_components", None) or {})


def std_components() -> list:
    """Every std component, newest major first within a name: [(LibraryComponent)]."""
    lib = stdlib.library()
    out = []
    for _name, versions in sorted(lib.components().items()):
        for major in sorted(versions, reverse=True):
            out.append(versions[major])
    return out


def catalog(pf: Optional[spec.Pipefile]) -> list:
    """describe() of every std component, then of the Pipefile's own (none without a Pipefile)."""
    out = [describe(c.component, SOURCE_STD, c.name, c.version) for c in std_components()]
    if pf is not None:
        out += [describe(c, SOURCE_PIPEFILE, name, None) for name, c in pf.components.items()]
        out += [describe_pipeline(c, name) for name, c in _pipeline_components(pf).items()]
    return out


def find(pf: Optional[spec.Pipefile], name: str) -> dict:
    """describe() of the component `name` names: a Pipefile component, std/NAME[@MAJOR], or
    a bare std NAME (its newest major) when the Pipefile has no component of that name."""
    if pf is not None and name in pf.components:
        return describe(pf.components[name], SOURCE_PIPEFILE, name, None)
    if pf is not None and name in _pipeline_components(pf):
        return describe_pipeline(_pipeline_components(pf)[name], name)
    lib = stdlib.library()
    ref = name if stdlib.is_std_ref(name) else stdlib.PREFIX + name
    try:
        found = lib.resolve(ref)
    except PipefileError as e:
        if stdlib.is_std_ref(name):
            raise PipefileError(e.message, hint=e.hint) from None
        known = [stdlib.PREFIX + n for n in lib.components()] + list(pf.components if pf else [])
        known += list(_pipeline_components(pf)) if pf else []
        where = " in the Pipefile or" if pf is not None else ""
        raise PipefileError(
            f"there is no component '{name}'{where} in the std library",
            hint=(did_you_mean(name, known, "component") or "there are no components")
            + " (pipe components list shows them all)",
        ) from None
    return describe(found.component, SOURCE_STD, found.name, found.version)


def _placeholder(port: dict):
    """A value the port takes: the first of its enum, else its type's plain value moved inside its bounds."""
    if port.get("enum"):
        return port["enum"][0]
    value = {spec.INTEGER: 0, spec.NUMBER: 0.0, spec.BOOLEAN: False}.get(port["type"] or "", "TEXT")
    low, high = port.get("min"), port.get("max")
    if isinstance(value, str) or isinstance(value, bool):
        return value
    if low is not None and value < low:
        value = low
    elif high is not None and value > high:
        value = high
    if port["type"] == spec.INTEGER:  # (a bound written 0.5 of an integer input: the whole number inside)
        import math

        return math.ceil(value) if value == low else math.floor(value)
    return float(value)


def example_step(info: dict) -> str:
    """The YAML of a step that uses the component: required ports bound (files under data/,
    values at a placeholder), defaults shown, optional ports as comments, outputs under build/."""
    step = info["name"].replace("-", "_")
    lines = ["steps:", f"  {step}:", f"    component: {info['ref']}"]
    ins = []
    for p in info["inputs"]:
        where = f"data/{p['name']}" if p["default"] is None else p["default"]
        ins.append((p, where))
    for p in info["params"]:
        if p["default"] is not None:
            ins.append((p, p["default"]))
        else:  # (a placeholder it takes: the first of its enum, or one inside its min:/max:)
            ins.append((p, _placeholder(p)))
    if ins:
        lines.append("    inputs:")
        for p, value in ins:
            text = _yaml_scalar(value)
            if p["optional"] and p["default"] is None:
                lines.append(f"      # {p['name']}: {text}  (optional)")
            else:
                lines.append(f"      {p['name']}: {text}")
    if info["outputs"]:
        lines.append("    outputs:")
        for o in info["outputs"]:
            slash = "/" if o["type"] == spec.URI_FOLDER else ""
            lines.append(f"      {o['name']}: build/{step}/{o['name']}{slash}")
    return "\n".join(lines) + "\n"


def _yaml_scalar(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    plain = text and all(c.isalnum() or c in "/._-" for c in text) and text not in ("true", "false", "null")
    return text if plain and not _numeric(text) else json.dumps(text)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def library_location() -> str:
    """Where the std library is (for `pipe components list`'s JSON)."""
    try:
        return stdlib.library_dir()
    except PipefileError:
        return ""
