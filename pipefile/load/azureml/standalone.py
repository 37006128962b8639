"""A standalone Azure ML job YAML (what `az ml job create -f job.yml` takes: `type: command`
or `type: sweep` at its top level, no `jobs:`) read as a pipeline of that one job, named after
the file (docs/azureml.md#standalone-jobs).

Its literal inputs become the pipeline's inputs, so `-p NAME=VALUE` sets them as Azure's
`--set inputs.NAME=VALUE` does. A sweep job's inline `trial:` declares no inputs: its command
reads the sweep's inputs (`${{inputs.X}}`) and the sampled values (`${{search_space.X}}`), so
the trial is given a component's declarations of both and its command reads them as inputs.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ...errors import PipefileError, did_you_mean
from .yamlfile import Map, empty

JOB_TYPES = ("command", "sweep")
_TYPE = re.compile(r"(?m)^type:\s*['\"]?(command|sweep)['\"]?\s*(#.*)?$")
_COMPONENT_SCHEMA = re.compile(r"(?m)^\$schema:.*Component\.schema\.json")
_SEARCH_SPACE = re.compile(r"\$\{\{\s*search_space\.([A-Za-z_][\w\-]*)\s*\}\}")


def looks_like(text: str) -> bool:
    """An Azure ML pipeline job (`type: pipeline` and `jobs:` at its top level), or a command
    or sweep job at the top level (a component file, which says so in its `$schema`, is no
    job: a job uses it)."""
    jobs = re.search(r"(?m)^jobs:", text)
    if jobs:
        return bool(re.search(r"(?m)^type:\s*['\"]?pipeline['\"]?\s*(#.*)?$", text))
    return bool(_TYPE.search(text)) and not _COMPONENT_SCHEMA.search(text)


def is_job(top: Any) -> bool:
    return isinstance(top, Map) and top.get("type") in JOB_TYPES and "jobs" not in top


def node_name(path: str) -> str:
    """The job's step name: its file's name without .yml, as a job name may be spelt."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.splitext(os.path.basename(path))[0])
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def as_pipeline(top: Map, path: str) -> Map:
    """`top` (a command or sweep job) as a pipeline job of one job."""
    inputs = top.get("inputs")
    if inputs is not None and not isinstance(inputs, Map):
        raise PipefileError("inputs: must be a mapping", top.at("inputs"))
    job = _copy(top, top)
    lifted = _copy(top, {})  # the job's inputs, as the pipeline's
    if isinstance(inputs, Map):
        job["inputs"] = _copy(inputs, {n: "${{parent.inputs.%s}}" % n for n in inputs})
        lifted["inputs"], lifted.locs["inputs"] = inputs, top.at("inputs")
    if top.get("type") == "sweep" and isinstance(top.get("trial"), Map):
        job["trial"] = _trial(top, top["trial"], inputs if isinstance(inputs, Map) else empty())
    name = node_name(path)
    lifted.update(type="pipeline", jobs=_copy(top, {name: job}))
    lifted.locs.update(jobs=top.loc)
    lifted["jobs"].locs[name] = top.loc
    for key in ("display_name", "description", "settings"):
        if key in top:
            lifted[key], lifted.locs[key] = top[key], top.at(key)
    return lifted


def _trial(sweep: Map, trial: Map, inputs: Map) -> Map:
    """The inline trial with the declarations of a component: the sweep's inputs and its
    search space, each typed; `${{search_space.X}}` in its command read as `${{inputs.X}}`."""
    comp = _copy(trial, trial)
    comp.setdefault("type", "command")
    decls = _copy(inputs if inputs else trial, {})
    for name, v in inputs.items():
        decls[name], decls.locs[name] = _decl(_type_of(v), inputs.at(name)), inputs.at(name)
    space = sweep["search_space"] if isinstance(sweep.get("search_space"), Map) else empty()
    for name, d in space.items():
        if name in decls:
            raise PipefileError(
                f"search_space of the sweep job: '{name}' is also one of its inputs",
                space.at(name),
                "name the sampled value apart from the inputs",
            )
        decls[name], decls.locs[name] = _decl(_sampled_type(d), space.at(name)), space.at(name)
    comp["inputs"], comp.locs["inputs"] = decls, trial.at("inputs") if "inputs" in trial else trial.loc
    outputs = sweep.get("outputs")
    if isinstance(outputs, Map):  # declared where the sweep binds them; trials write them
        comp["outputs"], comp.locs["outputs"] = outputs, sweep.at("outputs")
    if isinstance(comp.get("command"), str):
        for m in _SEARCH_SPACE.finditer(comp["command"]):
            if m.group(1) not in space:  # (said as what it is, not as the input it is read as)
                raise PipefileError(
                    f"the trial's command reads {m.group(0)}, which the search_space does not define",
                    trial.at("command"),
                    did_you_mean(m.group(1), space, "search space") or "add it under search_space:",
                )
        comp["command"] = _SEARCH_SPACE.sub(lambda m: "${{inputs.%s}}" % m.group(1), comp["command"])
    return comp


def _type_of(v) -> str:
    if isinstance(v, Map):
        if isinstance(v.get("type"), str):
            return v["type"]
        return "uri_folder" if "path" in v else _type_of(v.get("value", v.get("default")))
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    return "number" if isinstance(v, float) else "string"


def _sampled_type(d) -> str:
    kind = d.get("type") if isinstance(d, Map) else None
    q = d.get("q") if isinstance(d, Map) else None
    if kind == "randint" or (isinstance(kind, str) and kind.startswith("q") and isinstance(q, int) and q is not True):
        return "integer"  # (a multiple of a whole q is a whole number: expand.draw)
    if kind != "choice":
        return "number"  # (uniform, loguniform, normal ...; what is refused is said by sweep.py)
    values = d.get("values") if isinstance(d.get("values"), list) else []
    types = {_type_of(v) for v in values}
    if types <= {"integer", "number"} and types:
        return "number" if "number" in types else "integer"
    return types.pop() if len(types) == 1 else "string"


def _decl(typ: str, loc) -> Map:
    out = Map(type=typ)
    out.loc, out.locs, out.file = loc, {"type": loc}, ""
    return out


def _copy(like: Map, items) -> Map:
    """A Map of `items` placed where `like` is (its positions, for the keys it has)."""
    out = Map(items)
    out.loc, out.file = like.loc, like.file
    out.locs = {k: like.locs[k] for k in out if k in like.locs}
    return out
