"""An Azure ML pipeline job YAML -> the `spec.Pipefile` a Pipefile would give (docs/azureml.md).

Every command node becomes a step whose name is its path through nested pipeline
components (`outer/inner`), rendered and run as Azure does (`spec.RENDER_AZUREML`). The
pipeline's literal inputs become params (`-p` sets them), its path inputs assets; an
output of a node lands under `.azureml-outputs/<pipeline file's stem>/<node>/<output>`.
What has no meaning here (compute, datastores, identity ...) is a warning, not an error.
"""

from __future__ import annotations

import os
import re
from typing import Any, Optional

from ... import spec
from ...errors import PipefileError, SourceLoc, did_you_mean
from ..paths import normalize_path
from ..reader import display_path
from . import options as opts
from . import standalone, yamlfile
from .inputs import BROKEN, SaidAlready, top_inputs
from .nodes import OUTPUT_ROOT, PORT_TYPES, REF, CommandNodes, Draft, JobRef
from .parallel import ParallelNodes
from .resolve import Resolver, parse_name
from .standalone import looks_like
from .sweep import SweepNodes
from .uses import PipelineNode, pipeline_uses
from .yamlfile import Map

_IGNORED = {  # key -> why it means nothing here
    "compute": "runs on this machine",
    "default_compute": "runs on this machine",
    "default_datastore": "outputs are written under " + OUTPUT_ROOT + "/",
    "datastore": "outputs are written under " + OUTPUT_ROOT + "/",
    "experiment_name": "jobs are recorded in .pipe/jobs.db",
    "tags": "not used here",
    "properties": "not used here",
    "services": "no interactive services here",
    "identity": "no credentials are used here",
    "resources": "resources are this machine's",
    "queue_settings": "no queue here",
    "environment_variables": "not set here (set them in an environment map's venv or your shell)",
    "distribution": "runs as one process here",
    "additional_includes": "not copied here",
    "mode": "paths are given directly",
}
_TOP = {"$schema", "type", "jobs", "inputs", "outputs", "settings", "display_name", "description", "name", "version"}
_JOB = {"type", "component", "command", "code", "environment", "inputs", "outputs", "limits", "display_name"}
_JOB |= {"description", "name", "settings", "is_deterministic", "$schema", "version", "jobs"}
_SETTINGS = {"continue_on_step_failure", "force_rerun"}
_MAX_NESTING = 100  # pipeline components inside each other (each level is a recursion of the reader)
_NODE_NAME = re.compile(r"[a-z_][a-z0-9_]*")  # azure-ai-ml's is_valid_node_name
_JOB_REF = re.compile(r"^\s*\$\{\{\s*parent\.jobs\.([A-Za-z_][\w\-]*)\.outputs\.([A-Za-z_][\w\-]*)\s*\}\}\s*$")


def load_lenient(path: str, text: str) -> tuple:
    path = os.path.abspath(path)
    imp = Importer(path)
    pf, errors = imp.read(text)
    if imp.outside:
        # What the pipeline reads lies above its folder (`code: ../src`, as Azure uploads it):
        # the workspace is then the nearest folder holding the pipeline and all of it.
        root = os.path.commonpath([imp.root] + imp.outside)
        if root == os.path.dirname(root):  # the filesystem's root: no workspace there (refused)
            root = ""
        imp = Importer(path, root, fixed=True)
        pf, errors = imp.read(text)
    return pf, errors


def workspace_of(path: str) -> Optional[str]:
    """The workspace of the Azure ML pipeline at `path` (None when it is none): its folder,
    or the folder above that holds what it reads, so every command finds the same `.pipe/`."""
    if not path.endswith((".yml", ".yaml")):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(4_000_000)
    except (OSError, UnicodeDecodeError):
        return None
    if not looks_like(text):
        return None
    return load_lenient(path, text)[0].root


def _empty(imp: "Importer", path: str) -> spec.Pipefile:
    return spec.Pipefile(path=path, root=os.path.dirname(path), sources=tuple(sorted(imp.sources.items())))


