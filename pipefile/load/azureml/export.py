"""`pipe import azureml pipeline.yml -o Pipefile`: the Pipefile that runs an imported Azure ML
pipeline with the same step keys (so a workspace built from the YAML is fresh for it).

Each node becomes a component (its inputs with their types, defaults and optional flags)
and a step that uses it with `render: azureml`; a nested node `outer/inner` is the step
`outer__inner` (a Pipefile step name has no `/`). What the importer warned about (compute,
datastores, ...) is listed in a comment at the top: it is what was dropped.
"""

from __future__ import annotations

import os
import shlex

from ... import spec

_PREFACE = """\
# Written by `pipe import azureml {source}`: the same pipeline as a Pipefile. Each step
# keeps Azure ML's way of running (render: azureml: plain text substitution, a fresh copy
# of its code as working directory), so its key is the one `pipe run -f {source}` gives:
# what was built from the YAML is fresh here. Nested nodes OUTER/INNER are steps OUTER__INNER.
"""


def step_name(name: str) -> str:
    return name.replace("/", "__")


def _binding(b: spec.Binding):
    if b.kind == spec.BIND_ASSET:
        return f"${{{{assets.{b.ref}}}}}"
    if b.kind == spec.BIND_PARAM:
        return f"${{{{params.{b.ref}}}}}"
    if b.kind == spec.BIND_STEP_OUTPUT:
        return f"${{{{steps.{step_name(b.ref)}.outputs.{b.output}}}}}"
    if b.kind == spec.BIND_PATH:
        return {"path": b.ref, "type": b.type} if b.type else {"path": b.ref}
    if b.kind == spec.BIND_VALUE:
        return {"value": b.value}
    return None


def _environment(env: spec.EnvSpec) -> dict:
    out: dict = {"type": env.type}
    if env.type == spec.ENV_VENV:
        if env.python:
            out["python"] = env.python
        if env.requirements:  # (a conda file's `-r FILE`)
            out["requirements"] = env.requirements
        out["packages"] = list(env.packages)
    elif env.type == spec.ENV_CONDA:
        out["file"] = env.file
    elif env.type == spec.ENV_DOCKER:
        if env.image:
            out["image"] = env.image
        if env.build:
            out["build"] = env.build
    return out


def _as_type(value, typ: str):
    """An enum value of a number input as the type written for it: 1.0 of one made `integer`
    (a whole literal bound to it) is 1, or the enum would not hold it and be dropped."""
    if typ == spec.INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    return float(value) if typ == spec.NUMBER and spec.value_fits(value, typ) else value


def _sweep(e: spec.Expansion) -> dict:
    """A sweep job's trials as a step's `sweep:` (the same trials, so the same keys)."""
    out: dict = {"search": e.search}
    if e.trials:
        out["trials"] = e.trials
    if e.search == "random":
        out["seed"] = e.seed
    if e.max_parallel:
        out["max_parallel"] = e.max_parallel
    out["space"] = {name: {kind: list(args)} for name, kind, args in e.space}
    if e.objective_metric:
        out["objective"] = {"metric": e.objective_metric, "goal": e.objective_goal}
    return out


def best_notes(pf: spec.Pipefile, source: str) -> list:
    """What a Pipefile written from a sweep job whose outputs are the job's own (a standalone
    one, or bound to the pipeline's outputs) lacks: a Pipefile picks a sweep's best trial for a
    step that reads it only, where Azure gives it as the sweep job's outputs."""
    notes = []
    for st in pf.steps.values():
        if st.expand is not None and st.expand.best:
            out = next((o for o in st.outputs if o != "artifacts"), "artifacts")
            notes.append(
                f"The outputs of sweep job '{st.name}' are its best trial's on Azure, which\n"
                f"`pipe run -f {shlex.quote(source)}` picks (the task {st.name}.best). In the Pipefile a step that\n"
                f"reads ${{{{steps.{step_name(st.name)}.best.outputs.{out}}}}} gets it."
            )
    return notes


