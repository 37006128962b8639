"""Pipelines used as components: reading them (docs/pipefile.md#pipelines-as-components).

A component is a pipeline when it says `type: pipeline` (its own `inputs`, `outputs` and `steps`), or when a step
names another Pipefile (`component: ./train/Pipefile`). A step using one is read here into a `spec.PipelineUse`;
flatten.py turns it into its inner steps, `STEP/INNER`. Inside one, `${{parent.inputs.X}}` binds an inner step's
input to the pipeline's input X, `${{parent.outputs.X}}` (an inner step's output) makes its output X, and inner
outputs have no path (each use places them). Pipeline components are read on first use (one may use another defined
later); one that uses itself (directly, through others or through Pipefiles) is a located error naming the cycle,
and nesting is bounded (task_limits.MAX_NESTING)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from .. import spec
from ..errors import did_you_mean
from ..spec import BIND_NONE, BIND_PARENT, MISSING, Binding, PipelineComponent, PipelineUse, StepOutput
from .bounds import held_in_bounds
from .checks import check_step_references
from .fields import PIPELINE_COMPONENT_KEYS, PIPELINE_STEP_KEYS
from .params import narrowed_enum
from .phrases import a
from .reader import NodeReader, is_mapping, is_scalar
from .sections import enum_text, load_interface
from .steps import StepParser, _all_refs
from .task_limits import one_level_deeper

if TYPE_CHECKING:
    from yaml import Node

PIPELINE_TYPE = "pipeline"
# `component: ./x/Pipefile` names a file by its path (std components are `std/NAME`).
_FILE_PREFIXES = ("./", "../")


def is_file_ref(name: str) -> bool:
    return name.startswith(_FILE_PREFIXES)


def pipeline_names(node: Optional[Node]) -> set:
    """Names under `components:` that say `type: pipeline` (read without reporting: the
    section's own reading reports its shape)."""
    out = set()
    for knode, vnode in node.value if node is not None and is_mapping(node) else ():
        if not is_scalar(knode) or not is_mapping(vnode):
            continue
        for k, _ in vnode.value:
            if is_scalar(k) and k.value == "type":  # (only a pipeline has one: _read says if it is another)
                out.add(str(knode.value))
    return out


def component_of(vnode: Node) -> tuple:
    """(the name a step's `component:` gives, its node), or ("", None)."""
    if not is_mapping(vnode):
        return "", None
    for k, v in vnode.value:
        # (the text first: a key that is a list or mapping holds no text to equal it)
        if k.value == "component" and is_scalar(k) and is_scalar(v) and isinstance(v.value, str):
            return v.value, v
    return "", None


class Pipelines:
    """The pipeline components one Pipefile can use: its own `type: pipeline` ones (read on
    first use) and other Pipefiles (read through `load_file`)."""

    def __init__(
        self,
        r: NodeReader,
        components_node: Optional[Node],
        sections: tuple,
        load_file: Callable,
        stack: tuple = (),
        names: tuple = (),
    ):
        self.r = r
        self.names = names  # what a Pipefile in a folder is called (document.DEFAULT_NAMES)
        declared = pipeline_names(components_node)
        pairs = components_node.value if declared and components_node is not None else ()
        self.raw = {str(k.value): (k, v) for k, v in pairs if is_scalar(k) and str(k.value) in declared}
        self.sections = sections  # (params, assets, environments, components) of the file
        # (absolute path, stack, paths passed over, the path as named) -> (PipelineComponent or None, errors)
        self.load_file = load_file
        self.stack = stack + (os.path.abspath(r.path),)  # Pipefiles being read, outermost first
        self.done: dict = {}
        self.reading: list = []

    def read_rest(self) -> None:
        """Reads the pipeline components no step used (their errors are errors all the same)."""
        for name, (knode, _) in self.raw.items():
            if name not in self.done:
                self.resolve(name, knode, "the Pipefile")

    def wants(self, name: str) -> bool:
        return name in self.raw or is_file_ref(name)

    def read_step(self, parser: StepParser, key: str, knode: Node, vnode: Node, inner: bool = False):
        """A step: a `spec.Step`, or a `spec.PipelineUse` when its component is a pipeline."""
        cname, cnode = component_of(vnode)
        if not cname or not self.wants(cname):
            return parser.load_step(key, knode, vnode)
        parser.declared_outputs[key] = None
        comp = self.resolve(cname, cnode, f"step '{key}'")
        if comp is None:
            return None
        return load_use(parser, key, knode, vnode, comp, inner)

    def resolve(self, name: str, node: Node, what: str) -> Optional[PipelineComponent]:
        with one_level_deeper(self.r, node, what, name) as allowed:
            return self._resolve(name, node, what) if allowed else None

    def _resolve(self, name: str, node: Node, what: str) -> Optional[PipelineComponent]:
        if is_file_ref(name):
            return self._file(name, node, what)
        if name in self.reading:
            cycle = self.reading[self.reading.index(name) :] + [name]
            self.r.error(
                node,
                f"pipeline component '{name}' uses itself: {' -> '.join(cycle)}",
                "a pipeline cannot contain itself, directly or through others: remove one of these uses",
            )
            return None
        if name not in self.done:
            self.reading.append(name)
            try:
                self.done[name] = self._read(name)
            finally:
                self.reading.pop()
        return self.done[name]

    def _file(self, ref: str, node: Node, what: str) -> Optional[PipelineComponent]:
        r = self.r
        path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(r.path)), ref))
        root = os.path.dirname(self.stack[0])
        passed: tuple = ()  # the names looked for before the one read (a file made there takes over)
        if os.path.isdir(path):
            found = [os.path.join(path, n) for n in self.names if os.path.isfile(os.path.join(path, n))]
            if not found:
                r.error(node, f"{what} uses '{ref}', a folder without a Pipefile", f"name the file: {ref}/Pipefile")
                return None
            passed = tuple(os.path.join(path, n) for n in self.names[: self.names.index(os.path.basename(found[0]))])
            path = found[0]
        if not os.path.lexists(path):
            r.error(
                node,
                f"{what} uses '{ref}' as a component, but no such file exists",
                "fix the path (relative to this Pipefile's folder), or name a component under components:",
            )
            return None
        real_root, real_dir = os.path.realpath(root), os.path.realpath(os.path.dirname(path))
        if not (path + os.sep).startswith(root + os.sep) or not (real_dir + os.sep).startswith(real_root + os.sep):
            r.error(node, f"{what} uses '{ref}', which is outside the workspace", "put that Pipefile inside it")
            return None
        # Its commands run in its folder and its paths are placed from there: the folder as it
        # is, not as a link names it (from a link `ext` -> `lib/sub`, a path `../x` placed from
        # `ext` is read by the shell, in lib/sub, as lib/x).
        named = path
        path = os.path.normpath(os.path.join(root, os.path.relpath(real_dir, real_root), os.path.basename(path)))
        base = os.path.basename(path)
        if not os.path.isfile(path) or not (base.startswith("Pipefile") or base.endswith((".yaml", ".yml"))):
            r.error(
                node,
                f"{what} uses '{ref}', which is not a Pipefile",
                "name a Pipefile (Pipefile, or a .yaml file with steps:) or a component under components:",
            )
            return None
        if path in self.stack:
            chain = [os.path.relpath(p, root) for p in self.stack[self.stack.index(path) :]] + [
                os.path.relpath(path, root)
            ]
            r.error(
                node,
                f"{what} uses the Pipefile '{ref}', which uses this one: {' -> '.join(chain)}",
                "a pipeline cannot contain itself: remove one of these uses",
            )
            return None
        comp, errors = self.load_file(path, self.stack, passed, named)
        r.errors.extend(errors)
        return comp

    def _read(self, name: str) -> Optional[PipelineComponent]:
        r = self.r
        knode, vnode = self.raw[name]
        what = f"pipeline component '{name}'"
        before = len(r.errors)
        fields = {k: (kn, vn) for k, kn, vn in r.mapping(vnode, what, PIPELINE_COMPONENT_KEYS)}
        tnode = fields["type"][1]
        if r.value(tnode) != PIPELINE_TYPE:
            r.error(
                tnode,
                f"component '{name}' has type {r.value(tnode)!r}, but the only type a component can say is "
                f"'{PIPELINE_TYPE}'",
                "write type: pipeline (with steps:), or leave type out for a component with a command",
            )
            return None
        inputs, outputs = load_interface(r, fields, what)
        if "steps" not in fields:
            r.error(vnode, f"{what} has no steps", "add steps: with the steps it runs")
            return None
        params, assets, environments, components = self.sections  # (components: added once read)
        parser = InnerStepParser(r, params, assets, environments, components, name, inputs, outputs)
        steps: dict = {}
        raw = r.mapping(fields["steps"][1], f"steps of {what}")
        if not raw and len(r.errors) == before:
            r.error(fields["steps"][1], f"{what} has no steps", "add at least one step")
        unread = False  # an inner step with errors of its own: what it binds is unknown
        for key, kn, vn in raw:
            if r.name_ok(key, kn, "step"):
                got = self.read_step(parser, key, kn, vn, inner=True)
                if got is not None:
                    steps[key] = got
                else:
                    unread = True
        stand_ins = {k: _stand_in(s) if isinstance(s, PipelineUse) else s for k, s in steps.items()}
        bad = set()
        for e in check_step_references(stand_ins, parser.declared_outputs):
            e.message += f" (inside {what}: an inner step reads its siblings only)"
            r.errors.append(e)
            bad.add(e.loc)
        if bad:  # said once, here: not again for each use
            steps = {k: _without(s, bad) for k, s in steps.items()}
        for oname, odecl in outputs.items():
            if oname not in parser.binds and not unread:
                r.error_at(
                    odecl.loc,
                    f"output '{oname}' of {what} is bound to no inner step's output",
                    f"bind it on the inner step that writes it: outputs: {{NAME: ${{{{parent.outputs.{oname}}}}}}}",
                )
        desc = r.value(fields["description"][1]) if "description" in fields else ""
        inputs = parser.held_inputs(inputs)  # (a use's values are checked against its inner steps' enums)
        return PipelineComponent(name, inputs, outputs, steps, dict(parser.binds), r.loc(knode), str(desc or ""))


