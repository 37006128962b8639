"""A step that uses a pipeline becomes the pipeline's inner steps, `STEP/INNER` (deeper:
`A/B/C`), ordinary steps to the graph, planner and scheduler (nested.py reads them).

Where an inner output lands: at the workspace path the calling step gives it when it is
bound to one of the pipeline's outputs, else under `.pipe/nested/STEP/INNER/OUTPUT` (pipe's
own, like the store: no one writes or reads it by hand). Each inner step records the
pipeline step it is inside (`Step.nest`), and its key names those paths by their role, not
by where they are (keys.py), so the same pipeline used twice with the same inputs gives its
inner steps the same keys: one runs, the other is restored.

`from_pipefile` makes another Pipefile a pipeline component: its params and `input: true`
assets are its inputs, its `output: true` outputs its outputs; its relative paths are
relative to its folder, where its commands run (`Step.workdir`).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import Any, Mapping

from .. import lazyre, spec
from ..errors import PipefileError, did_you_mean
from ..filenames import file_name
from ..spec import (
    BIND_ASSET,
    BIND_NONE,
    BIND_PARAM,
    BIND_PARENT,
    BIND_PATH,
    BIND_STEP_OUTPUT,
    BIND_VALUE,
    MISSING,
    Binding,
    PipelineComponent,
    PipelineUse,
)
from .bounds import held_bounds
from .checks import task_base
from .params import held_enum
from .scoped_envs import scoped_environments

NESTED_DIR = ".pipe/nested"  # where inner outputs that the caller gives no path land


def flatten(items: Mapping[str, Any]) -> tuple[dict, dict, list]:
    """(steps, {full name: PipelineUse}, errors): every use replaced by its inner steps, in
    place; references to a use's outputs (`${{steps.train.outputs.model}}`) redirected to the
    inner step that writes them."""
    uses = {n: u for n, u in items.items() if isinstance(u, PipelineUse)}
    if not uses:
        return dict(items), {}, []
    exports = {n: exports_of(u.pipeline, n) for n, u in uses.items()}
    errors: list = []
    steps: dict = {}
    pipelines: dict = {}
    for name, it in items.items():
        if isinstance(it, PipelineUse):
            ins = {k: _outward(b, exports, uses, name, errors) for k, b in it.inputs.items()}
            _instantiate(it, name, ins, dict(it.outputs), steps, pipelines, errors)
            continue
        new = {k: _outward(b, exports, uses, name, errors) for k, b in it.inputs.items()}
        steps[name] = it if all(new[k] is it.inputs[k] for k in new) else dataclasses.replace(it, inputs=new)
    return steps, pipelines, errors


def exports_of(p: PipelineComponent, name: str) -> dict:
    """Its output -> (full name of the inner step that writes it, that step's output)."""
    out = {}
    for pout, (inner, iout) in p.binds.items():
        st = p.steps[inner]
        if isinstance(st, PipelineUse):
            hit = exports_of(st.pipeline, f"{name}/{inner}").get(iout)
            if hit is not None:
                out[pout] = hit
        else:
            out[pout] = (f"{name}/{inner}", iout)
    return out


def _outward(b: Binding, exports: dict, uses: dict, reader: str, errors: list) -> Binding:
    """A top-level binding, with a reference to a pipeline step's output sent to its writer."""
    if b.kind != BIND_STEP_OUTPUT or task_base(b.ref) not in exports:
        return b
    use = uses[task_base(b.ref)]
    hit = exports[use.name].get(b.output)
    if b.ref != use.name or hit is None:
        what = f"step '{reader}' reads {b.ref}.outputs.{b.output}"
        if b.ref != use.name:
            errors.append(
                PipefileError(
                    f"{what}, but '{use.name}' is a pipeline step, not a step with tasks",
                    b.loc,
                    f"read ${{{{steps.{use.name}.outputs.{b.output}}}}}",
                )
            )
        elif b.output in use.pipeline.outputs:
            pass  # declared but bound by no inner step: said once, at the component
        else:
            outs = use.pipeline.outputs
            errors.append(
                PipefileError(
                    f"{what}, but pipeline component '{use.pipeline.name}' has no output '{b.output}'",
                    b.loc,
                    did_you_mean(b.output, outs, "output") if outs else "the pipeline declares no outputs",
                )
            )
        return b
    return dataclasses.replace(b, ref=hit[0], output=hit[1])


def _default(decl: spec.InputDecl, loc) -> Binding:
    if decl.default is MISSING:
        return Binding(BIND_NONE, loc)
    if decl.type in spec.PATH_TYPES or decl.type is None:  # (None: an untyped asset's path)
        return Binding(BIND_PATH, loc, decl.default, type=decl.type)
    return Binding(BIND_VALUE, loc, value=decl.default)


def _instantiate(use: PipelineUse, name: str, ins: dict, given: dict, steps: dict, pipelines: dict, errors) -> None:
    """Adds the inner steps of `use`, named `name/INNER`; `ins` binds the pipeline's inputs,
    `given` maps its outputs to the StepOutput (workspace path) the caller gives, if any."""
    p = use.pipeline
    pipelines[name] = use
    bound = {}
    for iname, decl in p.inputs.items():
        b = ins.get(iname)
        bound[iname] = _default(decl, use.loc) if b is None or b.kind == BIND_NONE else b
    placed = {p.binds[o]: (o, so) for o, so in given.items() if so is not None and o in p.binds}
    inner_exports = {k: exports_of(s.pipeline, f"{name}/{k}") for k, s in p.steps.items() if isinstance(s, PipelineUse)}

    def inward(b: Binding) -> Binding:
        if b.kind == BIND_PARENT:
            got = bound[b.ref]
            return dataclasses.replace(got, type=b.type or got.type) if got.kind == BIND_PATH else got
        if b.kind == BIND_STEP_OUTPUT:
            base = task_base(b.ref)
            if base in inner_exports and b.output in inner_exports[base]:
                step, out = inner_exports[base][b.output]
                return dataclasses.replace(b, ref=step, output=out)
            return dataclasses.replace(b, ref=f"{name}/{base}{b.ref[len(base) :]}")
        return b

    for inner, st in p.steps.items():
        full = f"{name}/{inner}"
        if isinstance(st, PipelineUse):
            outs = {}
            for o in st.pipeline.outputs:
                so = given.get(st.binds.get(o, ""))
                outs[o] = dataclasses.replace(so, name=o) if so is not None else None
            _instantiate(st, full, {k: inward(b) for k, b in st.inputs.items()}, outs, steps, pipelines, errors)
            continue
        outputs = {}
        for o, so in st.outputs.items():
            hit = placed.get((inner, o))
            if hit is not None:
                caller = hit[1]
                outputs[o] = dataclasses.replace(caller, name=o, type=caller.type or so.type)
            else:
                outputs[o] = dataclasses.replace(
                    so, path=f"{NESTED_DIR}/{file_name(full)}/{file_name(o)}", artifact="", output=False
                )
        metrics = tuple(_moved(m, st.outputs, outputs) for m in st.metrics)
        inputs = {k: inward(b) for k, b in st.inputs.items()}
        for k, b in inputs.items():
            decl = st.input_decls.get(k)
            if st.component and b.kind == BIND_NONE and decl is not None and decl.default is MISSING:
                if not decl.optional and st.inputs[k].kind == BIND_PARENT:
                    errors.append(
                        PipefileError(
                            f"step '{name}' leaves input '{st.inputs[k].ref}' of pipeline component "
                            f"'{p.name}' unset, but its step '{inner}' needs it: required input '{k}' of "
                            f"component '{st.component}'",
                            use.loc,
                            f"bind it: inputs: {{{st.inputs[k].ref}: ...}}, or give that pipeline input a default",
                        )
                    )
        reads = [k for k, b in inputs.items() if b.kind == BIND_STEP_OUTPUT and "/" in b.ref]
        steps[full] = dataclasses.replace(
            st,
            name=full,
            inputs=inputs,
            outputs=outputs,
            metrics=metrics,
            nest=f"{name}/{st.nest}" if st.nest else name,
            inner_reads=tuple(dict.fromkeys(st.inner_reads + tuple(reads))),
        )


def _moved(path: str, before: Mapping, after: Mapping) -> str:
    """A metrics path (an output, or a file inside one) where its output now lands."""
    for o, so in before.items():
        if path == so.path:
            return after[o].path
        if path.startswith(so.path + "/"):
            return after[o].path + path[len(so.path) :]
    return path


# --- another Pipefile as a component -------------------------------------------------------
_PARAM_REF = lazyre.Pattern(r"\$\{\{\s*params\.([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}")
PARAM_INPUT = "params-"  # a child's `${{params.X}}` in a command becomes this input, bound to its input X


def from_pipefile(pf: spec.Pipefile, root: str) -> tuple:
    """(the PipelineComponent another Pipefile is, errors): `root` is the workspace."""
    rel = os.path.relpath(pf.root, root).replace(os.sep, "/")

    def rebase(path: str) -> str:
        return path if rel == "." or not path else posixpath.normpath(f"{rel}/{path}")

    errors: list = []
    inputs = {
        n: spec.InputDecl(n, p.type, p.default, False, p.description, p.loc, held_enum(p), *held_bounds(p.limits))
        for n, p in pf.params.items()  # (held to the enum, min and max of each input they are bound to)
    }
    for a in pf.assets.values():
        if a.input:
            inputs[a.name] = spec.InputDecl(a.name, a.type, rebase(a.path), False, a.description, a.loc)
    outputs, binds = {}, {}
    producers = {o.path: (s.name, o.name) for s in pf.steps.values() for o in s.outputs.values()}
    steps = {}
    name = os.path.relpath(pf.path, root).replace(os.sep, "/")
    envs = scoped_environments(pf, name, rebase)
    for st in pf.steps.values():
        if st.environment in envs.renamed:
            st = dataclasses.replace(st, environment=envs.renamed[st.environment])
        for o in st.outputs.values():
            if o.output:
                outputs[o.name] = spec.OutputDecl(o.name, o.type, "", o.loc)
                binds[o.name] = (st.name, o.name)
        steps[st.name] = _child_step(st, pf, rebase, producers, "" if rel == "." else rel)
    comp = PipelineComponent(
        name, inputs, outputs, steps, binds, source=pf.path, description=pf.description, environments=envs.specs
    )
    return comp, errors


def _child_step(st: spec.Step, pf: spec.Pipefile, rebase, producers: dict, home: str) -> spec.Step:
    inputs = {}
    for k, b in st.inputs.items():
        if b.kind == BIND_PARAM:
            b = Binding(BIND_PARENT, b.loc, b.ref, type=b.type)
        elif b.kind == BIND_ASSET:
            a = pf.assets[b.ref]
            if a.input:
                b = Binding(BIND_PARENT, b.loc, a.name, type=b.type)
            else:
                b = Binding(BIND_PATH, b.loc, rebase(a.path), type=b.type or a.type)
        elif b.kind == BIND_PATH and b.ref in producers:  # make-style: the path another step writes
            b = Binding(BIND_STEP_OUTPUT, b.loc, producers[b.ref][0], producers[b.ref][1], type=b.type)
        elif b.kind == BIND_PATH:
            b = dataclasses.replace(b, ref=rebase(b.ref))
        inputs[k] = b
    decls = {
        k: dataclasses.replace(d, default=rebase(d.default))
        if d.type in spec.PATH_TYPES and isinstance(d.default, str)
        else d
        for k, d in st.input_decls.items()
    }
    command = st.command
    texts = [command] if isinstance(command, str) else list(command)
    for text in texts:
        for m in _PARAM_REF.finditer(text):
            param = pf.params.get(m.group(1))
            if param is None:  # (a param it does not declare: that file's own error, reported)
                continue
            inputs[PARAM_INPUT + param.name] = Binding(BIND_PARENT, st.command_loc, param.name, type=param.type)
            decls[PARAM_INPUT + param.name] = spec.InputDecl(PARAM_INPUT + param.name, param.type, loc=param.loc)
    sub = lambda t: _PARAM_REF.sub(lambda m: "${{inputs." + PARAM_INPUT + m.group(1) + "}}", t)  # noqa: E731
    command = sub(command) if isinstance(command, str) else tuple(sub(t) for t in command)
    outputs = {o: dataclasses.replace(so, path=f"@{o}", output=False) for o, so in st.outputs.items()}
    metrics = tuple(_moved(m, st.outputs, outputs) for m in st.metrics)
    return dataclasses.replace(
        st,
        command=command,
        inputs=inputs,
        input_decls=decls,
        outputs=outputs,
        metrics=metrics,
        code=tuple(dataclasses.replace(c, path=rebase(c.path)) for c in st.code),
        workdir=rebase(st.workdir) if st.workdir else home,
    )
