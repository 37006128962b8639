"""The edit operations on steps and their connections: add_step, delete_step, rename_step,
connect, disconnect, bind_asset, promote.

A connection is an input bound to `${{steps.FROM.outputs.OUT}}`; which steps read which is
read from the data (every `${{steps.NAME...}}` in a step), so a deletion is refused while
a step still reads the one deleted, and a connection that would close a cycle is refused.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Iterator

from ..errors import PipefileError, did_you_mean
from ..load import stdlib
from . import render
from .editor import Editor
from .errors import EditError
from .ops import (
    VALUE_TYPES,
    arg,
    component_inputs,
    component_outputs,
    is_binding,
    name_arg,
    set_input,
    set_param,
    shown,
    typed,
)
from .tree import ALIAS, MAP, SCALAR, line_end, line_no, line_start


def _refs(old: str) -> re.Pattern:
    # `steps.OLD` inside ${{ }}, followed by `.` (outputs) or `[` (a task of an expanded step)
    return re.compile(r"(\$\{\{[^}]*?\bsteps\.)" + re.escape(old) + r"(?=[.\[])")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


_ANY_STEP = re.compile(r"\$\{\{[^}]*?\bsteps\.([A-Za-z_][A-Za-z0-9_\-]*)(?=[.\[])")


def _reads(ed: Editor) -> dict:
    """{step: the steps it reads}, from every `${{steps.NAME...}}` in it."""
    steps = ed.data.get("steps") or {}
    return {s: {m for t in _strings(body) for m in _ANY_STEP.findall(t)} for s, body in steps.items()}


def readers(ed: Editor, name: str) -> list:
    """The other steps that read step `name`'s outputs: by `${{steps.NAME...}}`, or by a
    plain path that is one of its output paths, lies inside one or holds one (as pipe links
    steps: docs/pipefile.md, "How steps are linked")."""
    steps = ed.data.get("steps") or {}
    made = _plain_paths((steps.get(name) or {}).get("outputs"))
    return [
        s for s, read in _reads(ed).items() if s != name and (name in read or (made and _by_path(steps.get(s), made)))
    ]


def _plain_paths(section: Any) -> list:
    """The literal paths of an inputs/outputs mapping or a code list (a `path:` of the long
    form too), normalised; bindings and values that are not text left out."""
    if isinstance(section, dict):
        values = [v.get("path") if isinstance(v, dict) else v for v in section.values()]
    else:
        values = section if isinstance(section, list) else [section]
    out = []
    for v in values:
        if isinstance(v, str) and v.strip() and "${{" not in v:
            p = posixpath.normpath(v.strip())
            out.append("" if p == "." else p)
    return out


def _by_path(body: Any, made: list) -> bool:
    if not isinstance(body, dict):
        return False
    for p in _plain_paths(body.get("inputs")) + _plain_paths(body.get("code")):
        for o in made:
            if p == o or p.startswith(o + "/") or o.startswith(p + "/") or not p:
                return True
    return False


def _upstream(ed: Editor, name: str) -> set:
    """Every step that `name` reads, directly or through others."""
    reads = _reads(ed)
    seen: set = set()
    todo = [name]
    while todo:
        for other in reads.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _port(op: dict, key: str, port: str) -> tuple:
    end = arg(op, key, dict)
    step, name = end.get("step"), end.get(port)
    if not isinstance(step, str) or not isinstance(name, str):
        raise EditError(f'\'{key}\' must be {{"step": STEP, "{port}": NAME}}', hint=f"name the step and its {port}")
    return step, name


# --- connections ------------------------------------------------------------------------------
def connect(ed: Editor, op: dict) -> None:
    src, out = _port(op, "from", "output")
    dst, inp = _port(op, "to", "input")
    sk, sv = ed.step(src)
    ed.step(dst)
    outputs = (ed.data["steps"][src] or {}).get("outputs") or {}
    if isinstance(outputs, dict) and out not in outputs:
        raise ed.fail(
            sk,
            f"step '{src}' has no output '{out}'",
            did_you_mean(out, outputs, "output") or f"give step '{src}' the output first (outputs: {{{out}: PATH}})",
        )
    if src == dst or dst in _upstream(ed, src):
        raise ed.fail(
            sk,
            f"connecting step '{src}' to step '{dst}' would close a cycle: '{src}' already reads '{dst}'",
            "a step cannot read its own outputs; connect to another step",
        )
    set_input(ed, dst, inp, "${{steps.%s.outputs.%s}}" % (src, out))


def disconnect(ed: Editor, op: dict) -> None:
    dst, inp = _port(op, "to", "input")
    sk, sv = ed.step(dst)
    body = ed.data["steps"][dst] or {}
    if inp not in (body.get("inputs") or {}) and inp not in (body.get("params") or {}):
        raise ed.fail(
            sk,
            f"input '{inp}' of step '{dst}' is not bound",
            did_you_mean(inp, body.get("inputs") or {})
            or f"step '{dst}' binds no inputs: there is nothing to disconnect",
        )
    set_input(ed, dst, inp, None, params=inp not in (body.get("inputs") or {}))


def bind_asset(ed: Editor, op: dict) -> None:
    asset = arg(op, "asset")
    dst, inp = _port(op, "to", "input")
    assets = ed.data.get("assets") or {}
    if asset not in assets:
        k, v = ed.find(["assets"])
        raise ed.fail(
            v, f"there is no asset '{asset}'", did_you_mean(asset, assets, "asset") or "declare it under assets:"
        )
    set_input(ed, dst, inp, "${{assets.%s}}" % asset)


def promote(ed: Editor, op: dict) -> None:
    step = arg(op, "step")
    field = arg(op, "field")
    param = name_arg(op, "param", "param")
    sk, sv = ed.step(step)
    body = ed.data["steps"][step] or {}
    head, _, name = field.partition(".")
    section = "params" if head == "params" and isinstance(body.get("params"), dict) else "inputs"
    values = body.get(section) or {}
    if head not in ("params", "inputs") or not name or name not in values:
        raise ed.fail(
            sk,
            f"step '{step}' has no {field} to promote",
            (did_you_mean(field, [f"inputs.{k}" for k in values]) if head in ("params", "inputs") else None)
            or "promote an input or param the step gives a value: inputs.NAME or params.NAME",
        )
    value = values[name]
    if isinstance(value, dict):
        value = value.get("value", value.get("path"))
    if value is None or is_binding(value) or isinstance(value, (dict, list)):
        raise ed.fail(
            sk, f"{field} of step '{step}' is not a value to promote ({shown(value)})", "promote a literal value"
        )
    params = ed.data.get("params") or {}
    if param in params:
        current = params[param].get("default") if isinstance(params[param], dict) else params[param]
        if render.canon(current) != render.canon(value):
            raise ed.fail(
                ed.find(["params", param])[0],
                f"there is a param '{param}' already, with another value ({current!r})",
                "choose another name for the new param",
            )
    else:
        set_param(ed, {"name": param, "value": value})
    set_input(ed, step, name, "${{params.%s}}" % param, params=section == "params")


# --- steps ------------------------------------------------------------------------------------
def _free_name(ed: Editor, op: dict, key: str) -> str:
    name = name_arg(op, key, "step")
    steps = ed.steps()
    k, _ = steps.get(name)
    if k is not None:
        raise ed.fail(k, f"there is a step '{name}' already", f"choose another name, e.g. {name}_2")
    return name


def add_step(ed: Editor, op: dict) -> None:
    name = _free_name(ed, op, "name")
    comp = arg(op, "component", optional=True)
    command = arg(op, "command", optional=True)
    if (comp is None) == (command is None):
        raise EditError(
            "a new step needs a component or a command (one of them)",
            hint='give "component": "std/NAME@1" or "command": "python ..."',
        )
    body: dict = {"component": comp} if comp is not None else {"command": command}
    inputs = dict(arg(op, "inputs", dict, optional=True) or {})
    # A Pipefile step binds a component's params as inputs (docs/pipefile.md).
    inputs.update(arg(op, "params", dict, optional=True) or {})
    outputs = arg(op, "outputs", dict, optional=True) or {}
    for what, section in (("input", inputs), ("output", outputs)):
        for k in section:
            if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", k):
                raise EditError(f"'{k}' is not a valid {what} name", hint="use letters, digits, '_' and '-'")
    for k, v in outputs.items():
        if not isinstance(v, str):
            raise EditError(f"the path of output '{k}' must be text, not {v!r}", hint="give a path: build/out.csv")
    if comp is not None:
        inputs = _component_inputs_checked(ed, comp, inputs)
        # Every output of a component step needs a path (pipe validate refuses one without):
        # one not given is written where validate's hint says, so a step dropped from the
        # designer's library is whole at once.
        declared = {o: outputs.get(o, f"build/{name}/{o}") for o in component_outputs(ed, comp)}
        outputs = {**declared, **outputs}  # (in the component's order)
    if inputs:
        body["inputs"] = inputs
    if outputs:
        body["outputs"] = outputs
    steps = ed.steps()
    items = steps.pairs()
    if steps.flow or not items:
        ed.add_entry(steps, name, body)
    else:
        d = ed.doc
        lines = ed.lines({name: body}, d.column(items[0][0]))
        if len(items) > 1 and _blank_before(ed, items[-1][0]):
            lines.insert(0, "")  # the file keeps a blank line between steps
        d.insert_lines(_step_end(ed, *items[-1]), lines)
    ed.data["steps"][name] = body


def _component_inputs_checked(ed: Editor, comp: str, inputs: dict) -> dict:
    """The inputs of a new step of component `comp`: names it declares, values of their types."""
    decls = component_inputs(ed, comp)
    if decls is None and comp.startswith("std/"):
        try:
            stdlib.library().resolve(comp)
        except PipefileError as e:  # what `pipe validate` would say of it
            raise EditError(e.message, hint=e.hint) from None
    if decls is None:
        own = ed.data.get("components") or {}
        raise EditError(
            f"there is no component '{comp}'",
            hint=did_you_mean(comp, own, "component")
            if own and not comp.startswith("std/")
            else "name a component of the Pipefile, or std/NAME@MAJOR (pipe components list shows them)",
        )
    out = {}
    for k, v in inputs.items():
        if k not in decls:
            raise EditError(f"component '{comp}' has no input '{k}'", hint=did_you_mean(k, decls, "input"))
        if v is not None and not is_binding(v) and decls[k] in VALUE_TYPES:
            v = typed(ed, None, v, decls[k], f"input '{k}' of component '{comp}'")
        out[k] = v
    return out


def _blank_before(ed: Editor, key) -> bool:
    start = _comments_above(ed, key)
    if start == 0:
        return False
    prev = line_start(ed.text, start - 1)
    return not ed.text[prev:start].strip()


def _comments_above(ed: Editor, key) -> int:
    """The start of the comment lines right above a step's key, at its indentation: they belong to it."""
    col = ed.doc.column(key)
    pos = line_start(ed.text, key.start)
    while pos > 0:
        prev = line_start(ed.text, pos - 1)
        line = ed.text[prev:pos]
        if not (line.lstrip().startswith("#") and len(line) - len(line.lstrip()) == col):
            break
        pos = prev
    return pos