def _without(st, bad: set):
    """The step with the bindings at `bad` (reported already) left unbound."""
    if not any(b.loc in bad for b in st.inputs.values()):
        return st
    ins = {k: Binding(BIND_NONE, b.loc) if b.loc in bad else b for k, b in st.inputs.items()}
    return dataclasses.replace(st, inputs=ins)


def _stand_in(use: PipelineUse) -> spec.Step:
    """A step with a use's outputs, so references to it are checked as to any step."""
    outs = {o: StepOutput(o, "", d.type, d.loc) for o, d in use.pipeline.outputs.items()}
    return spec.Step(use.name, "", {}, {}, outs, loc=use.loc)


class InnerStepParser(StepParser):
    """Reads the steps of a pipeline component: `${{parent.inputs.X}}` bindings, outputs
    without paths (`${{parent.outputs.X}}` binds one to the pipeline's output X)."""

    def __init__(self, r, params, assets, environments, components, name, inputs, outputs):
        super().__init__(r, params, assets, environments, components)
        self.what = f"pipeline component '{name}'"
        self.parent_inputs: Mapping[str, spec.InputDecl] = inputs
        self.parent_outputs: Mapping[str, spec.OutputDecl] = outputs
        self.binds: dict = {}  # its output -> (inner step, output)
        self.held: dict = {}  # its input -> (the enum of the inner inputs bound to it, where, what)
        self.bounded: list = []  # (its input, an inner input's decl bound to it, where, what)

    def load_binding(self, iname, node, what, decl):
        """As a step's; a pipeline input bound to an input's `enum:`, `min:`, `max:` is held to them (held_inputs)."""
        b = super().load_binding(iname, node, what, decl)
        if b is not None and b.kind == BIND_PARENT and decl is not None:
            self.bounded.append((b.ref, decl, self.r.loc(node), f"input '{iname}' of {what}"))  # (min:, max:)
            if decl.enum:
                before = self.held.get(b.ref, ((), None, ""))[0]
                self.held[b.ref] = (narrowed_enum(before, decl.enum), self.r.loc(node), f"input '{iname}' of {what}")
        return b

    def held_inputs(self, inputs: dict) -> dict:
        """The pipeline's inputs, each narrowed to the enum of the inner inputs bound to it."""
        out = dict(inputs)
        for name, (choices, loc, what) in self.held.items():
            decl = out.get(name)
            if decl is None:
                continue
            took = narrowed_enum(decl.enum, choices)
            if not took:
                self.r.error_at(
                    loc,
                    f"{what} takes only {enum_text(choices)}, none of which input '{name}' of {self.what} takes",
                    "give the two the same values (enum:), or bind another input",
                )
                continue
            if decl.default is not MISSING and decl.default not in took:
                self.r.error_at(
                    decl.loc,
                    f"default of input '{name}' of {self.what} is {decl.default!r}, which {what} "
                    "it is bound to does not take",
                    f"give a default from: {enum_text(took)}",
                )
            out[name] = dataclasses.replace(decl, enum=took)
        return held_in_bounds(self.r, out, self.bounded, self.what)

    def binding_from_ref(self, iname, ref, node, what, dtype):
        if ref.scope != "parent":
            return super().binding_from_ref(iname, ref, node, what, dtype)
        r = self.r
        if ref.name == "outputs":
            r.error(
                node,
                f"input '{iname}' of {what} reads {ref}, an output of {self.what}",
                "a pipeline's outputs are written by its steps: read the step that writes it, "
                "${{steps.STEP.outputs.NAME}}",
            )
            return None
        decl = self.parent_inputs.get(ref.sub)
        if decl is None:
            r.error(
                node,
                f"input '{iname}' of {what} binds {ref}, but {self.what} has no input '{ref.sub}'",
                did_you_mean(ref.sub, self.parent_inputs, "input") or f"declare it under inputs: of {self.what}",
            )
            return None
        paths = spec.PATH_TYPES
        if dtype and decl.type and ((dtype in paths) != (decl.type in paths) or not spec.type_fits(decl.type, dtype)):
            r.error(
                node,
                f"input '{iname}' of {what} expects {a(dtype)}, but input '{ref.sub}' of {self.what} is {a(decl.type)}",
                "change the type of one of the two inputs",
            )
            return None
        return Binding(BIND_PARENT, r.loc(node), ref.sub, type=dtype or decl.type)

    def _command(self, what, cnode, inputs, outputs, attempted, declared, given=(), left_out=frozenset()):
        """As a step's; an input bound to an optional pipeline input without a default is used only in $[[ ... ]]."""
        got = super()._command(what, cnode, inputs, outputs, attempted, declared, given, left_out)
        for ref, optional in _all_refs(got[0]) if got is not None else ():
            b = inputs.get(ref.name) if ref.scope == "inputs" else None
            decl = self.parent_inputs.get(b.ref) if b is not None and b.kind == BIND_PARENT else None
            if b is not None and decl is not None and decl.optional and decl.default is MISSING and not optional:
                self.r.error(
                    cnode,
                    f"input '{ref.name}' of {what} is bound to optional input '{b.ref}' of {self.what}, "
                    "which may have no value, but is used outside $[[ ... ]]",
                    f"wrap it: $[[--{ref.name} {ref}]], or give input '{b.ref}' a default",
                )
        return got

    def binding_type(self, b):
        if b.kind == BIND_PARENT:
            return self.parent_inputs[b.ref].type
        return super().binding_type(b)

    def _outputs(self, name, knode, what, fields, comp):
        """Inner outputs: no path (empty, a type, or {type, description}), or bound to the
        pipeline's output; a component's outputs left out are kept in the store too."""
        r = self.r
        outputs: dict = {}
        fitting, declared = self.output_fields(name, what, fields, comp)
        for oname, ovn, decl_type in fitting:
            got = self.inner_output(oname, ovn, what, decl_type)
            if got is not None:
                typ = got[0]
                if got[1] and typ is None and got[1] in self.parent_outputs:
                    typ = self.parent_outputs[got[1]].type  # the pipeline's output says what it is
                outputs[oname] = StepOutput(oname, f"@{oname}", typ, r.loc(ovn))
                if got[1]:
                    self.bind(got[1], name, oname, typ, ovn)
        for oname, d in (comp.outputs if comp is not None else {}).items():
            if oname not in declared:
                outputs[oname] = StepOutput(oname, f"@{oname}", d.type, r.loc(knode))
        return outputs, declared

    def inner_output(self, oname: str, node: Node, what: str, typ: Optional[str]) -> Optional[tuple]:
        """(type, the pipeline output it is bound to or "") of an inner output."""
        r = self.r
        if is_mapping(node):
            f = r.fields(node, f"output '{oname}' of {what}", ("type", "description", "path"))
            if "type" in f:
                t = r.type_name(f["type"], spec.OUTPUT_TYPES, f"output '{oname}' of {what}")
                typ = t or typ
            if "path" not in f:
                return typ, ""
            node = f["path"]
        v = r.value(node)
        if v is None:
            return typ, ""
        if v in spec.OUTPUT_TYPES:
            return v, ""
        text = str(v).strip()
        if text.startswith("${{") and text.endswith("}}"):
            from .. import template

            try:
                ref = template.parse_ref(text[3:-2])
            except template.TemplateError as e:
                r.error(node, f"output '{oname}' of {what}: {e.message}", e.hint)
                return None
            if ref.scope == "parent" and ref.name == "outputs":
                return typ, ref.sub
        r.error(
            node,
            f"output '{oname}' of {what} inside {self.what} is given a path ({text!r}), but inner outputs have none",
            f"leave it empty ({oname}:) to keep it in the store, or write ${{{{parent.outputs.NAME}}}} to make "
            "it an output of the pipeline (the step using the pipeline gives it a path)",
        )
        return None

    def bind(self, parent: str, step: str, oname: str, typ: Optional[str], node: Node) -> None:
        r = self.r
        decl = self.parent_outputs.get(parent)
        if decl is None:
            r.error(
                node,
                f"output '{oname}' of step '{step}' binds ${{{{parent.outputs.{parent}}}}}, "
                f"but {self.what} has no output '{parent}'",
                did_you_mean(parent, self.parent_outputs, "output") or f"declare it under outputs: of {self.what}",
            )
        elif parent in self.binds:
            first = self.binds[parent]
            r.error(
                node,
                f"output '{parent}' of {self.what} is bound twice: by step '{first[0]}' and by step '{step}'",
                "one inner output writes each output of the pipeline",
            )
        elif typ and decl.type and typ != decl.type:
            r.error(
                node,
                f"output '{oname}' of step '{step}' is {a(typ)}, "
                f"but output '{parent}' of {self.what} is {a(decl.type)}",
                f"make the two types the same (type: {decl.type}), or bind another output",
            )
        else:
            self.binds[parent] = (step, oname)


