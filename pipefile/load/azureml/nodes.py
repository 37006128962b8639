"""The command nodes of an imported Azure ML pipeline: a component's typed inputs and the
checks of what is bound to them, its outputs (where they land), its command (what it may
use, and how), and the environment it runs in. A part of `pipeline.Importer`."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import TYPE_CHECKING, Any, Optional

from ... import spec, template
from ...errors import PipefileError, SourceLoc, did_you_mean
from ...lazyclass import dataclass
from . import decls as decl_checks
from . import environments as envs
from . import yamlfile
from .decls import TYPE_HINTS as _TYPE_HINTS
from .decls import decl_bounds, decl_enum, typed
from .resolve import parse_name
from .yamlfile import Map

OUTPUT_ROOT = ".azureml-outputs"
ARTIFACTS = "artifacts"  # the reserved output: the run's ./outputs and ./logs
METRICS = "metrics.json"  # in it: what the run logged to MLflow (executors/workdir.py writes it)
# `${{parent.inputs.NAME}}` / `${{parent.outputs.NAME}}`, the whole of a value
REF = re.compile(r"^\s*\$\{\{\s*parent\.(inputs|outputs)\.([A-Za-z_][\w\-]*)\s*\}\}\s*$")
PORT_TYPES: dict[Any, str] = {
    "uri_file": spec.URI_FILE,
    "uri_folder": spec.URI_FOLDER,
    "mltable": spec.URI_FOLDER,
    "mlflow_model": spec.URI_FOLDER,
    "custom_model": spec.URI_FOLDER,
    "triton_model": spec.URI_FOLDER,
    "number": spec.NUMBER,
    "integer": spec.INTEGER,
    "string": spec.STRING,
    "boolean": spec.BOOLEAN,
}


_VALUE_PORTS = {t for t, typ in PORT_TYPES.items() if typ in spec.VALUE_TYPES}

# A number with an exponent that YAML 1.1, as azure-ai-ml reads it, leaves as text (`1e-5`:
# its floats need a dot and a signed exponent); Azure takes it for a number input as written.
_EXPONENT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def number_text(value, typ) -> bool:
    """Whether `value` is such a number, given to a number input (rendered as written:
    `lr: 1e-5` is 1e-5 in the command). A quoted "0.5" stays refused: it is text."""
    return typ == spec.NUMBER and isinstance(value, str) and _EXPONENT_TEXT.fullmatch(value) is not None


class JobNodes:
    """What a reader of one kind of job (sweep.py, parallel.py) uses of `pipeline.Importer`:
    declared for the type checker only (at run time the Importer has them)."""

    if TYPE_CHECKING:

        def _warn(self, loc, message: str, hint: str = "") -> None: ...
        def _check_keys(self, m, known: set, what: str) -> None: ...
        def component_of(self, job, file: str, key: str = "component") -> tuple: ...
        def _decls(self, comp, inline: bool, node: str) -> dict: ...
        def bind_inputs(self, node: str, job, decls: dict, prefix: str, scope: dict, file: str) -> dict: ...
        def command(self, node, job, comp, comp_file, decls, binds, prefix) -> None: ...


@dataclass(frozen=True)
class JobRef:
    """`${{parent.jobs.JOB.outputs.OUT}}` written in the pipeline at node path `scope`."""

    scope: str
    job: str
    output: str
    loc: SourceLoc


@dataclass
class Draft:
    name: str
    command: str
    decls: dict
    binds: dict  # name -> spec.Binding or JobRef
    outputs: dict
    code: tuple
    environment: str
    component: str
    loc: SourceLoc
    command_loc: SourceLoc
    always: bool
    timeout: Optional[float]
    description: str = ""
    metrics: tuple = ()  # artifacts/metrics.json: what the run logged to MLflow
    expand: Optional[spec.Expansion] = None  # a sweep job's trials (sweep.py)


def _timeout(job, node: str) -> Optional[float]:
    """`limits.timeout` in seconds. A value of another kind (-5, 0, "1h", limits: 7) was
    ignored without a word: the node ran with no limit at all."""
    limits = job.get("limits")
    if limits is None:
        return None
    if not isinstance(limits, Map):
        raise PipefileError(f"job '{node}': limits must be a mapping", job.at("limits"), "limits: {timeout: 3600}")
    v = limits.get("timeout")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
        raise PipefileError(
            f"job '{node}': limits.timeout must be a number of seconds above 0, not {v!r}",
            limits.at("timeout"),
            "limits: {timeout: 3600} (an hour)",
        )
    return float(v)


class CommandNodes:
    """The methods of `pipeline.Importer` that read one command node (and its environment)."""

    # What the Importer, the one class that mixes these in, holds and provides.
    stem: str
    options: Any
    resolver: Any
    sources: dict
    errors: list
    params: dict
    environments: dict
    drafts: dict
    exports: dict
    force: bool
    _limits: dict
    _env_map: Any
    declared_outputs: dict  # pipeline node path ("" the top) -> its `outputs:` (Importer.pipeline)
    _said_outputs: set

    if TYPE_CHECKING:

        def _warn(self, loc, message: str, hint: str = "") -> None: ...
        def _check_keys(self, m, known: set, what: str) -> None: ...
        def workspace_path(self, local: str, loc, what: str) -> str: ...

    def _decls(self, comp, inline: bool, node: str) -> dict:
        decls = {}
        inputs = comp.get("inputs") or yamlfile.empty()
        if not isinstance(inputs, Map):
            raise PipefileError("inputs: must be a mapping", comp.at("inputs"))
        for name, d in inputs.items():
            loc = inputs.at(name)
            if inline:  # an inline job's inputs are its bindings: their type is what they are
                typ = PORT_TYPES.get(d.get("type")) if isinstance(d, Map) else None
                if typ is None and not isinstance(d, (Map, str)) and d is not None:
                    typ = spec.type_of_value(d)
                decls[name] = spec.InputDecl(name, typ, loc=loc)
                continue
            if not isinstance(d, Map):
                raise PipefileError(f"component input '{name}' must be a mapping with a type:", loc)
            t = d.get("type")
            if t not in PORT_TYPES:
                raise PipefileError(
                    f"component input '{name}': unknown type {t!r}",
                    d.at("type"),
                    did_you_mean(str(t), PORT_TYPES, "type"),
                )
            decl_checks.check(name, d, str(t), PORT_TYPES[t], self.errors)  # (what Azure refuses in it)
            decls[name] = spec.InputDecl(
                name,
                PORT_TYPES[t],
                # (a path input's default is refused above: not read as a path too)
                typed(d["default"], PORT_TYPES[t]) if "default" in d and t in _VALUE_PORTS else spec.MISSING,
                bool(yamlfile.flag(d, "optional", f"component input '{name}'")),  # ("false" is false, as on Azure)
                str(d.get("description") or ""),
                loc,
                decl_enum(d, PORT_TYPES[t]),
                *decl_bounds(d, PORT_TYPES[t]),
            )
            self._limits[(node, name)] = d  # enum, min, max: checked against what is bound
        return decls

    def _check_value(self, node: str, iname: str, b, decl, loc) -> None:
        value = b.value if isinstance(b, spec.Binding) and b.kind == spec.BIND_VALUE else None
        d = self._limits.get((node, iname)) or {}
        what = f"input '{iname}' of job '{node}'"
        if isinstance(b, spec.Binding) and b.kind == spec.BIND_PARAM:
            value = self.params[b.ref].default
            self._limit_param(b.ref, what, decl.loc, d)
        if value is None:
            return
        if decl.type in spec.VALUE_TYPES and not spec.value_fits(value, decl.type):
            if not (
                decl.type == spec.STRING
                or (decl.type == spec.NUMBER and isinstance(value, int))
                or number_text(value, decl.type)
            ):
                hint = _TYPE_HINTS.get(decl.type, "")
                self.errors.append(PipefileError(f"{what} is {decl.type}, not {value!r}", loc, hint))
                return
        if isinstance(d.get("enum"), list) and value not in d["enum"]:
            self.errors.append(
                PipefileError(
                    f"{what}: {value!r} is not one of {list(d['enum'])}",
                    loc,
                    "bind one of the enum's values (the component's enum:)",
                )
            )
        for key, bad in (("min", lambda lim: value < lim), ("max", lambda lim: value > lim)):
            lim = d.get(key)
            if not isinstance(lim, (int, float)) or isinstance(lim, bool):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and bad(lim):
                self.errors.append(
                    PipefileError(
                        f"{what}: {value!r} is {'below' if key == 'min' else 'above'} its {key} {d[key]}",
                        loc,
                        f"bind a value of at {'least' if key == 'min' else 'most'} {d[key]} (the component's {key}:)",
                    )
                )

    def _limit_param(self, name: str, what: str, loc, d) -> None:
        """Hold param `name` to the enum, min and max of the input it is bound to: a `-p`
        value is checked against them as its default is (params.value_refusal)."""
        enum = tuple(d["enum"]) if isinstance(d.get("enum"), list) else ()
        low, high = (
            d.get(k) if isinstance(d.get(k), (int, float)) and not isinstance(d.get(k), bool) else None
            for k in ("min", "max")
        )
        if enum or low is not None or high is not None:
            p = self.params[name]
            limit = spec.ParamLimit(what, loc, enum, low, high)
            self.params[name] = dataclasses.replace(p, limits=p.limits + (limit,))

    def _bind_outputs(self, node: str, job, prefix: str) -> list:
        """The names of `job`'s outputs bound to `${{parent.outputs.X}}`: they are X of the
        pipeline around it (`exports[prefix]`)."""
        outputs = job.get("outputs")
        bound = []
        for oname, v in outputs.items() if isinstance(outputs, Map) else ():
            text = v.get("path") if isinstance(v, Map) else v
            m = REF.match(text) if isinstance(text, str) else None
            if m and m.group(1) == "outputs":
                if not self._declares_output(prefix, m.group(2), node, oname, outputs.at(oname)):
                    bound.append(oname)  # (still the job's output: its command's use is no second error)
                    continue
                if prefix:
                    self.exports.setdefault(prefix, {})[m.group(2)] = JobRef(
                        prefix, node.rsplit("/", 1)[-1], oname, outputs.at(oname)
                    )
                bound.append(oname)
        return bound

    def _declares_output(self, prefix: str, name: str, node: str, oname: str, loc) -> bool:
        """Whether the pipeline around `node` declares the output `name` bound to it: Azure
        refuses a binding to one it does not ("Failed to find top level definition"), and
        here the output was written where nothing could find it. Said once."""
        declared = self.declared_outputs.get(prefix)
        if isinstance(declared, Map) and name in declared:
            return True
        if (node, oname) not in self._said_outputs:
            self._said_outputs.add((node, oname))
            where = f"pipeline component of '{prefix}'" if prefix else "pipeline"
            hint = did_you_mean(name, declared if isinstance(declared, Map) else (), "output")
            hint = hint or f"declare it in the {where}'s outputs: ({name}: {{type: uri_folder}})"
            self.errors.append(
                PipefileError(
                    f"job '{node}': output '{oname}' is bound to ${{{{parent.outputs.{name}}}}}, "
                    f"which the {where} does not declare",
                    loc,
                    hint,
                )
            )
        return False

    def command(self, node: str, job, comp, comp_file: str, decls: dict, binds: dict, prefix: str) -> None:
        cmd = comp.get("command")
        cloc = comp.at("command")
        if cmd is not None and not isinstance(cmd, str):  # (`command: 12` was said to be missing)
            raise PipefileError(f"the command of job '{node}' must be a string, not {cmd!r}", cloc, "command: a.sh")
        if not isinstance(cmd, str) or not cmd.strip():
            raise PipefileError(f"job '{node}' has no command", comp.loc, "give the component a command:")
        for where in (comp, job):  # (a list was read as no outputs: what wrote them failed, or wrote nothing)
            if where.get("outputs") is not None and not isinstance(where["outputs"], Map):
                raise PipefileError(
                    f"job '{node}': outputs must be a mapping of names to outputs",
                    where.at("outputs"),
                    "outputs: {model: {type: uri_folder}}",
                )
        for where in (comp,) if comp is job else (comp, job):  # (an inline job is both: checked once)
            decl_checks.check_outputs(node, where.get("outputs"), where is job, self.errors)
        outs = comp.get("outputs")
        outputs = {}
        for oname, o in outs.items() if isinstance(outs, Map) else ():
            t = o.get("type") if isinstance(o, Map) else None
            typ = PORT_TYPES.get(t or "uri_folder", spec.URI_FOLDER)
            if typ not in spec.PATH_TYPES:
                typ = spec.URI_FOLDER
            folder = f"{OUTPUT_ROOT}/{self.stem}/{node}/{oname}"
            path = f"{folder}/{oname}" if typ == spec.URI_FILE else folder
            outputs[oname] = spec.StepOutput(oname, path, typ, outs.at(oname))
        metrics: tuple = ()
        if ARTIFACTS not in outputs:
            outputs[ARTIFACTS] = spec.StepOutput(
                ARTIFACTS, f"{OUTPUT_ROOT}/{self.stem}/{node}/{ARTIFACTS}", spec.URI_FOLDER, comp.loc
            )
            metrics = (f"{outputs[ARTIFACTS].path}/{METRICS}",)
        if comp is not job:
            for oname in job.get("outputs") or {}:
                if oname not in outputs:
                    self._warn(
                        job["outputs"].at(oname),
                        f"job '{node}': output '{oname}' is not an output of its component: ignored",
                    )
        for oname in self._bind_outputs(node, job, prefix):
            if oname not in outputs:  # an inline job declares its outputs where it binds them
                folder = f"{OUTPUT_ROOT}/{self.stem}/{node}/{oname}"
                outputs[oname] = spec.StepOutput(oname, folder, spec.URI_FOLDER, job["outputs"].at(oname))
        self._check_command(node, cmd, cloc, decls, binds, outputs)
        code: tuple = ()
        if comp.get("code") is not None:
            raw = comp["code"]
            if not isinstance(raw, str) or raw.startswith(("azureml:", "https://", "azureml://")):
                raise PipefileError(f"job '{node}': code must be a local folder", comp.at("code"))
            local = os.path.normpath(os.path.join(os.path.dirname(comp_file), raw))
            code = (
                spec.CodeRef(self.workspace_path(local, comp.at("code"), f"code of job '{node}'"), comp.at("code")),
            )
        timeout = _timeout(job, node)
        self.drafts[node] = Draft(
            name=node,
            command=cmd,
            decls=decls,
            binds=binds,
            outputs=outputs,
            code=code,
            environment=self.environment(comp, comp_file, node),
            component=str(comp.get("name") or "") if comp is not job else "",
            loc=job.loc,
            command_loc=cloc,
            always=self.force
            or yamlfile.flag(comp, "is_deterministic", f"job '{node}'") is False
            or yamlfile.flag(job, "is_deterministic", f"job '{node}'") is False,
            timeout=timeout,
            description=str(comp.get("description") or ""),
            metrics=metrics,
        )

    def _check_command(self, node, cmd, loc, decls, binds, outputs) -> None:
        try:
            parts = template.parse(cmd)
        except template.TemplateError as e:
            raise PipefileError(f"job '{node}': {e.message}", loc, e.hint) from None
        for ref, optional in template.refs(parts):
            if ref.scope == "inputs":
                d = decls.get(ref.name)
                if d is None:
                    raise PipefileError(
                        f"job '{node}': the command reads ${{{{inputs.{ref.name}}}}}, "
                        "which its component does not declare",
                        loc,
                        did_you_mean(ref.name, decls, "input"),
                    )
                unset = ref.name not in binds and d.default is spec.MISSING
                declared = (node, ref.name) in self._limits  # (by a component: an inline job's are its bindings)
                if unset and optional and not d.optional and declared:  # ($[[ ]] drops it; Azure refuses the job)
                    raise PipefileError(
                        f"job '{node}': input '{ref.name}' is required and not bound "
                        "(Azure ML refuses the job: only an optional input may be left out, even inside $[[ ]])",
                        loc,
                        "bind it in the job's inputs:, or declare it optional: true"
                        + (f" (at line {d.loc.line})" if d.loc and d.loc.line else ""),
                    )
                if unset and not optional:
                    why = "optional" if d.optional else "required"
                    raise PipefileError(
                        f"job '{node}': input '{ref.name}' is {why} and not bound, "
                        "but the command uses it outside $[[ ]]",
                        loc,
                        "bind it in the job's inputs:, or write the part that uses it as "
                        f"$[[... ${{{{inputs.{ref.name}}}}}]]",
                    )
            elif ref.scope == "outputs":
                if ref.name not in outputs:
                    raise PipefileError(
                        f"job '{node}': the command writes ${{{{outputs.{ref.name}}}}}, which is not declared",
                        loc,
                        did_you_mean(ref.name, outputs, "output"),
                    )
            else:
                raise PipefileError(f"job '{node}': {ref} has no meaning in an Azure ML command", loc)

    # --- environments ---------------------------------------------------------------------
    def environment(self, comp, comp_file: str, node: str) -> str:
        """The name of the environment the node runs in ("" for the calling interpreter)."""
        ref = comp.get("environment")
        loc = comp.at("environment")
        if ref is None:
            return ""
        if not isinstance(ref, (str, Map)):
            raise PipefileError(
                f"job '{node}': environment must be a reference (azureml:NAME@latest) "
                "or a mapping (image:, conda_file:)",
                loc,
            )
        text = ref if isinstance(ref, str) else ""
        keys = [text, (parse_name(text) or ("",))[0]] if text else []
        if isinstance(ref, Map) and ref.get("name"):
            keys.append(str(ref["name"]))
        for k in keys:
            if k and k in self._env_map:
                env = envs.from_map(envs.safe_name(k), self._env_map[k], self._env_map.at(k))
                return self._add_env(env)
        definition = ref if isinstance(ref, Map) else None
        docker_curated = self.options.envs == "docker" and envs.curated_image(text)
        if text.startswith("azureml:") and parse_name(text) and envs.curated(text) is None and not docker_curated:
            hint = (
                f"pipe knows the curated {', '.join(sorted(envs.CURATED))}; write the environment's YAML next to the "
                f"pipeline (or pass --azureml-assets DIR), or map it (--azureml-env-map FILE: '{text}: local')"
            )
            if envs.curated_image(text):
                hint += f", or run it in its image (--azureml-envs docker: {envs.curated_image(text)})"
            path, definition = self.resolver.by_name(text, ("environment",), "environment", loc, hint)
        if definition is not None:
            self._check_keys(
                definition,
                {
                    "image",
                    "conda_file",
                    "build",
                    "name",
                    "version",
                    "description",
                    "$schema",
                    "os_type",
                    "inference_config",
                },
                "environment",
            )

        def read_conda(raw: str, where) -> Any:
            base = getattr(where, "file", comp_file)
            path = os.path.normpath(os.path.join(os.path.dirname(base), raw))
            return yamlfile.read(path, self.sources, where.at("conda_file") if isinstance(where, Map) else loc)

        env = envs.choose(
            text, definition, self.options.envs == "docker", loc, read_conda, self.options.envs == "conda"
        )
        if env.file:
            env = spec.EnvSpec(env.name, env.type, file=self.workspace_path(env.file, loc, "conda_file:"), loc=loc)
        if env.requirements:  # (a conda file's `-r requirements.txt`)
            env = spec.EnvSpec(
                env.name,
                env.type,
                packages=env.packages,
                requirements=self.workspace_path(env.requirements, loc, "conda_file's -r"),
                loc=loc,
            )
        if env.build:
            env = spec.EnvSpec(env.name, env.type, build=self.workspace_path(env.build, loc, "build:"), loc=loc)
        return self._add_env(env)

    def _add_env(self, env: spec.EnvSpec) -> str:
        if env.type == spec.ENV_LOCAL:
            return ""
        name, n = env.name, 1
        while name in self.environments and self.environments[name] != env:
            n += 1
            name = f"{env.name}-{n}"
        if name != env.name:
            env = spec.EnvSpec(**{**env.__dict__, "name": name})
        self.environments[name] = env
        return name