def _dumper():
    import yaml

    from ..numbers import kind

    class Dumper(yaml.SafeDumper):
        """Text a Pipefile would read as a number is quoted: PyYAML writes `1e-5` bare (no
        number by YAML 1.1, as the Azure YAML read it), which a Pipefile reads as 1e-05."""

    def text(dumper, value: str):
        style = '"' if kind(value) is not None else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def to_pipefile(pf: spec.Pipefile, source: str) -> str:
    """The text of the Pipefile for the imported pipeline `pf` (read from `source`)."""
    import yaml

    doc: dict = {"name": pf.name} if pf.name else {}
    if pf.description:
        doc["description"] = pf.description
    if pf.keep_going:
        doc["keep_going"] = True
    # A pipeline input with no value (a param -p may set) has no Pipefile form: left unbound, as before
    unset = {p.name for p in pf.params.values() if p.default is None}
    if len(pf.params) > len(unset):
        doc["params"] = {
            p.name: {"type": p.type, "default": p.default} for p in pf.params.values() if p.name not in unset
        }
    if pf.assets:
        doc["assets"] = {
            a.name: ({"path": a.path, "type": a.type} if a.type else {"path": a.path}) for a in pf.assets.values()
        }
    if pf.environments:
        doc["environments"] = {e.name: _environment(e) for e in pf.environments.values()}
    components: dict = {}
    steps: dict = {}
    for st in pf.steps.values():
        name = step_name(st.name)
        comp: dict = {}
        if st.description:
            comp["description"] = st.description
        if st.input_decls:
            comp["inputs"] = {}
            sampled = {n for n, _kind, _args in st.expand.space} if st.expand is not None else set()
            for d in st.input_decls.values():
                typ = d.type or spec.STRING  # (an unset input of an inline job: untyped)
                bound = st.inputs.get(d.name)
                if bound is not None and bound.kind == spec.BIND_STEP_OUTPUT and bound.type:
                    typ = bound.type  # (a folder input reading a file output is given the file)
                whole = bound is not None and bound.kind == spec.BIND_VALUE and type(bound.value) is int
                if typ == spec.NUMBER and whole:  # (a Pipefile's number input makes 2 2.0: another command and key)
                    typ = spec.INTEGER
                if typ in (spec.NUMBER, spec.INTEGER) and bound is not None and isinstance(bound.value, str):
                    typ = spec.STRING  # (a number written as text, `1e-5`, is rendered as written)
                decl: dict = {"type": typ}
                if d.default is not spec.MISSING and not (whole and not spec.value_fits(d.default, typ)):
                    decl["default"] = d.default
                choices = [_as_type(c, typ) for c in d.enum]
                if (
                    choices
                    and all(spec.value_fits(c, typ) for c in choices)
                    and decl.get("default", choices[0]) in choices
                ):
                    decl["enum"] = choices  # (the Pipefile refuses one of another type, or not holding its default)
                if typ in (spec.NUMBER, spec.INTEGER) and _within(decl.get("default"), d.low, d.high):
                    decl.update({k: v for k, v in (("min", d.low), ("max", d.high)) if v is not None})
                unbound = (
                    bound is None
                    or bound.kind == spec.BIND_NONE
                    or (bound.kind == spec.BIND_PARAM and bound.ref in unset)
                ) and d.name not in sampled
                if d.optional or (unbound and "default" not in decl):
                    # (an inline job's input left unbound is read in $[[ ]] only: a required one
                    # made the Pipefile refuse its own step, "does not connect required input")
                    decl["optional"] = True
                comp["inputs"][d.name] = decl
        comp["outputs"] = {o.name: {"type": o.type} for o in st.outputs.values()}
        if st.code:
            comp["code"] = [c.path for c in st.code]
        comp["command"] = st.command
        if st.environment:
            comp["environment"] = st.environment
        components[name] = comp
        step: dict = {"component": name, "render": st.render or "pipefile"}
        if st.always_run:
            step["always_run"] = True
        if st.timeout:
            step["timeout"] = st.timeout
        if st.metrics:
            step["metrics"] = list(st.metrics)
        if st.expand is not None:
            step["sweep"] = _sweep(st.expand)
        inputs = {
            n: _binding(b)
            for n, b in st.inputs.items()
            if b.kind != spec.BIND_NONE and not (b.kind == spec.BIND_PARAM and b.ref in unset)
        }
        if inputs:
            step["inputs"] = inputs
        step["outputs"] = {o.name: {"path": o.path, "type": o.type} for o in st.outputs.values()}
        steps[name] = step
    doc["components"] = components
    doc["steps"] = steps
    source_name = os.path.basename(source)
    head = _PREFACE.format(source=source_name)
    for note in best_notes(pf, source_name):
        head += "".join(f"# {line}\n" for line in note.splitlines())
    if pf.warnings or unset:
        head += "# Dropped (no meaning on this machine):\n"
        for loc, message, _hint in pf.warnings:
            head += f"#   {loc}: {message}\n"
        for name in sorted(unset):
            head += f"#   {pf.params[name].loc}: pipeline input '{name}' has no value: left unbound\n"
    body = yaml.dump(doc, Dumper=_dumper(), sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
    return head + body


def _within(value, low, high) -> bool:
    """Whether a default (None: none) is inside the bounds: the Pipefile refuses one outside them."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value is None
    return (low is None or value >= low) and (high is None or value <= high)