def load_use(parser: StepParser, name: str, knode: Node, vnode: Node, comp: PipelineComponent, inner: bool):
    """A step that uses a pipeline component: its inputs and the outputs it places."""
    r = parser.r
    what = f"step '{name}'"
    pw = f"pipeline component '{comp.name}'"
    fields = {}
    for k, kn, vn in r.mapping(vnode, what):
        if k in PIPELINE_STEP_KEYS:
            fields[k] = (kn, vn)
        else:
            r.error(
                kn,
                f"{what} uses {pw} and cannot have '{k}'",
                f"a step using a pipeline takes {', '.join(PIPELINE_STEP_KEYS)}; give '{k}' to its inner steps",
            )
    inputs: dict = {}
    attempted = set()
    for iname, ikn, ivn in r.mapping(fields["inputs"][1], f"inputs of {what}") if "inputs" in fields else []:
        if not r.name_ok(iname, ikn, "input"):
            continue
        if iname not in comp.inputs:
            r.error(
                ikn,
                f"{pw} has no input '{iname}'",
                did_you_mean(iname, comp.inputs, "input") if comp.inputs else "this pipeline takes no inputs",
            )
            continue
        attempted.add(iname)
        b = parser.load_binding(iname, ivn, what, comp.inputs[iname])
        if b is not None:
            inputs[iname] = b
    for iname, decl in comp.inputs.items():
        b = inputs.get(iname)
        if iname not in attempted and (b is None or b.kind == BIND_NONE):
            if decl.default is MISSING and not decl.optional:
                r.error(
                    knode,
                    f"{what} does not connect required input '{iname}' of {pw}",
                    f"add inputs: {{{iname}: ...}} (or give the input a default in the pipeline)",
                )
    outputs: dict = {}
    binds: dict = {}
    out_fields = r.mapping(fields["outputs"][1], f"outputs of {what}") if "outputs" in fields else []
    parser.declared_outputs[name] = {k for k, _, _ in out_fields} | set(comp.outputs)
    for oname, okn, ovn in out_fields:
        if not r.name_ok(oname, okn, "output"):
            continue
        odecl = comp.outputs.get(oname)
        if odecl is None:
            r.error(okn, f"{pw} has no output '{oname}'", did_you_mean(oname, comp.outputs, "output"))
            continue
        if inner:
            assert isinstance(parser, InnerStepParser)  # (inner steps are read by one)
            got = parser.inner_output(oname, ovn, what, odecl.type)
            if got and got[1]:
                parser.bind(got[1], name, oname, got[0], ovn)
                binds[oname] = got[1]
            continue
        out = parser.load_step_output(oname, ovn, what, odecl.type)
        if out is not None and out.template:  # (a per-task path is a matrix or sweep step's only)
            r.error_at(
                out.loc,
                f"output '{oname}' of {what} must be a workspace path, not an expression",
                f"give it a path, e.g. build/{oname}",
            )
        elif out is not None:
            outputs[oname] = out
    desc = r.value(fields["description"][1]) if "description" in fields else comp.description
    return PipelineUse(name, comp, inputs, outputs, r.loc(knode), str(desc or ""), binds)
