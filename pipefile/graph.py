"""The pipeline as a graph: steps, the paths they read and write, and their order.

`build()` resolves every input binding to a path or a value, links a step to
the producers of the paths it reads (as in make: a plain path that is, or lies
inside, another step's output depends on that step), and checks what only the
whole graph can tell: one producer per path, no output inside another, no
cycles, inputs that exist or are produced (what the disk says about the
sources is source_checks.py's). Steps come out in a stable topological order
(declaration order where the graph allows).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import posixpath
import shlex
from dataclasses import field
from typing import Any, Iterable, Mapping, Optional

from . import spec, template
from .bindings import IN_NONE, IN_PATH, IN_VALUE, Input, resolve_binding
from .digest import TREE
from .errors import PipefileError, did_you_mean, raise_all
from .landing import FolderEntries, link_errors
from .lazyclass import dataclass
from .source_checks import (  # noqa: F401 - source_errors: used from here
    check_environment_sources,
    check_kind,
    check_source,
    pipefile_overwrites,
    producer_of,
    reads_of,
    source_errors,
)
from .spec import BIND_ARTIFACT, BIND_PARAM, BIND_PATH, BIND_STEP_OUTPUT


@dataclass(frozen=True)
class Node:
    step: spec.Step
    inputs: Mapping[str, Input]
    deps: tuple  # names of the steps this one reads from, in order
    params: Mapping[str, Any]  # the params this step uses, with their values

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def outputs(self) -> Mapping[str, spec.StepOutput]:
        return self.step.outputs

    @functools.cached_property
    def command(self):
        """The command as the key holds it: every `${{...}}` filled in, outputs at their
        workspace paths. Computed once (and kept with the graph in the spec cache)."""
        return render_command(self)

    def read_paths(self) -> list:
        """Workspace paths whose content feeds this step: inputs, then code."""
        paths = [i.path for i in self.inputs.values() if i.kind == IN_PATH]
        return paths + [c.path for c in self.step.code]

    def reads(self) -> list:
        """(path, where declared, what) of every path this step reads: inputs, then code."""
        return reads_of(self.inputs, self.step.code)


def render_command(node: "Node", output_paths: Optional[Mapping[str, str]] = None, root: str = "", input_paths=None):
    """The step's command with every `${{...}}` replaced.

    `output_paths` maps output names to the paths the command should write to
    (staging paths while running); by default the outputs' workspace paths.
    A string command is shell-quoted; an argv list is not. An imported Azure ML step
    (`spec.RENDER_AZUREML`) is plain text substitution with Python's `str()` of values;
    it runs outside the workspace, so `root` (given when it runs, never for the key) makes
    its paths absolute. `input_paths` replaces the paths of some inputs (keys.py's roles). A
    step with a `workdir` (a Pipefile used as a component) runs there: paths relative to it.
    """
    graph_params = node.params
    outputs = output_paths or None  # None: the outputs' workspace paths (node.outputs[name].path)
    azure = node.step.render == spec.RENDER_AZUREML
    fmt = str if azure else template.format_value
    # Azure's values go in as they are, but a path is pipe's, not the author's: one with a
    # space (a workspace in "My Projects") is quoted, or the command reads two words.
    path_text = template.PathText if azure else str

    workdir = node.step.workdir

    def place(path: str) -> str:
        if workdir and not root and not os.path.isabs(path) and not path.startswith("@"):
            return posixpath.relpath(path, workdir)
        return os.path.join(root, path) if root and not os.path.isabs(path) else path

    def lookup(ref: template.Ref):
        if ref.scope == "inputs":
            inp = node.inputs.get(ref.name)
            if inp is None or inp.kind == IN_NONE:
                return None
            if input_paths and ref.name in input_paths:
                return path_text(input_paths[ref.name])
            return path_text(place(inp.path)) if inp.kind == IN_PATH else fmt(inp.value)
        if ref.scope == "outputs":
            return path_text(place(outputs[ref.name] if outputs is not None else node.step.outputs[ref.name].path))
        if ref.scope == "params":
            return fmt(graph_params[ref.name])
        return None  # rejected by the loader

    cmd = node.step.command
    if isinstance(cmd, str):
        return template.render_text(cmd, lookup, quote=not azure, quote_paths=azure) or ""
    argv = []
    for part in cmd:
        text = template.render_text(part, lookup, quote=False)
        if text is not None:
            argv.append(text)
    return argv


@dataclass
class Graph:
    pipefile: spec.Pipefile
    params: Mapping[str, Any]
    nodes: dict  # name -> Node, in topological order
    producers: dict  # output path -> (step name, output name)
    dependents: dict = field(default_factory=dict)  # name -> [names]
    # Artifact versions the inputs read: (name, version as written) -> ResolvedArtifact
    artifacts: dict = field(default_factory=dict)
    # Where the command was started, relative to the workspace ("." there): an output path
    # given as a target is read from there, as git reads paths from a subfolder.
    here: str = "."
    # Expanded steps (matrix, sweep, foreach): step name -> expand.Group, whose tasks are nodes.
    groups: dict = field(default_factory=dict)
    # Tasks whose inputs are not known yet (a bayesian sweep's trials): the planner has them
    # proposed (proposals.py) once the tasks they run after have ended, and replaces the node.
    proposed: set = field(default_factory=set)
    proposing: dict = field(default_factory=dict)  # proposals.py's state per sweep, while proposing
    followed: set = field(default_factory=set)  # tasks that others run after (Step.after)
    # Builds this graph again (a map's folders listed again; every task a node): maps.py.
    full: Any = None

    @functools.cached_property
    def _sorted_outputs(self) -> list:
        return sorted(self.producers)

    def is_source(self, path: str) -> bool:
        """True if no step writes this path, anything inside it, or a folder around it."""
        return not producer_of(path, self.producers, self._sorted_outputs)

    def select(self, targets: Iterable[str]) -> list:
        """The targets and every step they need, in topological order; all steps if none."""
        targets = list(targets)
        if not targets:
            return list(self.nodes)
        wanted: set = set()
        errors = []
        for t in targets:
            names = self.resolve_targets(t)
            if not names:
                task = self._reordered(t)  # (the nearest spelling would be another task: d=5 for d=3)
                errors.append(
                    PipefileError(
                        f"'{t}' is neither a step nor an output path of {self.pipefile.display_path}",
                        hint=f"did you mean '{task}'? (a task's label names the axes in the matrix's order)"
                        if task
                        else did_you_mean(t, list(self.nodes) + list(self.producers), "step and output"),
                    )
                )
                continue
            stack = list(names)
            while stack:
                n = stack.pop()
                if n not in wanted:
                    wanted.add(n)
                    stack.extend(self.nodes[n].deps)
        raise_all(errors)
        return [n for n in self.nodes if n in wanted]

    def _reordered(self, t: str) -> Optional[str]:
        """The task `t` names with the axes in another order (expand.Group.reordered)."""
        group = self.groups.get(t.partition("[")[0])
        return group.reordered(t) if group is not None else None

    def resolve_targets(self, t: str) -> list:
        """The nodes a target names: a step (an expanded one: all its tasks), a task, or an
        output path (an expanded step's gathered folder: all its tasks)."""
        group = self.groups.get(t)
        if group is None:
            norm = self._as_output_path(t)
            group = next((g for g in self.groups.values() if norm in g.outputs.values()), None)
        if group is not None:
            tasks = list(group.tasks)
            if getattr(group.sweep, "best", False) and f"{group.name}.best" in self.nodes:
                tasks.append(f"{group.name}.best")  # (its outputs are its best trial's: an Azure ML sweep job's)
            if group.settled:  # (settled tasks have no node: up to date, nothing to select)
                return [x for x in tasks if x in self.nodes]
            return tasks
        name = self.resolve_target(t)
        return [name] if name is not None else []

    def resolve_target(self, t: str) -> Optional[str]:
        if t in self.nodes:
            return t
        hit = self.producers.get(self._as_output_path(t))
        return hit[0] if hit else None

    def _as_output_path(self, t: str) -> str:
        """A target path as outputs are written: from where pipe started, or the workspace (absolute)."""
        if os.path.isabs(t):  # (through a link to the workspace too: the shell's $PWD keeps its name)
            for resolve in (os.path.abspath, os.path.realpath):
                rel = os.path.relpath(resolve(t), resolve(self.pipefile.root))
                if rel != ".." and not rel.startswith(".." + os.sep):
                    return rel.replace("\\", "/")
            return t  # (outside the workspace: no output's)
        return os.path.normpath(os.path.join(self.here, t)).replace("\\", "/")

    def downstream(self, names: Iterable[str]) -> set:
        out: set = set()
        stack = list(names)
        while stack:
            n = stack.pop()
            for d in self.dependents.get(n, ()):
                if d not in out:
                    out.add(d)
                    stack.append(d)
        return out


@dataclass(frozen=True)
class ResolvedArtifact:
    """An `${{artifacts.NAME[:V]}}` binding resolved (at plan time) to a stored version,
    materialised read-only at `path` (workspace-relative, under .pipe/artifacts/)."""

    name: str
    version: int
    kind: str  # file or tree
    digest: str
    size: int
    path: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


def command_text(cmd) -> str:
    """A rendered command (a shell string or an argv list) as one line of text."""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder + "/")


def build(
    pf: spec.Pipefile,
    params: Mapping[str, Any],
    check_exists: bool = True,
    artifacts: Optional[Mapping] = None,
    settle=None,
) -> Graph:
    """`artifacts` maps each artifact binding, (name, version as written), to the
    ResolvedArtifact it reads; the caller resolves them (the graph reads no database).
    `settle`: see expand.expand (a foreach's tasks known up to date get no node)."""
    from . import expand

    pf, groups = expand.expand(pf, check_exists, settle, params)
    groups.update(_nest_groups(pf, expand.Group))
    artifacts = dict(artifacts or {})
    # A bound version's content is known from the job database: it need not be in place yet.
    bound = {a.path: a.kind for a in artifacts.values()}
    errors: list[PipefileError] = []
    producers: dict = {}
    for st in pf.steps.values():
        for out in st.outputs.values():
            prev = producers.get(out.path)
            if prev:
                other = pf.steps[prev[0]]
                errors.append(
                    PipefileError(
                        f"'{out.path}' is produced by two steps: '{prev[0]}' ({other.outputs[prev[1]].loc}) "
                        f"and '{st.name}'",
                        out.loc,
                        "give one of them a different output path",
                    )
                )
                continue
            producers[out.path] = (st.name, out.name)
    sorted_outputs = sorted(producers)
    for a, b in zip(sorted_outputs, sorted_outputs[1:]):
        if _inside(b, a):
            sa, sb = producers[a], producers[b]
            errors.append(
                PipefileError(
                    f"output '{b}' of step '{sb[0]}' lies inside output '{a}' of step '{sa[0]}'",
                    pf.steps[sb[0]].outputs[sb[1]].loc,
                    "a step owns its whole output folder: write somewhere else, or make it one step",
                )
            )
    for asset in pf.assets.values():
        for hit in producer_of(asset.path, producers, sorted_outputs):
            errors.append(
                PipefileError(
                    f"asset '{asset.name}' ('{asset.path}') overlaps output '{hit[1]}' of step '{hit[0]}'",
                    asset.loc,
                    f"assets are source data; to read a step's output use ${{{{steps.{hit[0]}.outputs.{hit[1]}}}}}",
                )
            )

    for env in pf.environments.values():
        check_environment_sources(env, pf, producers, sorted_outputs, check_exists, errors)

    errors += pipefile_overwrites(pf, producers, sorted_outputs)

    nodes: dict = {}
    edge_loc: dict = {}  # (step, dep) -> where the step reads what dep writes
    # The paths steps read as written (most sources): often many files of one folder.
    written = [b.ref for st in pf.steps.values() for b in st.inputs.values() if b.kind == BIND_PATH]
    entries = FolderEntries(pf.root, written)
    for st in pf.steps.values():
        inputs = {}
        deps: list = []
        has_dep: set = set()  # (deps in order, looked up here: a gathering task reads thousands)
        used_params: dict = {}
        for iname, b in st.inputs.items():
            decl = st.input_decls.get(iname)
            inp = resolve_binding(iname, b, pf, params, decl, artifacts, st.render == spec.RENDER_AZUREML)
            if inp.param:
                used_params[inp.param] = params[inp.param]
            inputs[iname] = inp
        # Unbound component inputs take their defaults.
        for iname, decl in st.input_decls.items():
            if iname not in inputs:
                if decl.default is spec.MISSING:
                    inputs[iname] = Input(iname, IN_NONE, loc=decl.loc)
                elif decl.type in spec.PATH_TYPES:
                    inputs[iname] = Input(iname, IN_PATH, path=decl.default, type=decl.type, loc=decl.loc)
                else:
                    inputs[iname] = Input(iname, IN_VALUE, value=decl.default, loc=decl.loc)
        for ref in _command_param_refs(st.command):
            used_params[ref] = params[ref]
        reads = reads_of(inputs, st.code)
        for path, loc, what in reads:
            hits = producer_of(path, producers, sorted_outputs)
            for step_name, out_name in hits:
                if step_name == st.name:
                    errors.append(
                        PipefileError(
                            f"step '{st.name}' reads its own output '{st.outputs[out_name].path}' ({what})",
                            loc,
                            "a step cannot depend on what it writes; read the previous version from another path",
                        )
                    )
                elif step_name not in has_dep:
                    deps.append(step_name)
                    has_dep.add(step_name)
                    edge_loc[(st.name, step_name)] = loc
            if not hits and path in bound:
                check_kind(st.name, path, inputs, pf, errors, loc, bound[path] == TREE)
            elif not hits and check_exists:
                check_source(st.name, path, loc, inputs, pf, producers, errors, entries)
        deps += [a for a in st.after if a not in has_dep]  # ordering only (a bayesian trial's round)
        nodes[st.name] = Node(st, inputs, tuple(deps), used_params)

    if check_exists:
        errors += link_errors(pf, producers, nodes)
    try:
        order = _toposort(nodes, pf, edge_loc)
    except PipefileError as e:
        errors.append(e)
    raise_all(errors)
    ordered = {n: nodes[n] for n in order}
    for node in ordered.values():
        # Rendered once here (a graph kept in the spec cache carries it): what `Node.command`
        # keeps, set as its cached_property sets it, without its lock per node.
        vars(node)["command"] = render_command(node)
    dependents: dict = {n: [] for n in ordered}
    for n in ordered.values():
        for d in n.deps:
            dependents[d].append(n.name)
    used = {(b.ref, b.version) for st in pf.steps.values() for b in st.inputs.values() if b.kind == BIND_ARTIFACT}
    used_artifacts = {k: v for k, v in artifacts.items() if k in used}
    proposed = {t for g in groups.values() if g.search == "bayesian" for t in g.tasks}
    followed = {a for st in pf.steps.values() for a in st.after}
    return Graph(
        pf,
        dict(params),
        ordered,
        producers,
        dependents,
        used_artifacts,
        groups=groups,
        proposed=proposed,
        followed=followed,
    )


def _nest_groups(pf: spec.Pipefile, group) -> dict:
    """Each pipeline step (`Step.nest` and the pipelines around it) as a group of its inner
    tasks, deepest first: a task shows under its outermost pipeline step."""
    levels: dict = {}
    for st in pf.steps.values():
        parts = st.nest.split("/") if st.nest else []
        for i in range(len(parts)):
            levels.setdefault("/".join(parts[: i + 1]), []).append(st.name)
    order = sorted(levels, key=lambda n: -n.count("/"))
    return {n: group(n, "pipeline", tuple(levels[n]), tuple(levels[n]), (), {}) for n in order}


def _command_param_refs(command) -> list:
    texts = [command] if isinstance(command, str) else list(command)
    out = []
    for t in texts:
        for ref, _ in template.refs_of(t):
            if ref.scope == "params":
                out.append(ref.name)
    return out


def check_partial(pf: spec.Pipefile, params: Mapping[str, Any], artifacts: Optional[Mapping] = None) -> list:
    """The graph errors of the valid part of a Pipefile that also has other errors.

    Steps that refer to something missing (a step, output or param with errors of
    its own) are left out, so nothing is reported twice.
    """

    def resolvable(st: spec.Step) -> bool:
        for b in st.inputs.values():
            if b.kind == BIND_STEP_OUTPUT and (b.ref not in pf.steps or b.output not in pf.steps[b.ref].outputs):
                return False
            if b.kind == BIND_PARAM and b.ref not in params:
                return False
            if b.kind == BIND_ARTIFACT and (b.ref, b.version) not in (artifacts or {}):
                return False
        try:
            return all(r in params for r in _command_param_refs(st.command))
        except template.TemplateError:
            return False

    steps = {n: st for n, st in pf.steps.items() if resolvable(st)}
    try:
        build(dataclasses.replace(pf, steps=steps), params, artifacts=artifacts)
    except PipefileError as e:
        return list(getattr(e, "errors", [e]))
    except Exception:  # noqa: BLE001 - best effort: the other errors are reported anyway
        return []
    return []


def _toposort(nodes: dict, pf, edge_loc: dict) -> list:
    """Kahn's algorithm, stable in declaration order; reports one cycle, spelled out."""
    indeg = {n: len(node.deps) for n, node in nodes.items()}
    users: dict = {n: [] for n in nodes}
    for n, node in nodes.items():
        for d in node.deps:
            users[d].append(n)
    position = {n: i for i, n in enumerate(nodes)}
    import heapq

    ready = [(position[n], n) for n, k in indeg.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, (position[u], u))
    if len(order) == len(nodes):
        return order
    # Walk back along unfinished deps until a step repeats: that is a cycle.
    left = [n for n in nodes if indeg[n] > 0]
    path: list[str] = []
    seen: dict[str, int] = {}
    n = left[0]
    while n not in seen:
        seen[n] = len(path)
        path.append(n)
        n = next(d for d in nodes[n].deps if indeg.get(d, 0) > 0)
    cycle = path[seen[n] :] + [n]
    cycle = list(reversed(cycle))
    # Point at the read that closes the cycle: the last step reading from the one before it.
    loc = edge_loc.get((cycle[-1], cycle[-2])) or pf.steps[cycle[-1]].loc
    raise PipefileError(
        f"dependency cycle: {' -> '.join(cycle)}",
        loc,
        "a step cannot (even indirectly) read what it writes; break the cycle",
    )