def delete_step(ed: Editor, op: dict) -> None:
    name = arg(op, "name")
    k, v = ed.step(name)
    users = readers(ed, name)
    if users:
        lines = {s: line_no(ed.text, ed.step(s)[0].start) for s in users}
        raise ed.fail(
            k,
            f"step '{name}' is read by " + ", ".join(f"step '{s}' (line {n})" for s, n in lines.items()),
            "disconnect their inputs from it first (or delete those steps first)",
        )
    anchors = {n.anchor: n for n in v.walk() if n.anchor}
    for n in ed.root().walk():
        if n.kind == ALIAS and n.value in anchors and not v.start <= n.start < v.end:
            raise ed.fail(
                anchors[n.value],
                f"step '{name}' holds the anchor &{n.value}, which line {line_no(ed.text, n.start)} uses (*{n.value})",
                f"write the value out in place of *{n.value} first, then delete the step",
            )
    steps = ed.steps()
    if len(steps.pairs()) == 1:
        raise ed.fail(k, f"step '{name}' is the only step, and a Pipefile needs one", "add another step first")
    if steps.flow:
        ed.remove_entry(steps, k, v)
    else:
        text = ed.text
        start = _comments_above(ed, k)
        stop = _step_end(ed, k, v)
        first = steps.pairs()[0][0] is k
        if start > 0 and not text[line_start(text, start - 1) : start].strip():
            start = line_start(text, start - 1)  # with the blank line that set it apart
        elif first and stop < len(text) and not text[stop : line_end(text, stop)].strip():
            stop = line_end(text, stop)
        ed.doc.remove_lines(start, stop)
    del ed.data["steps"][name]


