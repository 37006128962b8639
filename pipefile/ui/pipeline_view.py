"""The Pipefile as the designer draws it (`GET /api/pipeline`): loaded and planned as
`pipe status` does (a read-only session; the local plan, no remote asked), each step a
node with the planner's state and reasons as `pipe status` words them. Expanded steps
(matrix, sweep, foreach) are one `group` node with their tasks as children; steps named
`STEP/INNER` (a nested pipeline) hang under a `pipeline` node `STEP`.

A Pipefile that does not load is still answered: `ok: false`, its located errors, no graph."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Optional

from .. import spec
from ..errors import PipefileError
from .errors_view import errors_json

_PIPELINE = "pipeline"  # the kind of graph group a step using a pipeline component is
_WORST = ("run", "pending", "restore", "fresh", "stopped", "unknown")  # a group's state: its most urgent task's


def gc_paused():
    """The cyclic GC off while a large Pipefile's objects are made (a page's pipeline, an
    edit's preview): with the trees this server keeps (graphs, the editor's readings) each
    collection walked hundreds of thousands of objects again and again (0.8 of a 10,000-step
    preview's 2.4 s of validation; 1.5 of a reload's 2 s after a few previews). What they
    make lives on, or is let go by reference counts; the GC runs again after. The loader's
    pause, counted across the server's threads: one thread's end of it (an edit read in the
    background) turned the GC on under another's page load."""
    from ..load.document import gc_paused as paused

    return paused()


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def binding_text(b: spec.Binding) -> Any:
    """An input's binding as the Pipefile writes it."""
    if b.kind == spec.BIND_ASSET:
        return "${{assets.%s}}" % b.ref
    if b.kind == spec.BIND_STEP_OUTPUT:
        return "${{steps.%s.outputs.%s}}" % (b.ref, b.output)
    if b.kind == spec.BIND_PARAM:
        return "${{params.%s}}" % b.ref
    if b.kind == spec.BIND_ARTIFACT:
        return "${{artifacts.%s%s}}" % (b.ref, f":{b.version}" if b.version else "")
    if b.kind == spec.BIND_PATH:
        return b.ref
    if b.kind == spec.BIND_NONE:
        return None
    return b.value