class Importer(SweepNodes, ParallelNodes, CommandNodes):
    def __init__(self, path: str, root: str = "", fixed: bool = False):
        self.path = path
        self.root = root or os.path.dirname(path)
        self.stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(path))[0])
        if root:  # outputs of pipelines of the same name in different folders stay apart
            self.stem = f"{os.path.relpath(os.path.dirname(path), root)}/{self.stem}".removeprefix("./")
        self.widened = bool(root)
        self.fixed = fixed  # read once already: a path outside the workspace is an error now
        self.outside: list = []  # absolute paths read above the pipeline's folder
        self.options = opts.read()
        self.sources: dict = {}
        self.errors: list = []
        self.warnings: list = []
        self.params: dict = {}
        self.assets: dict = {}
        self.environments: dict = {}
        self.drafts: dict = {}  # node path -> Draft (command nodes)
        self.exports: dict = {}  # pipeline node path -> {output: (step, out) or JobRef}
        self.pipeline_nodes: dict = {}  # pipeline node path -> PipelineNode (uses.py)
        self.resolver = Resolver(os.path.dirname(path), self.options, self.sources)
        self.force = False
        self.alone = False  # a command or sweep job on its own (standalone.py), not a pipeline
        self._limits: dict = {}  # (node, input) -> the component's declaration of it
        self._env_map: Any = {}
        self._opened: list = [path]  # the pipeline files being read, outermost first (no loops)
        self.failed: set = set()  # node paths whose error is reported (what reads them is not)
        self.declared_outputs: dict = {}  # pipeline node path -> its outputs: (a binding's check)
        self._said_outputs: set = set()

    # --- the whole file --------------------------------------------------------------------
    def read(self, text: str) -> tuple:
        """(the spec, the errors)."""
        try:
            pf = self.load(text)
        except PipefileError as e:
            return _empty(self, self.path), self.errors + [e]
        return pf, self.errors

    def load(self, text: str) -> spec.Pipefile:
        top = yamlfile.parse(text, self.path)
        alone = self.alone = standalone.is_job(top)
        if alone:  # (`az ml job create -f job.yml`: a pipeline of that one job)
            top = standalone.as_pipeline(top, self.path)
        self._env_map = self._read_env_map()
        self._check_keys(top, _TOP, "the pipeline")
        settings = top.get("settings") or {}
        if not isinstance(settings, (Map, dict)):  # (a list was ignored: force_rerun and the rest with it)
            raise PipefileError("settings: must be a mapping", top.at("settings"), "settings: {force_rerun: true}")
        if isinstance(settings, Map):
            self._check_keys(settings, _SETTINGS, "settings")
        self.force = bool(yamlfile.flag(settings, "force_rerun", "settings"))
        keep_going = bool(yamlfile.flag(settings, "continue_on_step_failure", "settings"))
        scope = top_inputs(self, top.get("inputs") or yamlfile.empty(), top)
        self.pipeline(top, "", scope, self.path)
        self.pick_best(top, alone)  # (a sweep whose outputs are the pipeline's: its best trial's)
        steps = {}
        for d in self.drafts.values():
            try:
                steps[d.name] = self._step(d)
            except SaidAlready:
                continue
            except PipefileError as e:
                self.errors.append(e)
        if not steps and not self.errors:
            self.errors.append(PipefileError("the pipeline has no jobs", top.loc, "add a command job under jobs:"))
        envs_used = {s.environment for s in steps.values() if s.environment}
        return spec.Pipefile(
            path=self.path,
            root=self.root,
            name=str(top.get("display_name") or top.get("name") or self.stem),
            description=str(top.get("description") or ""),
            params=self.params,
            assets=self.assets,
            steps=steps,
            environments={n: e for n, e in self.environments.items() if n in envs_used},
            warnings=tuple(self.warnings),
            keep_going=keep_going,
            sources=tuple(sorted(self.sources.items())),
            listed=tuple(sorted(self.resolver.listed.items())),
            pipelines=pipeline_uses(self, self.pipeline_nodes, steps),
        )

    def _warn(self, loc, message: str, hint: str = "") -> None:
        self.warnings.append((loc, message, hint or None))

    def _check_keys(self, m, known: set, what: str) -> None:
        if not isinstance(m, Map):
            return
        for k in m:
            if k in known:
                continue
            if k in _IGNORED:
                self._warn(m.at(k), f"{what}: '{k}' is ignored here ({_IGNORED[k]})")
            else:
                near = did_you_mean(k, sorted(known | set(_IGNORED)), "key")
                self._warn(m.at(k), f"{what}: unknown key '{k}' is ignored", near or "")

    def _read_env_map(self) -> dict:
        f = self.options.env_map_file
        if not f:
            return {}
        data = yamlfile.read(f, self.sources)
        if not isinstance(data, Map):
            raise PipefileError("the environment map must be a mapping: environment -> what to use", SourceLoc(f))
        return data

    # --- inputs ---------------------------------------------------------------------------
    def bind(self, v, file: str, loc, scope: dict, node: str, what: str):
        """What a value written for an input binds: a spec.Binding, a JobRef, or None (unset)."""
        if isinstance(v, str) and "${{" in v:
            m = REF.match(v)
            if m and m.group(1) == "inputs":
                if m.group(2) not in scope:
                    raise PipefileError(
                        f"{what}: the pipeline has no input '{m.group(2)}'",
                        loc,
                        did_you_mean(m.group(2), scope, "input"),
                    )
                if scope[m.group(2)] is BROKEN:
                    raise SaidAlready(f"{what}: pipeline input '{m.group(2)}' has an error", loc)
                return scope[m.group(2)]
            m = _JOB_REF.match(v)
            if m:
                return JobRef(node, m.group(1), m.group(2), loc)
            raise PipefileError(
                f"{what}: cannot read '{v}' here",
                loc,
                "bind ${{parent.inputs.NAME}}, ${{parent.jobs.JOB.outputs.NAME}}, a literal or {type:, path:}",
            )
        if isinstance(v, list):
            raise PipefileError(f"{what}: a list is not a value", loc, "bind a literal, a path or ${{parent...}}")
        if isinstance(v, Map):
            if "path" in v:
                p = v["path"]
                if isinstance(p, str) and "${{" in p:
                    return self.bind(p, file, v.at("path"), scope, node, what)
                if not isinstance(p, str):
                    raise PipefileError(f"{what}: path must be a string", v.at("path"))
                local, typ = self.resolver.data_path(p, file, v.at("path"), what)
                rel = self.workspace_path(local, v.at("path"), what)
                return spec.Binding(spec.BIND_PATH, loc, ref=rel, type=PORT_TYPES.get(v.get("type") or typ))
            for key in ("value", "default"):
                if key in v:
                    return spec.Binding(spec.BIND_VALUE, loc, value=v[key])
            return None
        if v is None:
            return None
        return spec.Binding(spec.BIND_VALUE, loc, value=v)

    def workspace_path(self, local: str, loc, what: str) -> str:
        rel, problem = normalize_path(os.path.relpath(local, self.root))
        above = os.path.relpath(local, self.root).split(os.sep)[0] == ".."
        if rel is None and above and not self.fixed:
            self.outside.append(os.path.normpath(local))
            return "."  # (read again with the workspace above it)
        if rel is None and not above:  # the workspace itself, or inside .pipe/
            raise PipefileError(
                f"{what}: {problem} (the pipeline's folder holds pipe's .pipe/ and {OUTPUT_ROOT}/)",
                loc,
                "name a file or folder inside it (code: ./src, path: ./data)",
            )
        if rel is None:
            raise PipefileError(
                f"{what}: '{local}' is outside the pipeline's folder ({display_path(self.root)}), pipe's workspace",
                loc,
                "move (or link) it below a folder that also holds the pipeline YAML",
            )
        return rel

    # --- jobs -----------------------------------------------------------------------------
    def pipeline(self, container, prefix: str, scope: dict, file: str) -> None:
        jobs = container.get("jobs")
        self.declared_outputs[prefix] = container.get("outputs")
        if not isinstance(jobs, Map) or not jobs:
            raise PipefileError(
                "jobs: must be a mapping of job names to jobs",
                container.at("jobs"),
                "jobs: {NAME: {command: ..., inputs: ...}}",
            )
        for jname, job in jobs.items():
            node = f"{prefix}/{jname}" if prefix else jname
            try:
                if not _NODE_NAME.fullmatch(jname) and not (self.alone and not prefix):  # (alone: the file's)
                    # (Azure refuses `prep-data` or `Train`: a job that ran here failed when submitted)
                    fix = re.sub(r"\W", "_", jname.lower())
                    raise PipefileError(
                        f"'{jname}' is not a job name Azure ML takes (lower-case letters, digits and '_', "
                        "not starting with a digit)",
                        jobs.at(jname),
                        f"rename it, e.g. {'_' + fix if fix[:1].isascii() and fix[:1].isdigit() else fix}",
                    )
                if not isinstance(job, Map):
                    raise PipefileError(f"job '{node}' must be a mapping", jobs.at(jname))
                self.job(node, job, prefix, scope, file)
            except SaidAlready:
                self.failed.add(node)
            except PipefileError as e:
                self.errors.append(e)
                self.failed.add(node)

    def component_of(self, job, file: str, key: str = "component") -> tuple:
        """(the component's values, the file they were read from): the job itself when inline.
        `key`: where the job names it (a sweep job's is `trial:`)."""
        comp = job.get(key)
        if comp is None:
            return job, file
        if isinstance(comp, Map):
            return comp, file
        if not isinstance(comp, str):
            raise PipefileError(f"{key}: must be a path, azureml:NAME@latest, or a mapping", job.at(key))
        if comp.startswith("azureml:") and parse_name(comp):
            path, data = self.resolver.by_name(comp, ("command", "pipeline"), "component", job.at(key))
            return data, path
        if comp.startswith(("azureml://", "https://", "http://")):
            raise PipefileError(
                f"component '{comp}' is in a registry, not on this machine",
                job.at(key),
                f"write its YAML locally and name it by path ({key}: ./train.yml)",
            )
        ref = comp[len("file:") :] if comp.startswith("file:") else comp
        path = os.path.normpath(os.path.join(os.path.dirname(file), ref))
        data = yamlfile.read(path, self.sources, job.at(key))
        if not isinstance(data, Map):
            raise PipefileError(
                f"{display_path(path)}: not a component (a mapping with command: or jobs:)", job.at(key)
            )
        return data, path

    def job(self, node: str, job, prefix: str, scope: dict, file: str) -> None:
        if job.get("type") == "sweep":  # (sweep.py: its trial is the component)
            return self.sweep_job(node, job, prefix, scope, file)
        comp, comp_file = self.component_of(job, file)
        inline = comp is job
        typ = job.get("type") or comp.get("type") or "command"
        if typ == "parallel":  # (parallel.py: mini-batches through pipe's driver)
            return self.parallel_job(node, job, prefix, scope, file)
        self._check_keys(job, _JOB, f"job '{node}'")
        if not inline:
            self._check_keys(comp, _JOB | {"$schema"}, f"component {display_path(comp_file)}")
        decls = self._decls(comp, inline, node)
        binds = self.bind_inputs(node, job, decls, prefix, scope, file)
        if typ == "pipeline":
            if comp_file in self._opened:
                raise PipefileError(
                    f"pipeline component {display_path(comp_file)} uses itself (through job '{node}')",
                    job.loc,
                    "a pipeline component cannot contain itself, even indirectly",
                )
            if len(self._opened) > _MAX_NESTING:  # (deeper, the reader ran out of stack: exit 70)
                raise PipefileError(
                    f"pipeline job '{node}' nests pipeline components more than {_MAX_NESTING} deep",
                    job.loc,
                    "flatten the pipeline: put the jobs of inner pipeline components in the outer one",
                )
            inner = {}
            for iname, d in decls.items():
                if iname in binds:
                    inner[iname] = binds[iname]
                elif d.default is not spec.MISSING:
                    inner[iname] = spec.Binding(spec.BIND_VALUE, d.loc, value=d.default)
                else:
                    inner[iname] = None
            self.exports[node] = {}
            desc = str(job.get("description") or "")
            self.pipeline_nodes[node] = PipelineNode(node, comp, comp_file, decls, inner, job.loc, desc)
            self._bind_outputs(node, job, prefix)  # this node's outputs re-exported upward
            self._opened.append(comp_file)
            try:
                self.pipeline(comp, node, inner, comp_file)
            finally:
                self._opened.pop()
            return
        if typ != "command":
            raise PipefileError(
                f"job '{node}' is a '{typ}' job; pipe runs command, pipeline, sweep and parallel jobs",
                job.at("type") if "type" in job else comp.loc,
                "run it on Azure, or rewrite it as a command component",
            )
        self.command(node, job, comp, comp_file, decls, binds, prefix)

    def bind_inputs(self, node: str, job, decls: dict, prefix: str, scope: dict, file: str) -> dict:
        """What the job's `inputs:` bind to its component's inputs: name -> Binding or JobRef."""
        binds: dict = {}
        inputs = job.get("inputs")
        for iname, v in inputs.items() if isinstance(inputs, Map) else ():
            loc = inputs.at(iname)
            if iname not in decls:
                self._warn(
                    loc, f"job '{node}': input '{iname}' is not an input of its component: ignored (as Azure does)"
                )
                continue
            b = self.bind(v, file, loc, scope, prefix, f"input '{iname}' of job '{node}'")
            if (
                isinstance(b, spec.Binding)
                and b.kind == spec.BIND_VALUE
                and decls[iname].type == spec.BOOLEAN
                and type(b.value) is int
                and b.value in (0, 1)
            ):
                # azure-ai-ml writes a sweep job's boolean literals as 0 and 1: they are still booleans
                b = spec.Binding(spec.BIND_VALUE, b.loc, value=bool(b.value))
            if b is not None:
                self._check_value(node, iname, b, decls[iname], loc)
                binds[iname] = b
        return binds

    # --- the steps ------------------------------------------------------------------------
    def _resolve(self, ref: JobRef, seen: Optional[set] = None) -> tuple:
        seen = seen or set()
        node = f"{ref.scope}/{ref.job}" if ref.scope else ref.job
        if (node, ref.output) in seen:
            raise PipefileError(f"outputs of '{node}' refer to each other in a loop", ref.loc)
        seen.add((node, ref.output))
        if node in self.drafts:
            if ref.output not in self.drafts[node].outputs:
                raise PipefileError(
                    f"job '{node}' has no output '{ref.output}'",
                    ref.loc,
                    did_you_mean(ref.output, self.drafts[node].outputs, "output"),
                )
            return node, ref.output
        if node in self.exports:
            target = self.exports[node].get(ref.output)
            if target is None and any(f.startswith(node + "/") for f in self.failed):  # (said there)
                raise SaidAlready(f"a job of '{node}' has an error", ref.loc)
            if target is None:
                raise PipefileError(f"pipeline job '{node}' has no output '{ref.output}'", ref.loc)
            return self._resolve(target, seen)
        if node in self.failed:  # (its error says what is wrong; "no job" would be false)
            raise SaidAlready(f"job '{node}' has an error", ref.loc)
        known = [
            n.rsplit("/", 1)[-1]
            for n in list(self.drafts) + list(self.exports)
            if n.rsplit("/", 1)[0] == ref.scope or "/" not in n and not ref.scope
        ]
        raise PipefileError(f"there is no job '{ref.job}' here", ref.loc, did_you_mean(ref.job, known, "job"))

    def _type_of(self, b: spec.Binding) -> Optional[str]:
        if b.kind == spec.BIND_PARAM:
            return self.params[b.ref].type
        if b.kind == spec.BIND_VALUE:
            return spec.type_of_value(b.value)
        if b.kind == spec.BIND_ASSET:
            return self.assets[b.ref].type or spec.URI_FOLDER
        if b.kind in (spec.BIND_PATH, spec.BIND_STEP_OUTPUT):
            return b.type or spec.URI_FOLDER
        return None

    def _step(self, d: Draft) -> spec.Step:
        inputs = {}
        for name, b in d.binds.items():
            if isinstance(b, JobRef):
                step, out = self._resolve(b)
                o = self.drafts[step].outputs[out]
                decl = d.decls.get(name)
                if o.type == spec.URI_FILE and decl is not None and decl.type == spec.URI_FOLDER:
                    # Azure gives the folder around the file; here the file itself (a folder
                    # around an output is no output of its own: restoring it is not exact).
                    self._warn(
                        b.loc,
                        f"input '{name}' of job '{d.name}' is a folder but reads the uri_file output '{out}' "
                        f"of '{step}': it is given the file's path (Azure gives the folder around it)",
                        "declare the input uri_file, or the output uri_folder",
                    )
                if self.drafts[step].expand is not None:  # a sweep's output: its best trial's, as on Azure
                    step = f"{step}.best"
                b = spec.Binding(spec.BIND_STEP_OUTPUT, b.loc, ref=step, output=out, type=o.type)
            inputs[name] = b
        decls = dict(d.decls)
        for name, decl in d.decls.items():
            if name not in inputs and decl.default is spec.MISSING:
                inputs[name] = spec.Binding(spec.BIND_NONE, decl.loc)
            if decl.type is None and name in inputs:  # an inline job's input: typed by what it binds
                decls[name] = spec.InputDecl(
                    name, self._type_of(inputs[name]), decl.default, decl.optional, loc=decl.loc
                )
        return spec.Step(
            name=d.name,
            command=d.command,
            inputs=inputs,
            input_decls=decls,
            outputs=d.outputs,
            code=d.code,
            component=d.component,
            description=d.description,
            loc=d.loc,
            command_loc=d.command_loc,
            environment=d.environment,
            render=spec.RENDER_AZUREML,
            always_run=d.always,
            timeout=d.timeout,
            metrics=d.metrics,
            expand=d.expand,
        )
