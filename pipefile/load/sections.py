"""The top-level sections of a Pipefile: `params:`, `assets:` and `components:`, and the
parts a component shares with a step (command, code, resources, key_includes).

Each parser takes a `NodeReader` and a section's node and returns what is valid in it
(name -> spec object); what is not valid is left out and reported in the reader's errors.
`environments:` has its own module (environments.py), steps theirs (steps.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from .. import spec, template
from ..errors import did_you_mean
from ..spec import MISSING, CodeRef, Component, InputDecl, OutputDecl, Param, Resources
from .bounds import load_bounds
from .environments import environment_ref
from .execution import load_custom_resources
from .fields import ASSET_KEYS, COMPONENT_KEYS, INPUT_DECL_KEYS, OUTPUT_DECL_KEYS, PARAM_KEYS, RESOURCE_KEYS
from .numbers import looks_numeric
from .params import parse_size
from .phrases import COMMAND_HINT, SCALAR_HINT, a, quoted, spelled
from .reader import NodeReader, is_mapping, is_scalar, is_sequence, kind

if TYPE_CHECKING:
    from yaml import Node

Command = Union[str, tuple[str, ...]]


# --- params and assets --------------------------------------------------------------------
def load_params(r: NodeReader, node: Node) -> dict[str, Param]:
    out = {}
    declared = []
    for key, knode, vnode in r.mapping(node, "params"):
        if not r.name_ok(key, knode, "param"):
            continue
        declared.append(key)
        loc = r.loc(knode)
        if is_mapping(vnode):
            fields = r.fields(vnode, f"param '{key}'", PARAM_KEYS)
            default = r.value(fields["default"]) if "default" in fields else MISSING
            typ: Optional[str]
            if "type" in fields:
                typ = r.type_name(fields["type"], spec.PARAM_TYPES, f"param '{key}'")
            elif default is not MISSING and default is not None:
                typ = spec.type_of_value(default)
            else:
                r.error(vnode, f"param '{key}' needs a type or a default", "e.g. {type: string}")
                continue
            if typ is None:
                continue
            dnode = fields.get("default")
            if typ == spec.STRING and dnode is not None and _written_number(dnode):
                default = _number_as_text(r, key, dnode)
            elif "type" not in fields and dnode is not None:
                _warn_quoted_number(r, key, dnode, f'{key}: {{type: string, default: "{dnode.value}"}}')
            default = coerce_default(r, default, typ, dnode, f"param '{key}'")
            choices = load_enum(r, fields["enum"], typ, key) if "enum" in fields else ()
            if choices and default is not MISSING and default not in choices:
                r.error(
                    dnode,
                    f"default of param '{key}' is {quoted(default)}, which is not one of its enum values",
                    f"give a default from enum: {enum_text(choices)}, or add {quoted(default)} to the enum",
                )
            out[key] = Param(key, typ, default, r.description(fields), loc, choices)
        elif is_scalar(vnode):
            v = r.value(vnode)
            if v is None:
                r.error(vnode, f"param '{key}' has no value", "give a default (lr: 0.01) or a type ({type: number})")
                continue
            if not isinstance(v, (bool, int, float, str)):
                r.error(vnode, f"param '{key}' must be a number, a string or a boolean, not {v!r}", SCALAR_HINT)
                continue
            _warn_quoted_number(r, key, vnode, f'{key}: {{type: string, default: "{vnode.value}"}}')
            out[key] = Param(key, spec.type_of_value(v), v, "", loc)
        elif is_sequence(vnode):  # a list param: what a foreach maps over
            v = r.value(vnode)
            if not spec.value_fits(v, spec.LIST):
                r.error(
                    vnode, f"param '{key}' is a list whose items are not all numbers, strings or booleans", SCALAR_HINT
                )
                continue
            out[key] = Param(key, spec.LIST, tuple(v), "", loc)
        else:
            r.error(vnode, f"param '{key}' must be a value, a list or a mapping", "e.g. lr: 0.01 or lr: {type: number}")
    r.broken.update(("param", k) for k in declared if k not in out)
    return out


def load_enum(r: NodeReader, node: Node, typ: str, key: str, owner: str = "") -> tuple:
    """`enum: [..]` of a param (or of `owner`, a component's value input): a non-empty list of
    distinct values of its type; () when it is not one."""
    owner = owner or f"param '{key}'"
    what = f"enum of {owner}"
    if typ == spec.LIST:
        kind = "param" if owner.startswith("param ") else "input"
        r.error(
            node, f"{owner} is a list, and a list {kind} takes no enum", f"remove enum:, or make it a string {kind}"
        )
        return ()
    if typ in spec.PATH_TYPES:  # (a component's input that is a file or folder)
        r.error(node, f"{owner} is {a(typ)} (a path), which takes no enum", "remove enum:, or make it a string input")
        return ()
    if not is_sequence(node) or not node.value:
        r.error(node, f"{what} must be a non-empty list of values", "e.g. enum: [ridge, lasso]")
        return ()
    out: list = []
    for item in node.value:
        v = r.value(item)
        if typ == spec.STRING and _written_number(item):
            v = r.written(item)  # `enum: [1.10]` of a string param means the text written, as its default does
        elif typ == spec.NUMBER and spec.value_fits(v, spec.NUMBER):
            v = float(v)
        if not is_scalar(item) or not spec.value_fits(v, typ):
            r.error(
                item,
                f"{what} holds {v!r}, which is not {a(typ)}",
                f"give only values of type {typ}, or change the type",
            )
            continue
        if v in out:
            r.error(item, f"{what} holds {v!r} twice", "remove the repeated value")
            continue
        out.append(v)
    return tuple(out)


def enum_text(choices) -> str:
    """The allowed values as a hint shows them: ridge, lasso."""
    return ", ".join(spelled(c) for c in choices)


def _written_number(node: Node) -> bool:
    """A plain scalar that the Pipefile reads as a number (not a quoted one)."""
    return is_scalar(node) and not node.style and node.tag.rsplit(":", 1)[-1] in ("int", "float")


def _number_as_text(r: NodeReader, key: str, node: Node) -> str:
    """The default of a string param written as a number, as the text written (YAML would
    turn `1.10` into 1.1): accepted, with a warning that it reads as a number."""
    written = r.written(node)
    r.warn(
        node,
        f"param '{key}' is a string, and its default {written} is written as a number",
        f'it is used as the text "{written}"; quote it to say so: default: "{written}"',
    )
    return written


def _warn_quoted_number(r: NodeReader, key: str, node: Node, declared: str) -> None:
    """A quoted default that reads as a number makes a string param: `lr: "1e-3"` then takes
    `-p lr=abc`. Said once, where it is written; declaring the type says it is meant."""
    if is_scalar(node) and node.style in ("'", '"') and looks_numeric(node.value):
        r.warn(
            node,
            f"param '{key}' is a string, because its value \"{node.value}\" is quoted, but it reads as a number",
            f"for a number remove the quotes ({key}: {node.value}); to keep text, declare it: {declared}",
        )


def coerce_default(r: NodeReader, default: Any, typ: str, node: Optional[Node], what: str) -> Any:
    """The default as a value of `typ` (numbers as floats); MISSING when there is none or it does not fit."""
    if default is MISSING or default is None:
        return MISSING
    if typ == spec.NUMBER and spec.value_fits(default, spec.NUMBER):
        return float(default)
    if typ == spec.LIST and spec.value_fits(default, spec.LIST):
        return tuple(default)
    if not spec.value_fits(default, typ):
        hint = (
            f'quote it to make it text: default: "{r.written(node)}"'
            if typ == spec.STRING and node is not None and is_scalar(node) and not node.style
            else f"give a default that is {a(typ)}, or change the type"
        )
        r.error(node, f"default of {what} is {default!r}, which is not {a(typ)}", hint)
        return MISSING
    return default


def load_assets(r: NodeReader, node: Node) -> dict[str, spec.Asset]:
    out = {}
    declared = []
    for key, knode, vnode in r.mapping(node, "assets"):
        if not r.name_ok(key, knode, "asset"):
            continue
        declared.append(key)
        if is_scalar(vnode):
            p = r.path_value(vnode, f"asset '{key}'")
            if p:
                out[key] = spec.Asset(key, p, None, "", r.loc(knode))
            continue
        fields = r.fields(vnode, f"asset '{key}'", ASSET_KEYS)
        typ = r.type_name(fields["type"], spec.PATH_TYPES, f"asset '{key}'") if "type" in fields else None
        if "path" not in fields:
            r.error(vnode, f"asset '{key}' has no path", "add path: data/FILE")
            continue
        p = r.path_value(fields["path"], f"path of asset '{key}'")
        desc = r.description(fields)
        artifact = r.artifact_name(fields["name"], f"asset '{key}'") if "name" in fields else ""
        is_input = r.flag(fields["input"], f"'input' of asset '{key}'") if "input" in fields else False
        if p:
            out[key] = spec.Asset(key, p, typ, desc, r.loc(knode), artifact or "", is_input)
    r.broken.update(("asset", k) for k in declared if k not in out)
    return out


# --- components ---------------------------------------------------------------------------
def load_components(
    r: NodeReader, node: Node, params: Mapping[str, Param], environments: Mapping[str, spec.EnvSpec], skip=()
) -> dict[str, Component]:
    """`skip`: the names of pipeline components (`type: pipeline`: load/nested.py reads them)."""
    out = {}
    for key, knode, vnode in r.mapping(node, "components"):
        if key in skip or not r.name_ok(key, knode, "component"):
            continue
        comp = load_component(r, key, knode, vnode, params, environments)
        if comp is not None:
            out[key] = comp
    return out


def load_interface(r: NodeReader, fields: Mapping, what: str) -> tuple:
    """(input declarations, output declarations) of a component (a command's or a
    pipeline's), from its `inputs:` and `outputs:` fields (name -> (key node, value node))."""
    inputs = {}
    if "inputs" in fields:
        for iname, ikn, ivn in r.mapping(fields["inputs"][1], f"inputs of {what}"):
            if r.name_ok(iname, ikn, "input"):
                decl = load_input_decl(r, iname, ikn, ivn, what)
                if decl:
                    inputs[iname] = decl
    outputs = load_output_decls(r, fields["outputs"][1], what) if "outputs" in fields else {}
    return inputs, outputs


def load_component(
    r: NodeReader,
    key: str,
    knode: Node,
    vnode: Node,
    params: Mapping[str, Param],
    environments: Mapping[str, spec.EnvSpec],
) -> Optional[Component]:
    what = f"component '{key}'"
    fields = {k: (kn, vn) for k, kn, vn in r.mapping(vnode, what, COMPONENT_KEYS)}
    inputs, outputs = load_interface(r, fields, what)
    if "command" not in fields:
        r.error(vnode, f"{what} has no command", "add command: python src/script.py ...")
        return None
    command = load_command(r, fields["command"][1], what)
    if command is None:
        return None
    check_command_refs(r, fields["command"][1], command, what, inputs, outputs, params, in_component=True)
    code = load_code(r, fields["code"][1], what) if "code" in fields else ()
    resources = load_resources(r, fields["resources"][1], what) if "resources" in fields else Resources()
    desc = r.value(fields["description"][1]) if "description" in fields else ""
    env = environment_ref(r, fields["environment"][1], what, environments) if "environment" in fields else ""
    includes = load_key_includes(r, fields["key_includes"][1], what) if "key_includes" in fields else ()
    metrics = load_metric_outputs(r, fields["metrics"][1], what, outputs) if "metrics" in fields else ()
    return Component(
        key,
        command,
        inputs,
        outputs,
        code,
        resources,
        str(desc or ""),
        r.loc(knode),
        r.loc(fields["command"][1]),
        env or "",
        includes,
        metrics,
    )


def load_metric_outputs(r: NodeReader, node: Node, what: str, outputs: Mapping[str, OutputDecl]) -> tuple[str, ...]:
    """`metrics:` of a component: the names of those of its outputs that are metrics files."""
    nodes = node.value if is_sequence(node) else [node]
    out = []
    for n in nodes:
        name = r.string(n, f"metrics of {what}")
        if name is None:
            continue
        if name not in outputs:
            r.error(
                n,
                f"metrics of {what} names '{name}', which is not one of its outputs",
                did_you_mean(name, outputs, "output") if outputs else "declare it under outputs: first",
            )
            continue
        if outputs[name].type == spec.URI_FOLDER:
            r.error(n, f"metrics output '{name}' of {what} is a folder", "a metrics output is a JSON or YAML file")
            continue
        out.append(name)
    return tuple(dict.fromkeys(out))


def load_output_decls(r: NodeReader, node: Node, what: str) -> dict[str, OutputDecl]:
    outputs = {}
    for oname, okn, ovn in r.mapping(node, f"outputs of {what}"):
        if not r.name_ok(oname, okn, "output"):
            continue
        odesc = ""
        if is_scalar(ovn):
            t = r.type_name(ovn, spec.OUTPUT_TYPES, f"output '{oname}' of {what}")
        else:
            of = r.fields(ovn, f"output '{oname}' of {what}", OUTPUT_DECL_KEYS)
            t = r.type_name(of["type"], spec.OUTPUT_TYPES, f"output '{oname}'") if "type" in of else None
            odesc = r.description(of)
        outputs[oname] = OutputDecl(oname, t, odesc, r.loc(okn))
    return outputs


def load_input_decl(r: NodeReader, name: str, knode: Node, vnode: Node, what: str) -> Optional[InputDecl]:
    if is_scalar(vnode):
        t = r.type_name(vnode, spec.INPUT_TYPES, f"input '{name}' of {what}")
        return InputDecl(name, t, MISSING, False, "", r.loc(knode)) if t else None
    f = r.fields(vnode, f"input '{name}' of {what}", INPUT_DECL_KEYS)
    if "type" not in f:
        r.error(vnode, f"input '{name}' of {what} has no type", f"add type: one of {', '.join(spec.INPUT_TYPES)}")
        return None
    t = r.type_name(f["type"], spec.INPUT_TYPES, f"input '{name}' of {what}")
    if t is None:
        return None
    default: Any = MISSING
    if "default" in f:
        raw = r.value(f["default"])
        if t in spec.PATH_TYPES:
            if raw is not None:
                p = r.path_value(f["default"], f"default of input '{name}'")
                default = p if p else MISSING
        else:
            default = coerce_default(r, raw, t, f["default"], f"input '{name}' of {what}")
    optional = r.value(f["optional"]) if "optional" in f else False
    if not isinstance(optional, bool):
        r.error(f["optional"], "optional must be true or false", "write true or false")
        optional = False
    choices: tuple = ()
    if "enum" in f:
        said = len(r.errors)
        choices = load_enum(r, f["enum"], t, name, f"input '{name}' of {what}")
        if len(r.errors) > said:
            choices = ()  # (said: the values it holds would refuse good bindings as well)
        if choices and default is not MISSING and default not in choices:
            r.error(
                f["default"],
                f"default of input '{name}' of {what} is {quoted(default)}, which is not one of its enum values",
                f"give a default from enum: {enum_text(choices)}, or add {quoted(default)} to the enum",
            )
    decl = InputDecl(name, t, default, optional, r.description(f), r.loc(knode), choices)
    return load_bounds(r, f, t, name, what, decl)  # (min:, max:)


# --- what components and steps share ------------------------------------------------------
def load_command(r: NodeReader, node: Node, what: str) -> Optional[Command]:
    """A shell string or an argument list; None (reported) when it is neither."""
    if is_sequence(node):
        parts = []
        for item in node.value:
            s = r.value(item) if is_scalar(item) else None
            if not isinstance(s, str):
                # `[python, train.py, --epochs, 10]`: YAML reads 10 as a number, not text.
                quote = is_scalar(item) and s is not None
                r.error(
                    item,
                    f"each argument of the command of {what} must be a string, not {kind(item)}",
                    f'quote it: "{item.value}"' if quote else "give each argument as text",
                )
                return None
            parts.append(s)
        if not parts:
            r.error(node, f"the command of {what} is empty", COMMAND_HINT)
            return None
        return tuple(parts)
    if is_scalar(node):
        v = r.value(node)
        if isinstance(v, str) and v.strip():
            return v
        if isinstance(v, str) or v is None:  # (blank: it is text, only empty)
            r.error(node, f"the command of {what} is empty", COMMAND_HINT)
            return None
    r.error(node, f"the command of {what} must be a string or a list of arguments", COMMAND_HINT)
    return None


def check_command_refs(
    r: NodeReader,
    node: Node,
    command: Command,
    what: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    params: Mapping[str, Any],
    in_component: bool,
) -> None:
    """Every ${{...}} of the command names an input, output or param that exists, and an
    optional input of a component appears only inside $[[ ... ]]."""
    items = [(command, node)] if isinstance(command, str) else [(c, node.value[i]) for i, c in enumerate(command)]
    for text, n in items:
        bad = template.errors_of(text)  # (each, not only the first)
        for e in bad:
            r.error(n, f"in the command of {what}: {e.message}", e.hint, e.offset)
        found = () if bad else template.refs_of(text)
        for ref, optional in found:
            if ref.scope == "inputs":
                if ref.name not in inputs:
                    r.error(
                        n,
                        f"the command of {what} uses {ref}, but there is no input '{ref.name}'",
                        did_you_mean(ref.name, inputs, "input") if inputs else "declare it under inputs:",
                        ref.offset,
                    )
                elif not optional:
                    decl = inputs[ref.name]
                    if isinstance(decl, InputDecl) and decl.optional and decl.default is MISSING and in_component:
                        r.error(
                            n,
                            f"optional input '{ref.name}' of {what} is used outside $[[ ... ]]",
                            f"wrap it so it disappears when unset: $[[--{ref.name} {ref}]]",
                            ref.offset,
                        )
            elif ref.scope == "outputs":
                if ref.name not in outputs:
                    r.error(
                        n,
                        f"the command of {what} uses {ref}, but there is no output '{ref.name}'",
                        did_you_mean(ref.name, outputs, "output") if outputs else "declare it under outputs:",
                        ref.offset,
                    )
            elif ref.scope == "params":
                if ref.name not in params and ("param", ref.name) not in r.broken:
                    r.error(
                        n,
                        f"the command of {what} uses {ref}, but there is no param '{ref.name}'",
                        did_you_mean(ref.name, params, "param")
                        if params
                        else "declare it under params: at the top of the Pipefile",
                        ref.offset,
                    )
            else:
                r.error(
                    n,
                    f"the command of {what} cannot use {ref} directly",
                    f'bind it to an input of the step and use ${{{{inputs.NAME}}}}: inputs: {{x: "{ref}"}}',
                    ref.offset,
                )


def load_code(r: NodeReader, node: Node, what: str) -> tuple[CodeRef, ...]:
    nodes = node.value if is_sequence(node) else [node]
    out = []
    for n in nodes:
        p = r.path_value(n, f"code of {what}")
        if p:
            out.append(CodeRef(p, r.loc(n)))
    return tuple(out)


def load_resources(r: NodeReader, node: Node, what: str) -> Resources:
    f = r.fields(node, f"resources of {what}", RESOURCE_KEYS)
    cpus, memory, gpus = 1.0, 0, 0
    if "gpus" in f:
        v = r.value(f["gpus"])
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            r.error(
                f["gpus"],
                f"gpus of {what} must be a whole number of devices (0 or more), not {v!r}",
                "e.g. gpus: 1; a step gets whole GPUs, never a share of one",
            )
        else:
            gpus = v
    if "cpus" in f:
        v = r.value(f["cpus"])
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:  # (.nan, .inf too)
            r.error(f["cpus"], f"cpus of {what} must be a positive number, not {v!r}", "e.g. cpus: 2 (or 0.5)")
        else:
            cpus = float(v)
    if "memory" in f:
        size = parse_size(r.value(f["memory"]))
        if size is None:
            r.error(f["memory"], f"memory of {what} is not a size", "write it like 512MB, 4GB or 2GiB")
        else:
            memory = size
    custom = load_custom_resources(r, f["custom"], what) if "custom" in f else ()
    return Resources(cpus, memory, gpus, custom)


def load_key_includes(r: NodeReader, node: Node, what: str) -> tuple[str, ...]:
    out = []
    for item in r.string_list(node, f"key_includes of {what}", f"a list of: {', '.join(spec.KEY_INCLUDES)}"):
        if item not in spec.KEY_INCLUDES:
            r.error(
                node, f"key_includes of {what}: unknown item '{item}'", did_you_mean(item, spec.KEY_INCLUDES, "item")
            )
            continue
        out.append(item)
    return tuple(dict.fromkeys(out))
