"""A DSL pipeline written as the Pipefile it stands for: `pipe run -f build.py` feeds this
text to the Pipefile loader, and `pipe export` writes it, so both give the same steps and
the same keys. Each line of the text remembers the place in the user's code that made it,
so the loader's errors point there."""

from __future__ import annotations

from typing import Any, Optional

from .. import spec
from . import imports
from .nodes import AssetRef, NodeOutput, ParamRef, ParentData, ParentParam
from .where import DslError, Place, display

OUTPUT_ROOT = "build"  # an output without a path of its own is written at build/STEP/NAME

_PREFACE = """\
# Written by `pipe export {source}` from the pipeline `{name}` it defines
# ({where}). Edit {source} and export again, or keep this file instead of it:
# `pipe run` here builds the same steps with the same keys as `pipe run -f {source}`.
"""


class _Lines:
    def __init__(self):
        self.lines: list = []
        self.places: list = []

    def add(self, data: Any, place: Optional[Place], indent: int = 0) -> None:
        import yaml

        try:
            text = _dump(data)
        except yaml.representer.RepresenterError as e:  # (a numpy number, an object ...)
            raise DslError(
                f"a Pipefile cannot hold {e.args[-1]!r} ({type(e.args[-1]).__name__})",
                place,
                "give plain numbers, strings, booleans, lists and dicts (float(x), int(x), str(x))",
            ) from None
        for line in text.splitlines():
            self.lines.append(" " * indent + line)
            self.places.append(place)

    def head(self, key: str, place: Optional[Place] = None) -> None:
        self.lines.append(f"{key}:")
        self.places.append(place)


def _dump(data: Any) -> str:
    import yaml

    from ..load import numbers

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    def text(dumper, value: str):
        if numbers.kind(value) is not None:  # text the loader would read as a number (1e3): quoted
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        if "\n" in value:
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        return dumper.represent_str(value)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


class Pipeline:
    """A built pipeline: what `pipe run -f build.py` runs and `pipe export` writes."""

    def __init__(self, name: str, description: str, place: Place, environments: dict, keep_going: bool):
        self.name, self.description, self.place = name, description, place
        self.environments = environments
        self.keep_going = keep_going
        self.params: dict = {}  # name -> (type, default or MISSING)
        self.param_enums: dict = {}  # name -> its enum (a param declared as a dsl.Input with one)
        self.assets: dict = {}  # name -> (type, path)
        self.nodes: list = []

    def __pipefile_yaml__(self, root: str) -> tuple:
        """(the Pipefile text, the place in the user's code of each of its lines)."""
        return document(self, root)


def _binding(value: Any) -> Any:
    if isinstance(value, (ParentParam, ParentData)):  # (before ParamRef/AssetRef: they are those too)
        return f"${{{{parent.inputs.{value.name}}}}}"
    if isinstance(value, NodeOutput):
        return f"${{{{steps.{value.node.name}{value.view}.outputs.{value.name}}}}}"
    if isinstance(value, ParamRef):
        return f"${{{{params.{value.name}}}}}"
    if isinstance(value, AssetRef):
        return f"${{{{assets.{value.name}}}}}"
    return value


def _step(node, root: str) -> dict:
    comp = node.component
    axes = set()
    if node.expansion is not None:
        key, value, _ = node.expansion
        if key in ("matrix", "sweep"):
            axes = set(value.get("space", value)) if key == "sweep" else set(value) - {"include", "exclude"}
    for name, port in comp.inputs.items():
        if port.required and node.bindings.get(name) is None and name not in axes:
            raise DslError(
                f"step '{node.name}' does not give required input '{name}' of component '{comp.name}'",
                node.place,
                f"add {name}=... to the call",
            )
    out: dict = {"component": comp.ref}
    inputs = {}
    for name, value in node.bindings.items():
        port = comp.inputs[name]
        if isinstance(value, str) and port.type in spec.PATH_TYPES:
            inputs[name] = {"path": value}
        elif isinstance(value, str):
            inputs[name] = {"value": value}
        else:
            inputs[name] = _binding(value)
    if inputs:
        out["inputs"] = inputs
    if comp.outputs:
        out["outputs"] = {n: node.paths.get(n) or f"{OUTPUT_ROOT}/{node.name}/{n}" for n in comp.outputs}
    return out


def inner_step(node, root: str, bound: dict) -> dict:
    """An inner step of a pipeline component: its outputs have no path, but a type, or the
    pipeline's output it is (`bound`: (id of the node, output) -> the pipeline's output)."""
    step = _step(node, root)
    if "outputs" in step:
        step["outputs"] = {
            n: (
                f"${{{{parent.outputs.{bound[(id(node), n)]}}}}}"
                if (id(node), n) in bound
                else node.component.outputs[n].type
            )
            for n in node.component.outputs
        }
    if node.expansion is not None:
        step[node.expansion[0]] = node.expansion[1]
    return step