def _step_end(ed: Editor, k, v) -> int:
    """Just past a block step's lines: its value, then the comment lines indented into the
    step after its last value (its own: deleted with it, and a step added after it goes below them)."""
    text = ed.text
    stop = ed.doc.stop(v)
    col = ed.doc.column(k)
    while stop < len(text):
        line = text[stop : line_end(text, stop)]
        if not line.lstrip().startswith("#") or len(line) - len(line.lstrip()) <= col:
            break
        stop = line_end(text, stop)
    return stop


def rename_step(ed: Editor, op: dict) -> None:
    name = arg(op, "name")
    k, _ = ed.step(name)
    if op.get("to") == name:
        return  # (renamed to its own name, as the page's rename field left as it was: nothing to do)
    to = _free_name(ed, op, "to")
    _move_default_outputs(ed, name, to)
    ed.doc.splice(k.vstart, k.end, render.key(to))
    pattern = _refs(name)
    # `steps.NAME` under components: names an inner step of a pipeline component (its own
    # steps, which may share the name), never this one: left as it is.
    _, inner = ed.root().get("components")
    skip = (inner.start, inner.end) if inner is not None else (0, 0)
    for n in ed.root().walk():
        if n.kind == SCALAR and pattern.search(n.value) and not skip[0] <= n.start < skip[1]:
            ed.doc.splice(n.vstart, n.cend, pattern.sub(lambda m: m.group(1) + to, ed.text[n.vstart : n.cend]))
    ed.data = {k: (v if k == "components" else _renamed(v, pattern, to)) for k, v in ed.data.items()}
    ed.data["steps"] = {(to if s == name else s): body for s, body in ed.data["steps"].items()}