def _plain(value: Any) -> Any:
    """A value JSON can carry (a tuple of a matrix value becomes a list)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is spec.MISSING:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def params_json(pf: spec.Pipefile, values: Optional[dict] = None) -> list:
    values = values or {}
    return [
        {
            "name": p.name,
            "type": p.type,
            "default": _plain(p.default),
            "value": _plain(values.get(p.name, p.default)),
            "description": p.description or None,
            "enum": _plain(p.enum) if p.enum else None,
            "line": p.loc.line or None,
        }
        for p in pf.params.values()
    ]


def resources_json(r: spec.Resources) -> dict:
    out = {"cpus": r.cpus, "memory": r.memory, "gpus": r.gpus}
    for item in r.custom:
        if isinstance(item, tuple) and len(item) == 2:
            out[str(item[0])] = _plain(item[1])
    return out


_NAMED = (spec.BIND_STEP_OUTPUT, spec.BIND_ASSET, spec.BIND_PARAM, spec.BIND_ARTIFACT)


def step_node(step: spec.Step, params: dict, decision=None, declared: Optional[spec.Step] = None) -> dict:
    """One step (or task) as a node; `decision`: the planner's, when there is a plan;
    `declared`: the step as the Pipefile declares it (a task's expanded step), whose
    `${{...}}` bindings are shown rather than the paths they became."""
    from ..report.reasons import reason_text

    decls = step.input_decls
    said = declared.inputs if declared is not None else {}

    def shown(name, b):
        d = said.get(name)
        return binding_text(d if d is not None and d.kind in _NAMED else b)

    inputs = [
        {
            "name": name,
            "type": (decls[name].type if name in decls else None) or b.type,
            "optional": bool(decls[name].optional) if name in decls else False,
            "binding": _plain(shown(name, b)),
        }
        for name, b in step.inputs.items()
    ]
    for name, d in decls.items():  # declared by the component, left unbound
        if name not in step.inputs:
            inputs.append({"name": name, "type": d.type, "optional": bool(d.optional), "binding": None})
    return {
        "name": step.name,
        "kind": "step",
        "label": label_of(step.name),
        "component": step.component or None,
        "description": step.description or None,
        "inputs": inputs,
        "outputs": [{"name": o.name, "type": o.type, "path": o.path} for o in step.outputs.values()],
        "params": {k: _plain(v) for k, v in params.items()},
        "environment": step.environment or None,
        "resources": resources_json(step.resources),
        "state": decision.verdict.value if decision is not None else "unknown",
        "reasons": [reason_text(r) for r in decision.reasons] if decision is not None else [],
        "tasks": None,
        "children": None,
        "group": step.group or None,
        "line": step.loc.line or None,
    }


def _counts(nodes: list) -> dict:
    counts: dict = {}
    for n in nodes:
        counts[n["state"]] = counts.get(n["state"], 0) + 1
    return counts


def _container(name: str, kind: str, children: list, like: Optional[dict]) -> dict:
    counts = _counts(children)
    state = next((s for s in _WORST if s in counts), "unknown")
    base = dict(like) if like else step_node(spec.Step(name, "", {}, {}, {}), {})
    base.update(
        name=name,
        kind=kind,
        label=label_of(name),
        state=state,
        reasons=[
            # a group's members are its step's tasks, a pipeline's its inner steps (docs/concepts.md)
            f"{len(children)} {'step' if kind == _PIPELINE else 'task'}{'s' if len(children) != 1 else ''}: "
            + ", ".join(f"{k} {v}" for v, k in sorted(counts.items(), key=lambda kv: _WORST.index(kv[0])))
        ],
        tasks={"count": len(children), "states": counts},  # a pipeline: its steps, as `pipe status` counts them
        children=[c["name"] for c in children],
        group=None,
    )
    return base


def graph_json(graph, decisions: Optional[dict] = None) -> dict:
    """The nodes and edges of a built graph; `decisions`: step -> Decision (None: no plan)."""
    decisions = decisions or {}
    nodes: dict = {}
    task_of: dict = {}  # task -> its group's name
    # a nested pipeline's steps are steps (with their own edges), hung under it below
    expansions = {k: g for k, g in (graph.groups or {}).items() if g.kind != _PIPELINE}
    for g in expansions.values():
        for t in g.tasks:
            task_of[t] = g.name
    declared = graph.pipefile.steps
    for name, node in graph.nodes.items():
        n = step_node(node.step, dict(node.params), decisions.get(name), declared.get(task_of.get(name, name)))
        if name in task_of:
            n["group"] = task_of[name]
        nodes[name] = n
    out: list = []
    # expanded steps: one group node, placed where its first task is, then its tasks
    placed: set = set()
    for n in nodes.values():
        gname = n.get("group")
        if gname and gname not in placed and gname in expansions:
            placed.add(gname)
            g = expansions[gname]
            kids = [nodes[t] for t in g.tasks if t in nodes]
            like = dict(kids[0]) if kids else None
            group = _container(gname, "group", kids, like)
            _group_as_declared(group, g)
            group["line"] = g.loc.line if g.loc is not None and getattr(g.loc, "line", 0) else group["line"]
            out.append(group)
        out.append(n)
    _nest_pipelines(out)
    for n in out:
        if n["kind"] == "pipeline" and n["name"] in (graph.pipefile.pipelines or {}):
            _as_declared(n, graph.pipefile.pipelines[n["name"]])
    edges = _edges(graph, task_of, expansions)
    return {"nodes": out, "edges": edges}


_SHOWN_VALUES = 10  # an axis's values a group node lists (a foreach may have thousands)


def _group_as_declared(node: dict, g) -> None:
    """A group node shows its step, not its first task: an input its tasks vary (a matrix
    axis, a sweep's search, a foreach item) as the values they take, an output as the path
    its tasks' outputs are gathered in (not `build/model/lr=0.1`)."""
    seen: dict = {}
    for combo in g.values or ():
        for axis, value in combo:
            if g.kind == "foreach" and isinstance(value, (tuple, list)) and value:  # (its path, its type)
                value = value[0]
            seen.setdefault(axis, {}).setdefault(repr(value), value)
    for port in node.get("inputs") or ():
        values = seen.get(port["name"])
        if values:
            shown = ", ".join(str(_plain(v)) for v in list(values.values())[:_SHOWN_VALUES])
            more = f", ... ({len(values)} values)" if len(values) > _SHOWN_VALUES else ""
            port["binding"] = f"{g.kind}: {shown}{more}"
    gathered = g.outputs or {}
    node["outputs"] = [dict(o, path=gathered.get(o["name"], o["path"])) for o in node.get("outputs") or ()]
    node["params"] = {k: v for k, v in (node.get("params") or {}).items() if k not in seen}


def _as_declared(node: dict, use) -> None:
    """A pipeline step's node shows what the Pipefile says of it (its pipeline component,
    the inputs it binds, the outputs), as the properties pane needs."""
    comp = use.pipeline
    inputs = [
        {
            "name": name,
            "type": d.type,
            "optional": bool(d.optional),
            "binding": _plain(binding_text(use.inputs[name])) if name in use.inputs else None,
        }
        for name, d in comp.inputs.items()
    ]
    outputs = [
        {"name": name, "type": d.type, "path": use.outputs[name].path if name in use.outputs else None}
        for name, d in comp.outputs.items()
    ]
    node.update(component=comp.name or None, description=use.description or comp.description or None)
    node.update(inputs=inputs, outputs=outputs)
    node["line"] = (use.loc.line if use.loc is not None else None) or node.get("line")


def parent_of(name: str):
    """`OUTER` of a nested step `OUTER/INNER` (the last `/` outside a task's `[...]`
    label, which may hold a path), or None."""
    if "/" not in name:  # (most names: asked of every node of a big job, twice)
        return None
    depth, cut = 0, -1
    for k, c in enumerate(name):
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == "/" and depth == 0:
            cut = k
    return name[:cut] if cut > 0 else None


def label_of(name: str) -> str:
    """A node's name inside its nested pipeline (INNER of OUTER/INNER)."""
    outer = parent_of(name)
    return name[len(outer) + 1 :] if outer else name


def _nest_pipelines(nodes: list) -> None:
    """Steps named `STEP/INNER` (nested pipelines, any depth): a `pipeline` node `STEP`
    (added, unless a node of that name exists) with its members as `children`, each
    member carrying `group`. A task keeps its expanded step as its group."""
    by_name = {n["name"]: n for n in nodes}
    outers: set = set()
    for n in nodes:
        p = parent_of(n["name"])
        while p is not None:
            outers.add(p)
            p = parent_of(p)
    for outer in sorted(outers, key=lambda o: -o.count("/")):  # innermost first: counts roll up
        members = [n for n in nodes if n["name"] != outer and not n.get("group") and parent_of(n["name"]) == outer]
        for n in members:
            n["group"] = outer
        if outer in by_name:
            by_name[outer]["children"] = [n["name"] for n in members]
            continue
        node = _container(outer, "pipeline", members, None)
        node["line"] = min((n["line"] for n in members if n.get("line")), default=None)
        nodes.insert(min(nodes.index(m) for m in members), node)
        by_name[outer] = node


def _edges(graph, task_of: dict, expansions: dict) -> list:
    """An edge per input that reads another step's output, with both ports (an expanded
    step's gathered output is its group's); a dependency found otherwise (a path inside
    another's output) is an edge with null ports, from the group when the writer is a task."""
    from ..bindings import IN_PATH

    owner = {path: (task_of.get(step, step), out) for path, (step, out) in graph.producers.items()}
    for g in expansions.values():
        for out, path in g.outputs.items():
            owner[path.rstrip("/")] = (g.name, out)
    edges, seen = [], set()
    for name, node in graph.nodes.items():
        linked = set()
        for iname, i in node.inputs.items():
            found = owner.get(i.path.rstrip("/")) if i.kind == IN_PATH else None
            if found is None or found[0] == task_of.get(name, name):
                continue
            key = (found[0], found[1], name, iname)
            if key not in seen:
                seen.add(key)
                edges.append({"from": found[0], "from_port": found[1], "to": name, "to_port": iname})
            linked.add(found[0])
        for dep in node.deps:
            src = task_of.get(dep, dep)
            if src in linked or src == task_of.get(name, name):
                continue
            key = (src, None, name, None)
            if key not in seen:
                seen.add(key)
                edges.append({"from": src, "from_port": None, "to": name, "to_port": None})
    return edges


def dumps(doc: Any, default: Optional[Callable[[Any], Any]] = None) -> str:
    """The JSON text of an answer. JSON has no NaN or infinity, which a Pipefile can hold (a
    param `x: .nan`) and a job can record: such a float is written as the text pipe prints
    for it ("nan", "inf", "-inf"), as a previewed table's cell is, not a 500. The walk that
    finds them is paid only by an answer that has one. `default`: json.dumps's, for a value
    json cannot write."""
    try:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default)
    except ValueError:
        from ..report.text import finite

        return json.dumps(finite(doc), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default)


class GraphCache:
    """The last graph built, kept by the Pipefile's bytes: a page reloaded after a run
    (the file unchanged) is not loaded again. As the spec cache does: never for a Pipefile
    that binds artifact versions or maps a folder (those are read anew each time), nor for
    a Python pipeline, and the sources are checked again (a deleted input file shows)."""

    def __init__(self):
        self._kept: tuple = (None, None)  # (digest, graph), replaced whole: requests run on threads
        self._offered: tuple = (None, None)  # the graph of an edit's text, built by its preview

    def get(self, path: str, digest: str):
        from .. import graph as graph_mod
        from ..load.pymodule import is_module_ref
        from ..speccache import sources_unchanged

        if is_module_ref(path):
            # (a Python pipeline: what it builds is known only by running it, its imports
            # included, and its file's bytes say nothing of those; as `pipe run`, never kept)
            return load_graph(path)
        for key, graph in (self._kept, self._offered):
            if key == digest and graph is not None and sources_unchanged(graph.pipefile):
                if not graph_mod.source_errors(graph):
                    self._kept = (key, graph)
                    return graph
        graph = load_graph(path)
        self._kept = (digest, graph) if keepable(graph) else (None, None)
        return graph

    def valid(self, digest: str) -> bool:
        """Whether the text of sha256 `digest` is one whose graph is kept here (it loaded and
        built without an error) and the files it reads still back it: `pipe validate` would
        find nothing in it, so a preview of it need not ask again."""
        from .. import graph as graph_mod
        from ..speccache import sources_unchanged

        for key, graph in (self._kept, self._offered):
            if key == digest and graph is not None and sources_unchanged(graph.pipefile):
                return not graph_mod.source_errors(graph)
        return False

    def offer(self, digest: str, graph) -> None:
        """The graph of a text with sha256 `digest`, built as `load_graph` builds it (an
        edit's preview validates its text so): when that text is saved, the page's reload
        draws it without loading a large Pipefile again."""
        if keepable(graph):
            self._offered = (digest, graph)


def keepable(graph) -> bool:
    """Whether a graph may be kept and used again while its sources are unchanged."""
    mapped = any(g.kind == spec.EXPAND_FOREACH for g in graph.groups.values())
    return not graph.artifacts and not mapped


def pipeline_view(path: str, cache: Optional[GraphCache] = None) -> dict:
    """The whole answer of `GET /api/pipeline` for the Pipefile at `path`."""
    with gc_paused():
        return _pipeline_view(path, cache)


def _pipeline_view(path: str, cache: Optional[GraphCache]) -> dict:
    from .. import load as loader

    display = os.path.basename(path)
    try:
        data = loader.read_bytes(path)
    except PipefileError as e:
        return _failed(display, b"", [e])
    doc = {
        "file": display,
        "digest": file_digest(data),
        "text": data.decode("utf-8", "replace"),
        "ok": True,
        "errors": [],
        "params": [],
        "graph": None,
    }
    try:
        graph = cache.get(path, doc["digest"]) if cache is not None else load_graph(path)
    except PipefileError as e:
        doc.update(ok=False, errors=errors_json(e), params=_lenient_params(path))
        return doc
    doc["params"] = params_json(graph.pipefile, dict(graph.params))
    decisions = None
    try:
        decisions = plan(graph).decisions
    except PipefileError as e:  # the graph is drawn; what keeps it from being planned is said
        doc["errors"] = errors_json(e)
    doc["graph"] = graph_json(graph, decisions)
    return doc


def _failed(display: str, data: bytes, errors: list) -> dict:
    return {
        "file": display,
        "digest": file_digest(data),
        "text": data.decode("utf-8", "replace"),
        "ok": False,
        "errors": [x for e in errors for x in errors_json(e)],
        "params": [],
        "graph": None,
    }


def _lenient_params(path: str) -> list:
    from .. import load as loader

    try:
        pf, _errors = loader.load_lenient(path)
    except PipefileError:
        return []
    return params_json(pf)


def load_graph(path: str, params=()):
    """The graph as `pipe status` loads it: through the spec cache that `pipe run` writes
    (read only: a 10,000-step Pipefile opens from it in a fraction of its load), and not
    frozen (a long-lived process: graphs come and go)."""
    from .. import artifacts, speccache

    return speccache.load_graph(path, params, freeze=False, artifacts=artifacts.resolve_artifacts, cached=True)


def plan(graph):
    """`pipe status`'s plan of every step: read-only, local."""
    from ..session import Session

    session = Session(graph, writable=False)
    try:
        return session.plan(())
    finally:
        session.close()