def _made_paths(nodes: list) -> tuple:
    """The paths the steps write (each a file or a folder), as they are written in a key's
    `code`; a path made of a template, by its folder before the template ("" left out)."""
    made = set()
    for node in nodes:
        for n in getattr(node.component, "outputs", {}) or {}:
            path = node.paths.get(n) or f"{OUTPUT_ROOT}/{node.name}/{n}"
            if not isinstance(path, str):
                continue
            if "${{" in path:
                path = path.split("${{", 1)[0].rpartition("/")[0]
            path = path.strip("/")
            if path:
                made.add(path)
    return tuple(made)


def _without_made(comp, body, made: tuple, root: str):
    """A command_component's body without the imported modules a step of the pipeline
    writes (a generated gen/schema.py): such a file is there or not when the pipeline loads
    depending on whether that step ran yet, so the key differed between a clean checkout and
    the next run, and the step ran again for nothing. The step reads it as an input anyway."""
    imported = getattr(comp, "imported", None)
    if body is None or imported is None or not made:
        return body
    gone = [f for f in imported(root) if any(f == m or f.startswith(m + "/") for m in made) and f not in comp.code]
    if not gone:
        return body
    return dict(body, code=[c for c in body.get("code", []) if c not in gone])


def _components(nodes: list):
    """Every component the steps use, with those inside pipeline components (first)."""
    for node in nodes:
        parts = getattr(node.component, "parts", None)
        if parts is not None:
            yield from parts()
        yield node.component


def document(p: Pipeline, root: str) -> tuple:
    """(the Pipefile's text, per line the place in the user's code it came from or None)."""
    with imports.one_load():  # (its components share the walk of their module's imports)
        return _document(p, root)


def _document(p: Pipeline, root: str) -> tuple:
    doc = _Lines()
    doc.add({"version": spec.PIPEFILE_VERSION, "name": p.name}, p.place)
    if p.description:
        doc.add({"description": p.description}, p.place)
    if p.keep_going:
        doc.add({"keep_going": True}, p.place)
    if p.params:
        doc.head("params", p.place)
        for name, (typ, default) in p.params.items():
            decl = {"type": typ} if default is spec.MISSING else {"type": typ, "default": default}
            if p.param_enums.get(name):
                decl["enum"] = list(p.param_enums[name])
            doc.add({name: decl}, p.place, 2)
    if p.assets:
        doc.head("assets", p.place)
        for name, (typ, path) in p.assets.items():
            doc.add({name: {"type": typ, "path": path}}, p.place, 2)
    components: dict = {}  # name -> component (one entry for every use of the same object)
    for comp in _components(p.nodes):
        other = components.get(comp.ref)
        # (a pipeline function called twice makes two equal components: one entry)
        if other is not None and other is not comp and other.body(root) != comp.body(root):
            raise DslError(
                f"two different components are named '{comp.ref}' (the other one: {display(other.place)})",
                comp.place,
                "give one of them another name=",
            )
        components[comp.ref] = comp
    envs = {n: (dict(e), p.place) for n, e in p.environments.items()}
    for comp in components.values():
        for n, e in comp.environments(root).items():
            if n in envs and envs[n][0] != e:
                raise DslError(
                    f"two different environments are named '{n}'", comp.place, "give one of them another name"
                )
            envs[n] = (e, comp.place)
    if envs:
        doc.head("environments", p.place)
        for n, (e, place) in envs.items():
            doc.add({n: e}, place, 2)
    made = _made_paths(p.nodes)
    bodies = [(c, _without_made(c, c.body(root), made, root)) for c in components.values()]
    if any(b is not None for _, b in bodies):
        doc.head("components", p.place)
        for comp, body in bodies:
            if body is not None:
                doc.add({comp.ref: body}, comp.place, 2)
    if not p.nodes:
        raise DslError(
            f"pipeline '{p.name}' calls no component", p.place, "call at least one component in its function"
        )
    doc.head("steps", p.place)
    for node in p.nodes:
        step = _step(node, root)
        outputs = step.pop("outputs", None)
        doc.add({node.name: step}, node.place, 2)
        if outputs:  # (a line each: a path set by `node.outputs.X.path = ...` is placed there)
            doc.head("    outputs", node.place)
            for name, path in outputs.items():
                doc.add({name: path}, node.path_places.get(name, node.place), 6)
        if node.expansion is not None:
            key, value, place = node.expansion
            doc.add({key: value}, place, 4)
    return "\n".join(doc.lines) + "\n", doc.places


def export_text(p: Pipeline, root: str, source: str, object_name: str) -> str:
    """The Pipefile `pipe export` writes: the same text, under a comment saying where it came from."""
    text, _ = document(p, root)
    where = f"{display(p.place)}" if p.place else source
    name = p.name if object_name == "pipeline" else f"{p.name}` (`{object_name}`"
    return _PREFACE.format(source=source, name=name, where=where) + text
