"""The `steps:` section: each step's component or command, its outputs, its input
bindings (paths, values, ${{assets.X}}, ${{params.X}}, ${{steps.S.outputs.X}},
${{artifacts.X}}), and the rest (code, resources, environment, metrics, key_includes).

A `StepParser` reads steps once params, assets, environments and components are read,
since steps refer to them. References to other steps are only recorded here: they are
checked once every step is read (checks.check_step_references), with `declared_outputs`
telling a step or output that had errors of its own from one that does not exist.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Mapping, Optional

from .. import spec, template
from ..errors import SourceLoc, did_you_mean
from ..spec import (
    BIND_NONE,
    MISSING,
    Binding,
    Component,
    InputDecl,
    Resources,
    Step,
    StepOutput,
)
from . import stdlib
from .bounds import check_expansion_bounds
from .environments import environment_ref
from .execution import load_retries, load_timeout
from .expansion import check_expanded_step, check_expansion_inputs, given_input, load_expansion
from .fields import RENDER_MODES, STEP_KEYS, STEP_OUTPUT_KEYS
from .input_bindings import InputBindingReader, check_expansion_enums
from .outpaths import check_output_templates, per_task_template, template_path_problem
from .paths import path_hint, refused_in_git
from .phrases import a
from .reader import NodeReader, is_mapping, is_scalar, is_sequence
from .sections import Command, check_command_refs, load_code, load_command, load_key_includes, load_resources
from .sweep_space import draws_whole

if TYPE_CHECKING:
    from yaml import Node

# The fields of a step: key -> (key node, value node).
Fields = dict[str, tuple["Node", "Node"]]


class StepParser(InputBindingReader):
    """Reads steps against the sections read before them; errors go to the reader."""

    def __init__(
        self,
        r: NodeReader,
        params: Mapping[str, spec.Param],
        assets: Mapping[str, spec.Asset],
        environments: Mapping[str, spec.EnvSpec],
        components: Mapping[str, Component],
    ):
        self.r = r
        self.params = params
        self.assets = assets
        self.environments = environments
        self.components = components
        # step name -> names of the outputs it declares (None: unknown, the step had errors first)
        self.declared_outputs: dict[str, Optional[set[str]]] = {}

    def load_step(self, name: str, knode: Node, vnode: Node) -> Optional[Step]:
        r = self.r
        what = f"step '{name}'"
        self.declared_outputs[name] = None  # unknown until its outputs are read
        before = len(r.errors)
        fields = {k: (kn, vn) for k, kn, vn in r.mapping(vnode, what, STEP_KEYS)}
        found, comp = self._component(what, vnode, fields, before)
        if not found:
            return None
        ok, expansion = load_expansion(r, fields, what)
        if not ok:
            return None
        outputs, declared = self._outputs(name, knode, what, fields, comp)
        inputs, decls, attempted = self._inputs(knode, what, fields, comp, outputs, expansion)
        if comp is not None:
            command, command_loc = comp.command, comp.command_loc
        else:
            given = expansion.names if expansion is not None else ()
            left_out = expansion.left_out if expansion is not None else frozenset()
            got = self._command(what, fields["command"][1], inputs, outputs, attempted, declared, given, left_out)
            if got is None:
                return None
            command, command_loc = got
        st = self._step(name, knode, what, fields, comp, command, command_loc, inputs, decls, outputs)
        check_output_templates(r, st, expansion, what)
        if expansion is not None:
            check_expanded_step(r, st, expansion, what, "metrics" in fields)
        return dataclasses.replace(st, expand=expansion) if expansion is not None else st

    # --- the parts of a step, in the order they are read ---------------------------------
    def _component(self, what: str, vnode: Node, fields: Fields, before: int) -> tuple[bool, Optional[Component]]:
        """(whether the step can be read on, the component it uses or None)."""
        r = self.r
        if "component" in fields:
            cname = r.string(fields["component"][1], f"component of {what}")
            if cname is None:
                return False, None
            comp = self.components.get(cname)
            if comp is None and stdlib.is_std_ref(cname):
                comp = stdlib.step_component(r, what, cname, fields["component"][1])
                if comp is None:
                    return False, None
            if comp is None:
                r.error(
                    fields["component"][1],
                    f"{what} uses component '{cname}', which is not defined",
                    stdlib.unprefixed_hint(cname)
                    or (did_you_mean(cname, self.components, "component") if self.components else None)
                    or "define it under components:",
                )
                return False, None
            if "command" in fields:
                r.error(
                    fields["command"][0],
                    f"{what} has both a component and a command",
                    "remove the command: it comes from the component",
                )
                return False, None
            return True, comp
        if "command" not in fields:
            if len(r.errors) > before:  # a misspelt key was reported already
                return False, None
            r.error(vnode, f"{what} has neither a command nor a component", "add command: ... (or component: NAME)")
            return False, None
        return True, None

    def _outputs(
        self, name: str, knode: Node, what: str, fields: Fields, comp: Optional[Component]
    ) -> tuple[dict[str, StepOutput], set[str]]:
        """(the valid outputs, the names of every output declared, valid or not)."""
        r = self.r
        outputs: dict[str, StepOutput] = {}
        fitting, declared = self.output_fields(name, what, fields, comp)
        for oname, ovn, decl_type in fitting:
            out = self.load_step_output(oname, ovn, what, decl_type)
            if out:
                outputs[oname] = out
        if comp is not None:
            for oname in comp.outputs:
                if oname not in outputs and oname not in declared:
                    r.error(
                        knode,
                        f"{what} does not say where to write output '{oname}' of component '{comp.name}'",
                        f"add outputs: {{{oname}: build/{name}/{oname}}}",
                    )
        return outputs, declared

    def output_fields(self, name: str, what: str, fields: Fields, comp: Optional[Component]) -> tuple:
        """([(output, its value node, the component's type for it or None)] of the outputs
        whose name is valid and, for a component, one it has; the names of every output
        declared). The step's and an inner step's outputs are read alike up to here."""
        r = self.r
        out_fields = r.mapping(fields["outputs"][1], f"outputs of {what}") if "outputs" in fields else []
        declared = {k for k, _, _ in out_fields}
        self.declared_outputs[name] = declared
        fitting = []
        for oname, okn, ovn in out_fields:
            if not r.name_ok(oname, okn, "output"):
                continue
            decl_type = None
            if comp is not None:
                if oname not in comp.outputs:
                    r.error(
                        okn,
                        f"component '{comp.name}' has no output '{oname}'",
                        did_you_mean(oname, comp.outputs, "output"),
                    )
                    continue
                decl_type = comp.outputs[oname].type
            fitting.append((oname, ovn, decl_type))
        return fitting, declared

    def _inputs(
        self,
        knode: Node,
        what: str,
        fields: Fields,
        comp: Optional[Component],
        outputs: Mapping[str, StepOutput],
        expansion: Optional[spec.Expansion] = None,
    ) -> tuple[dict[str, Binding], Mapping[str, InputDecl], set[str]]:
        """(the valid bindings, the input declarations, the names of every input bound)."""
        r = self.r
        # The inputs a matrix or sweep gives a value per task: declared, never bound here.
        given = set(expansion.names) if expansion is not None and expansion.kind != spec.EXPAND_FOREACH else set()
        decls: Mapping[str, InputDecl] = comp.inputs if comp else {}
        inputs: dict[str, Binding] = {}
        in_fields = r.mapping(fields["inputs"][1], f"inputs of {what}") if "inputs" in fields else []
        inline_decls: dict[str, InputDecl] = {}
        attempted: set[str] = set()  # bound, rightly or wrongly: a bad binding is reported once
        for iname, ikn, ivn in in_fields:
            if not r.name_ok(iname, ikn, "input"):
                continue
            if comp is not None and iname not in decls:
                r.error(
                    ikn,
                    f"component '{comp.name}' has no input '{iname}'",
                    did_you_mean(iname, decls, "input") if decls else "this component takes no inputs",
                )
                continue
            decl = decls.get(iname)
            attempted.add(iname)
            if expansion is not None and iname in given:
                b = given_input(r, iname, ivn, what, decl, expansion)
                if b is not None:
                    inputs[iname] = b
                    if comp is None:
                        inline_decls[iname] = InputDecl(iname, b.type, MISSING, False, "", r.loc(ikn))
                continue
            b = self.load_binding(iname, ivn, what, decl)
            if b is None:
                continue
            inputs[iname] = b
            if comp is None:
                inline_decls[iname] = InputDecl(iname, self.binding_type(b), MISSING, False, "", r.loc(ikn))
        if expansion is not None:
            check_expansion_inputs(r, what, comp, inputs, attempted, expansion, decls)
            _check_sweep_ranges(r, what, comp, inputs, expansion, decls)
            check_expansion_enums(r, what, comp, expansion, decls)
            check_expansion_bounds(r, what, comp, expansion, decls)
            if comp is not None:
                # A component's input the expansion gives a value: bound per task.
                for iname in given:
                    if iname in decls and iname not in inputs:
                        inputs[iname] = Binding(BIND_NONE, expansion.loc, type=decls[iname].type)
        if comp is None:
            return inputs, inline_decls, attempted
        for iname, decl in decls.items():
            bound = inputs.get(iname)
            if expansion is not None and iname in expansion.left_out and decl.default is MISSING and not decl.optional:
                r.error_at(
                    expansion.loc,
                    f"an include: of the matrix of {what} gives no value for axis '{iname}', "
                    f"a required input of component '{comp.name}'",
                    f"give {iname} a value in each include: of the matrix",
                )
                continue
            if (bound is None and iname in attempted) or iname in given:
                continue  # (an input the matrix or sweep sets is bound per task)
            unset = bound is None or bound.kind == BIND_NONE
            if unset and decl.default is MISSING and not decl.optional:
                r.error(
                    knode,
                    f"{what} does not connect required input '{iname}' of component '{comp.name}'",
                    f"add inputs: {{{iname}: ...}} (or give the input a default in the component)",
                )
        return inputs, decls, attempted

    def _command(
        self,
        what: str,
        cnode: Node,
        inputs: Mapping[str, Binding],
        outputs: Mapping[str, StepOutput],
        attempted: set[str],
        declared: set[str],
        given: tuple = (),
        left_out: frozenset = frozenset(),
    ) -> Optional[tuple[Command, SourceLoc]]:
        """The step's own command and where it is; None when it is unusable (reported)."""
        r = self.r
        command = load_command(r, cnode, what)
        if command is None:
            return None
        # Inputs and outputs that were declared but had errors are known names: no second error.
        known_inputs = {**{n: None for n in attempted}, **inputs}
        known_outputs = {**{n: None for n in declared}, **outputs}
        check_command_refs(r, cnode, command, what, known_inputs, known_outputs, self.params, in_component=False)
        for ref, optional in _all_refs(command):
            b = inputs.get(ref.name) if ref.scope == "inputs" else None
            if b is None or b.kind != BIND_NONE or optional or (ref.name in given and ref.name not in left_out):
                continue
            if ref.name in left_out:  # an axis some include: leaves out: that task would render ''
                r.error(
                    cnode,
                    f"input '{ref.name}' of {what} is an axis of its matrix that an include: gives no value, "
                    "but is used outside $[[ ... ]]",
                    f"give {ref.name} a value in each include: of the matrix, or wrap it: $[[--{ref.name} {ref}]]",
                )
                continue
            r.error(
                cnode,
                f"input '{ref.name}' of {what} has no value but is used outside $[[ ... ]]",
                f"give it a value, or wrap it: $[[--{ref.name} {ref}]]",
            )
        return command, r.loc(cnode)

    def _running(self, fields: Fields, what: str) -> tuple:
        """(render, always_run): how the step is rendered and run (docs/azureml.md:
        what `pipe import azureml` writes for an imported node)."""
        r = self.r
        render = ""
        if "render" in fields:
            v = r.value(fields["render"][1])
            if v not in RENDER_MODES:
                r.error(
                    fields["render"][1],
                    f"render of {what} must be one of {', '.join(RENDER_MODES)}, not {v!r}",
                    f"write render: {RENDER_MODES[0]} (the default), or remove it",
                )
            elif v == spec.RENDER_AZUREML:
                render = v
        always = bool(r.flag(fields["always_run"][1], f"always_run of {what}")) if "always_run" in fields else False
        return render, always

    def _step(
        self,
        name: str,
        knode: Node,
        what: str,
        fields: Fields,
        comp: Optional[Component],
        command: Command,
        command_loc: SourceLoc,
        inputs: dict[str, Binding],
        decls: Mapping[str, InputDecl],
        outputs: dict[str, StepOutput],
    ) -> Step:
        """The step, with what it sets itself over what its component gives."""
        r = self.r
        code = tuple(comp.code) if comp else ()
        if "code" in fields:
            code += load_code(r, fields["code"][1], what)
        resources = comp.resources if comp else Resources()
        if "resources" in fields:
            resources = load_resources(r, fields["resources"][1], what)
        environment = comp.environment if comp else ""
        if comp is not None and comp.library is not None:
            environment = spec.ENV_STD  # the built-in environment of std components, unless the step says
        if "environment" in fields:
            environment = environment_ref(r, fields["environment"][1], what, self.environments) or ""
        key_includes = comp.key_includes if comp else ()
        if "key_includes" in fields:
            key_includes = load_key_includes(r, fields["key_includes"][1], what)
        desc = r.value(fields["description"][1]) if "description" in fields else (comp.description if comp else "")
        metrics = self.load_metrics(fields["metrics"][1], what, outputs) if "metrics" in fields else ()
        if comp is not None and comp.metrics:
            # The component's metrics outputs first; what the step lists itself is added.
            mine = tuple(outputs[o].path for o in comp.metrics if o in outputs)
            metrics = tuple(dict.fromkeys(mine + metrics))
        render, always = self._running(fields, what)
        return Step(
            render=render,
            always_run=always,
            name=name,
            command=command,
            inputs=inputs,
            input_decls=decls,
            outputs=outputs,
            code=code,
            resources=resources,
            component=comp.name if comp else "",
            description=str(desc or ""),
            loc=r.loc(knode),
            command_loc=command_loc,
            metrics=metrics,
            environment="" if environment == spec.ENV_LOCAL else environment,
            key_includes=key_includes,
            library=comp.library if comp else None,
            retries=load_retries(r, fields["retries"][1], what) if "retries" in fields else None,
            timeout=load_timeout(r, fields["timeout"][1], what) if "timeout" in fields else None,
        )

    # --- outputs and metrics --------------------------------------------------------------
    def load_metrics(self, node: Node, what: str, outputs: Mapping[str, StepOutput]) -> tuple[str, ...]:
        """Metrics files: each one of the step's outputs or a file inside one."""
        r = self.r
        nodes = node.value if is_sequence(node) else [node]
        out = []
        for n in nodes:
            raw = n.value if is_scalar(n) and isinstance(n.value, str) and "${{" in n.value else None
            tpl = per_task_template(raw) if raw is not None else None
            p: Optional[str] = tpl
            if not tpl or not any(
                o.template and (tpl == o.path or tpl.startswith(o.path + "/")) for o in outputs.values()
            ):
                p = r.path_value(n, f"metrics of {what}")  # (else inside a per-task path: rendered with it)
            if not p:
                continue
            if not any(p == o.path or p.startswith(o.path + "/") for o in outputs.values()):
                hint = "list it under outputs too (metrics are files the step writes), or write it inside an output"
                hint += " folder"
                if p in outputs:  # an output's name, as a component's metrics are written
                    hint = f"a step's metrics are paths: write the output's path, metrics: {outputs[p].path}"
                r.error(n, f"metrics file '{p}' of {what} is not one of its outputs", hint)
                continue
            folder = next((o for o in outputs.values() if o.path == p and o.type == spec.URI_FOLDER), None)
            if folder is not None:  # never readable; on a matrix/sweep each task's entry is made a folder
                r.error(
                    n,
                    f"metrics file '{p}' of {what} is output '{folder.name}', a folder",
                    f"name a JSON or YAML file inside it (metrics: {p}/metrics.json), or, where each task of a "
                    f"matrix, sweep or foreach writes one file, declare the output without the trailing / ({p})",
                )
                continue
            out.append(p)
        return tuple(out)

    def load_step_output(self, name: str, vnode: Node, what: str, decl_type: Optional[str]) -> Optional[StepOutput]:
        r = self.r
        typ = decl_type
        pnode = vnode
        artifact = ""
        is_output = False
        if is_mapping(vnode):
            f = r.fields(vnode, f"output '{name}' of {what}", STEP_OUTPUT_KEYS)
            if "output" in f:
                is_output = r.flag(f["output"], f"'output' of output '{name}' of {what}")
            if "name" in f:
                artifact = r.artifact_name(f["name"], f"output '{name}' of {what}") or ""
            if "type" in f:
                t = r.type_name(f["type"], spec.OUTPUT_TYPES, f"output '{name}' of {what}")
                if t and decl_type and t != decl_type:
                    r.error(
                        f["type"],
                        f"output '{name}' of {what} is declared {decl_type} by its component, not {t}",
                        f"write type: {decl_type}, or leave type out (the component's is used)",
                    )
                typ = t or decl_type
            if "path" not in f:
                r.error(vnode, f"output '{name}' of {what} has no path", f"add path: build/{name}")
                return None
            pnode = f["path"]
        if is_scalar(pnode) and isinstance(pnode.value, str) and "${{" in pnode.value:
            tpl = per_task_template(pnode.value)
            if tpl is not None and refused_in_git(r, pnode, tpl, f"output '{name}' of {what}"):
                return None
            if tpl is not None:  # checked against the step's expansion once the step is read
                return StepOutput(name, tpl, typ, r.loc(pnode), artifact, is_output, template=tpl)
            problem = template_path_problem(pnode.value)
            if problem:  # (a per-task path, but not a workspace path: say why, not that it may not use inputs)
                r.error(pnode, f"output '{name}' of {what}: {problem}", path_hint(pnode.value))
                return None
            hint = "assets and other steps' outputs connect only to step inputs; write a path like build/out.csv"
            if re.search(r"\$\{\{\s*(inputs|params)\.", pnode.value):  # a per-task path, as one would in a matrix
                # (it said inputs could not be used "(yet)": a matrix's or sweep's path may use them)
                hint = (
                    "only the inputs a matrix or sweep sets may be used in an output path, as they are "
                    "(build/m-${{inputs.lr}}.txt): no params, no $[[ ]]; a foreach's tasks write their "
                    "entries below the declared path (write e.g. build/model/)"
                )
            r.error(pnode, f"output '{name}' of {what} must be a workspace path, not an expression", hint)
            return None
        p = r.path_value(pnode, f"output '{name}' of {what}")
        if not p:
            return None
        if refused_in_git(r, pnode, p, f"output '{name}' of {what}"):  # (an input may read .git/HEAD)
            return None
        raw = r.value(pnode)
        if isinstance(raw, str) and raw.rstrip().endswith("/"):
            if typ == spec.URI_FILE:
                r.error(
                    pnode,
                    f"output '{name}' of {what} is a uri_file, but its path ends with '/'",
                    "drop the '/' or declare the output a uri_folder",
                )
                return None
            typ = spec.URI_FOLDER
        return StepOutput(name, p, typ, r.loc(pnode), artifact, is_output)


def _all_refs(command: Command) -> list[tuple[template.Ref, bool]]:
    texts = [command] if isinstance(command, str) else list(command)
    out: list = []
    for t in texts:
        try:
            out.extend(template.refs_of(t))
        except template.TemplateError:
            pass
    return out


def _check_sweep_ranges(r: NodeReader, what: str, comp, inputs, expansion: spec.Expansion, decls) -> None:
    """A sweep's uniform/loguniform draws numbers, its randint (and a multiple of a whole q)
    whole numbers: an input of another type would get them all the same (3.24561 for an
    integer, 2 for a boolean)."""
    for name, kind, values in expansion.space if expansion.kind == spec.EXPAND_SWEEP else ():
        decl = decls.get(name) if comp is not None else inputs.get(name)
        typ = decl.type if decl is not None else None
        drawn = spec.INTEGER if draws_whole(kind, values) else spec.NUMBER if kind != "choice" else None
        if drawn is None or typ is None or typ == drawn or typ == spec.NUMBER:
            continue
        r.error_at(
            expansion.loc,
            f"sweep input '{name}' of {what} draws {'whole numbers' if drawn == spec.INTEGER else 'numbers'} "
            f"({kind}), but the input is {a(typ)}",
            "use randint: [LOW, HIGH], or a whole q (quniform: [LOW, HIGH, 1]), for an integer input"
            if typ == spec.INTEGER
            else f"list its values: {name}: {{choice: [...]}}, or declare the input {{type: {drawn}}}",
        )