def _mentions(name: str) -> re.Pattern:
    # `build/NAME` as a whole step name (build/prep, build/prep/x; not build/prep2)
    return re.compile(r"(?<![A-Za-z0-9_\-])build/" + re.escape(name) + r"(?![A-Za-z0-9_\-])")


def _move_default_outputs(ed: Editor, name: str, to: str) -> None:
    """A renamed step's outputs at the path the editor writes for them (build/OLD/OUTPUT, as
    add_step and `pipe validate`'s hint do) follow it to build/NEW/OUTPUT: the outputs belong
    to the step, as in Azure ML's designer, and a folder named after a step it no longer is
    misleads. A path written otherwise is the user's and stays; so does every one when the
    Pipefile names build/OLD anywhere else (a plain-path input, a command, the code: moving
    it would break that link) or already names build/NEW."""
    _, v = ed.step(name)
    data = ed.data["steps"].get(name)
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if v is None or v.kind != MAP or not isinstance(outputs, dict):
        return
    _, node = v.get("outputs")
    if node is None or node.kind != MAP or (node.anchor and node.anchor in ed.used_anchors):
        return
    moves = []
    for ok, ov in node.pairs():
        out = ok.value if ok.kind == SCALAR else None
        value = outputs.get(out) if isinstance(out, str) else None
        keys = [out]
        if ov.kind == MAP and isinstance(value, dict):
            keys, (_, ov), value = [out, "path"], ov.get("path"), value.get("path")
        if ov is None or ov.kind != SCALAR or (ov.anchor and ov.anchor in ed.used_anchors):
            continue
        if isinstance(value, str) and value.rstrip("/") == f"build/{name}/{out}":
            moves.append((keys, ov, f"build/{to}/{out}" + value[len(value.rstrip("/")) :]))
    if not moves:
        return
    old, new = _mentions(name), _mentions(to)
    others = [t for t in _strings(_without(ed.data, name, [m[0] for m in moves])) if old.search(t)]
    if others or any(new.search(t) for t in _strings(ed.data)):
        return
    for keys, ov, path in moves:
        ed.doc.replace_scalar(ov, path)
        where = outputs
        for key in keys[:-1]:
            where = where[key]
        where[keys[-1]] = path


def _without(data: dict, step: str, keys: list) -> dict:
    """The Pipefile's data less the output paths of `step` at `keys` (what else names them)."""
    body = dict(data["steps"][step])
    outputs = render.unshared(body["outputs"])
    for path in keys:
        where = outputs
        for key in path[:-1]:
            where = where[key]
        del where[path[-1]]
    body["outputs"] = outputs
    return {**data, "steps": {**data["steps"], step: body}}


def _renamed(value: Any, pattern: re.Pattern, to: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda m: m.group(1) + to, value)
    if isinstance(value, dict):
        return {k: _renamed(v, pattern, to) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, pattern, to) for v in value]
    return value
