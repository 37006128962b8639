"""Deployments: a pipeline published as an immutable snapshot, and what a job of one needs.

`publish` stores, in the content store, the Pipefile and every file the steps read
that no step makes and no invocation gives (code, configs, models in the repo), and
writes a manifest (a canonical JSON object, itself in the store, whose digest names
the deployment):

    {"v": DEPLOYMENT_VERSION, "pipefile": "Pipefile", "name": ..., "files": {path: content},
     "inputs": {name: {"kind": "param"|"asset", "type", "required", "default"?, "enum"?, "min"?, "max"?,
                       "description", "path"?}},
     "outputs": {name: {"step", "output", "path", "type", "description"}},
     "steps": [names], "artifacts": {"NAME:VERSION|latest": version record},
     "object"?: the object of a Python pipeline's module, when not `pipeline`}

Params and `input: true` assets are the endpoint's inputs, `output: true` outputs its
outputs; `${{artifacts...}}` bindings are pinned to the versions they read at publish
time. `check_request` validates a request against the inputs (unknown names, types,
missing values, content that is not in the store) and `lay_out` materialises a
deployment plus a request's inputs into a job's own working folder.
"""

from __future__ import annotations

import os
from typing import Optional

from . import graph as graph_mod
from . import load as loader
from . import spec
from .artifacts import pin_artifacts, resolve_artifacts
from .bindings import IN_PATH
from .digest import FILE, TREE, Hasher, PathDigest, StatCache, canonical_json, hash_json
from .errors import PipefileError, did_you_mean, raise_all
from .jobdb.serving import Deployment, ServeStore
from .jobs import store_path
from .lazyclass import dataclass
from .load.pymodule import DEFAULT_OBJECT, is_module_ref, split_ref
from .outcomes import JobState
from .snapshot_files import (
    ModulesFound,
    env_files_outside,
    inside,
    own_modules,
    pipeline_files,
    read_from_outside,
)
from .workspace import STATE_DIR, Workspace

DEPLOYMENT_VERSION = 1


def _placeholder(typ: str):
    return {spec.NUMBER: 0.0, spec.INTEGER: 0, spec.BOOLEAN: False}.get(typ, "")


def snapshot_manifest(ws: Workspace, pipefile_path: str) -> dict:
    """Check the pipeline and store everything a deployment of it needs."""
    with ModulesFound() as found:  # (a Python pipeline imports modules of its folder)
        pf = loader.load(pipefile_path)
    errors: list = []
    pins = pin_artifacts(pf, errors)
    artifacts = resolve_artifacts(pf, errors)
    raise_all(errors)
    # Required params get a stand-in value: each invocation gives the real one.
    values = {n: (p.default if not p.required else _placeholder(p.type)) for n, p in pf.params.items()}
    graph = graph_mod.build(pf, values, check_exists=False, artifacts=artifacts)
    input_assets = {a.path: a for a in pf.assets.values() if a.input}

    hasher = Hasher(pf.root, StatCache())
    files: dict = {}
    rel_pf = os.path.relpath(pf.path, pf.root).replace(os.sep, "/")
    # A Python pipeline names one object of its module (`build.py:small`): a job must load
    # that one, not the module's default `pipeline`.
    obj = split_ref(pipefile_path)[1] if is_module_ref(pipefile_path) else DEFAULT_OBJECT
    files[rel_pf] = store_path(ws, hasher, rel_pf).to_json()
    missing = []
    for node in graph.nodes.values():
        for inp in node.inputs.values():
            if inp.kind != IN_PATH or inp.path in files or inp.artifact:
                continue
            if inp.path in input_assets or _made_by_steps(inp.path, graph):
                continue
            d = store_path(ws, hasher, inp.path)
            if d is None:
                missing.append(
                    PipefileError(
                        f"step '{node.name}' reads '{inp.path}', which does not exist, and no step makes it",
                        inp.loc,
                        "create it, or mark the asset that names it input: true so that each invocation gives it",
                    )
                )
                continue
            files[inp.path] = d.to_json()
        for c in node.step.code:
            if c.path in files or _made_by_steps(c.path, graph):
                continue
            d = store_path(ws, hasher, c.path)
            if d is None:
                missing.append(PipefileError(f"code path '{c.path}' of step '{node.name}' does not exist", c.loc))
                continue
            files[c.path] = d.to_json()
    # What the job's loader and environments read besides the steps' inputs and code: the
    # Pipefiles used as components and an imported pipeline's other files (the loader's
    # `sources`), and the environments' requirements, conda and build files. Without them
    # in the snapshot every job of the deployment fails to load, or to make its environment.
    for rel in pipeline_files(ws, pf, graph, hasher) + own_modules(pf, pipefile_path, found):
        if rel in files or _made_by_steps(rel, graph):  # (a step's output is the job's to make)
            continue
        d = store_path(ws, hasher, rel)
        if d is None:
            missing.append(PipefileError(f"'{rel}', which the pipeline reads, does not exist", None))
            continue
        files[rel] = d.to_json()
    missing += env_files_outside(pf, graph)
    raise_all(missing)

    inputs: dict = {}
    for p in pf.params.values():
        entry = {"kind": "param", "type": p.type, "required": p.required, "description": p.description}
        if not p.required:
            entry["default"] = p.default
        held = loader.held_enum(p)  # (its own enum:, and that of each input it is bound to)
        if held:
            entry["enum"] = list(held)
        low, high = loader.held_bounds(p.limits)  # (the min: and max: of the inputs it is bound to)
        if low is not None:
            entry["min"] = low
        if high is not None:
            entry["max"] = high
        inputs[p.name] = entry
    for a in pf.assets.values():
        if a.input:
            inputs[a.name] = {
                "kind": "asset",
                "type": a.type,
                "required": True,
                "description": a.description,
                "path": a.path,
            }
    outputs: dict = {}
    for node in graph.nodes.values():
        for o in node.outputs.values():
            if o.output:
                outputs[o.name] = {"step": node.name, "output": o.name, "path": o.path, "type": o.type}
    manifest = {
        "v": DEPLOYMENT_VERSION,
        "pipefile": rel_pf,
        "name": pf.name,
        "description": pf.description,
        "files": files,
        "inputs": inputs,
        "outputs": outputs,
        "steps": list(graph.nodes),
        "artifacts": pins,
    }
    if obj != DEFAULT_OBJECT:  # (only then: the snapshot of every other pipeline is unchanged)
        manifest["object"] = obj
    outside = read_from_outside(pf, found) if is_module_ref(pipefile_path) else []
    if outside:  # (only then: a job of this deployment may not find what it reads)
        # What the load reads is all the check needs (not the steps' data, which may be large).
        loaded = {rel_pf, *own_modules(pf, pipefile_path, found)}
        loaded |= {rel for rel in (inside(pf, p) for p, _digest in pf.sources) if rel is not None}
        trial = dict(manifest, files={rel: c for rel, c in files.items() if rel in loaded})
        check_copy_loads(ws, trial, outside)
    return manifest


def _made_by_steps(path: str, graph) -> bool:
    return bool(graph_mod.producer_of(path, graph.producers, sorted(graph.producers)))


def publish(
    ws: Workspace, pipefile_path: str, endpoint: str, description: str = "", set_default: bool = False
) -> tuple:
    """(Deployment, True if new): a new deployment, unless the newest one already holds
    exactly this snapshot (then that one, unchanged)."""
    manifest = snapshot_manifest(ws, pipefile_path)
    digest = ws.store.put_bytes(canonical_json(manifest))
    serve = ServeStore(ws.jobs)
    try:
        existing = serve.deployments(endpoint)
    except PipefileError:
        existing = []
    if existing and existing[-1].digest == digest and not existing[-1].disabled:
        if set_default:
            serve.set_default(endpoint, existing[-1].number)
        return existing[-1], False
    return serve.publish(endpoint, digest, manifest, description, set_default), True


_TRIAL = """\
import sys
from pipefile import load
from pipefile.errors import PipefileError
try:
    load.load(sys.argv[1])
except PipefileError as e:
    sys.stderr.write(e.render())
    sys.exit(3)
"""


def check_copy_loads(ws: Workspace, manifest: dict, outside: list) -> None:
    """Load the snapshot's copy of a Python pipeline in a folder of its own, in a fresh
    interpreter (as a job will, with nothing of the workspace on its path), when its load
    read files outside the workspace (`outside`): a copy that fails to load is refused now,
    naming those files, instead of every job of the deployment failing."""
    import shutil
    import subprocess
    import sys
    import tempfile

    # (The system's temporary folder: a publish killed meanwhile leaves nothing in the workspace.)
    tmp = tempfile.mkdtemp(prefix="pipe-publish-check-")
    try:
        path = lay_out(ws, manifest, {}, tmp)
        env = dict(os.environ)
        # this pipe's own code, whatever copy of pipefile the interpreter would find first
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        r = subprocess.run(
            [sys.executable, "-c", _TRIAL, path], cwd=tmp, env=env, capture_output=True, text=True, errors="replace"
        )
        if r.returncode == 0:
            return
        # its message, not its hint (the fix is the one below)
        lines = [line for line in r.stderr.strip().splitlines() if not line.lstrip().startswith("hint:")]
        why = (" ".join(lines) or f"exit status {r.returncode}").replace(tmp + os.sep, "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rel = manifest["pipefile"]
    files = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
    raise PipefileError(
        f"{rel}: a job could not load the published copy of this pipeline, which reads {files} "
        f"from outside the workspace (the Pipefile's folder, all a deployment's snapshot holds); "
        f"loaded from the snapshot, it fails: {why}",
        hint="move what it reads into the workspace and import or read it from there (a deployment "
        "then pins it), or install it as a package where pipe serve runs",
    )


# --- requests ---------------------------------------------------------------------------
class RequestError(PipefileError):
    """A request that does not fit the deployment: the client's to fix (HTTP 422)."""

    def __init__(self, message: str, hint: Optional[str] = None, field: str = ""):
        super().__init__(message, hint=hint)
        self.field = field


@dataclass
class CheckedRequest:
    params: dict  # every param's value (given or default)
    assets: dict  # input asset name -> PathDigest json, plus "source"
    digest: str  # what makes two requests the same job: deployment, params, input contents


def _fits(value, typ: str):
    """The value as the param's type, or None when it does not fit (JSON is typed: no
    conversion from text). A string must not hold NUL (no command line can carry one);
    a number must be finite; an integer must fit in 64 bits."""
    if typ == spec.NUMBER and isinstance(value, (int, float)) and not isinstance(value, bool):
        import math

        try:
            number = float(value)
        except OverflowError:  # an integer past what a float holds
            return None
        return number if math.isfinite(number) else None
    if typ == spec.INTEGER and spec.value_fits(value, typ):
        return value if -(2**63) <= value < 2**63 else None
    if typ == spec.STRING and spec.value_fits(value, typ):
        return value if "\0" not in value else None
    if spec.value_fits(value, typ):
        return value
    return None


def check_request(
    ws: Workspace,
    serve: ServeStore,
    dep: Deployment,
    inputs: dict,
    may_read_job=lambda job: True,
    uploader: Optional[str] = None,
    artifact_viewer: Optional[str] = None,
) -> CheckedRequest:
    """Validate `inputs` against the deployment's input schema; every problem at once.
    `may_read_job(job)`: whether the caller may read that job's outputs (job_output);
    `uploader`: the token whose uploads the caller may name (None: any upload);
    `artifact_viewer`: the token whose view of artifact versions applies (None: all)."""
    schema = dep.manifest.get("inputs", {})
    if not isinstance(inputs, dict):
        raise RequestError("inputs must be an object of input names to values", field="inputs")
    errors: list = []
    params: dict = {}
    assets: dict = {}
    for name, given in inputs.items():
        decl = schema.get(name)
        if decl is None:
            errors.append(
                RequestError(
                    f"deployment {dep.number} of endpoint '{dep.endpoint}' has no input '{name}'",
                    did_you_mean(name, schema, "input") or "it takes no inputs",
                    f"inputs.{name}",
                )
            )
            continue
        if decl["kind"] == "param":
            v = _fits(given, decl["type"])
            if v is None:
                errors.append(
                    RequestError(
                        f"input '{name}' is a param of type {decl['type']}, and {_short(given)} is not one",
                        _TYPE_HINT.get(decl["type"]),
                        f"inputs.{name}",
                    )
                )
                continue
            choices = decl.get("enum")
            if isinstance(choices, list) and choices and v not in choices:
                errors.append(
                    RequestError(
                        f"input '{name}' is {_short(v)}, which is not one of its enum values",
                        loader.enum_hint(v, choices),
                        f"inputs.{name}",
                    )
                )
                continue
            why = loader.out_of_bounds(v, decl.get("min"), decl.get("max"))  # ("": inside, or no number)
            if why:  # (a job given it would fail at load, after the request was taken: a 400, as -p's is refused)
                errors.append(
                    RequestError(
                        f"input '{name}' is {_short(v)}, {why}",
                        loader.bounds_hint(decl.get("min"), decl.get("max")),
                        f"inputs.{name}",
                    )
                )
                continue
            params[name] = v
        else:
            try:
                assets[name] = _content_of(ws, serve, name, decl, given, may_read_job, uploader, artifact_viewer)
            except RequestError as e:
                errors.append(e)
    for name, decl in schema.items():
        if name in inputs:
            continue
        if decl["kind"] == "param" and "default" in decl:
            params[name] = decl["default"]
        else:
            how = (
                "a value"
                if decl["kind"] == "param"
                else '{"upload": DIGEST}, {"artifact": "NAME:VERSION"} or {"job_output": "JOB/OUTPUT"}'
            )
            errors.append(RequestError(f"input '{name}' is required", f'give it: "{name}": {how}', f"inputs.{name}"))
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise RequestError(
            "; ".join(e.message for e in errors),
            "; ".join(e.hint for e in errors if e.hint),
            ",".join(e.field for e in errors),
        )
    digest = hash_json([dep.digest, params, {n: [a["kind"], a["digest"]] for n, a in sorted(assets.items())}])
    return CheckedRequest(params, assets, digest)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


_TYPE_HINT = {
    spec.NUMBER: "give a JSON number, e.g. 0.7",
    spec.INTEGER: "give a whole JSON number (64-bit), e.g. 5",
    spec.BOOLEAN: "give true or false",
    spec.STRING: "give a JSON string (without NUL characters)",
}


def _content_of(
    ws: Workspace,
    serve: ServeStore,
    name: str,
    decl: dict,
    given,
    may_read_job,
    uploader: Optional[str] = None,
    artifact_viewer: Optional[str] = None,
) -> dict:
    field = f"inputs.{name}"
    if not isinstance(given, dict) or len(given) != 1 or next(iter(given)) not in ("upload", "artifact", "job_output"):
        raise RequestError(
            f"input '{name}' is data ({decl['type'] or 'a file or folder'}): give exactly one of "
            f"upload, artifact or job_output",
            f'e.g. "{name}": {{"upload": "DIGEST"}} (POST /v1/uploads returns the digest)',
            field,
        )
    ((how, ref),) = given.items()
    if not isinstance(ref, str) or not ref:
        raise RequestError(f"input '{name}': {how} must be a non-empty string", None, field)
    if how == "upload":
        up = serve.upload(ref, uploader)
        if up is None:  # (also when another token sent it: the answer tells nothing of theirs)
            raise RequestError(f"input '{name}': no upload {ref}", "upload the data first: POST /v1/uploads", field)
        content = PathDigest(up[0], ref, up[1])
        source = f"upload:{ref}"
    elif how == "artifact":
        aname, _, ver = ref.partition(":")
        try:
            # Another token's versions answer as absent, as its uploads do.
            v = ws.jobs.artifact(aname, int(ver) if ver and ver != "latest" else None, viewer=artifact_viewer)
        except (PipefileError, ValueError, OverflowError) as e:
            raise RequestError(f"input '{name}': {getattr(e, 'message', e)}", getattr(e, "hint", None), field) from None
        content = PathDigest(v.kind, v.digest, v.size)
        source = f"artifact:{v.ref}"
    else:
        job_ref, _, oname = ref.partition("/")
        content = job_output(ws, serve, job_ref, oname, field, may_read_job)
        source = f"job_output:{ref}"
    if not ws.store.complete(content):
        raise RequestError(
            f"input '{name}': the content of {source} is no longer complete in the store", "upload it again", field
        )
    want = decl.get("type")
    if (want == spec.URI_FILE and content.kind != FILE) or (want == spec.URI_FOLDER and content.kind != TREE):
        got = "a folder" if content.kind == TREE else "a file"
        raise RequestError(
            f"input '{name}' is a {want}, but {source} is {got}",
            "upload a tar or zip archive for a folder, a plain file otherwise",
            field,
        )
    return dict(content.to_json(), source=source)


def job_output(
    ws: Workspace, serve: ServeStore, job_ref: str, oname: str, field: str = "", may_read_job=lambda job: True
) -> PathDigest:
    """The content of endpoint output `oname` of a completed served job."""
    try:
        job = ws.jobs.get(int(job_ref))
        if not may_read_job(job):
            raise PipefileError("not visible")  # answered as if there were no such job
    except (PipefileError, ValueError, OverflowError):
        raise RequestError(
            f"no job '{job_ref}'", "write JOB/OUTPUT with a job id, e.g. 12/predictions", field
        ) from None
    if job.state != JobState.COMPLETED or not job.endpoint:
        raise RequestError(
            f"job {job.id} is not a completed endpoint job (it is {job.state or job.status})",
            "wait for it to complete",
            field,
        )
    dep = serve.deployment(job.endpoint, job.deployment)
    out = dep.manifest.get("outputs", {}).get(oname)
    if out is None:
        raise RequestError(
            f"job {job.id} has no output '{oname}'",
            did_you_mean(oname, dep.manifest.get("outputs", {}), "output"),
            field,
        )
    rec = ws.jobs.step_record(job.id, out["step"])
    o = (rec.outputs if rec else {}).get(out["output"], {})
    if "digest" not in o:
        raise RequestError(f"job {job.id} recorded no content for output '{oname}'", None, field)
    return PathDigest.from_json(o)


# --- a job's working folder --------------------------------------------------------------
def lay_out(ws: Workspace, manifest: dict, assets: dict, dest: str) -> str:
    """Materialise a deployment's files and a request's input data under `dest` (a new
    folder); returns the Pipefile's path there."""
    os.makedirs(os.path.join(dest, STATE_DIR, "scratch"), exist_ok=True)
    scratch = os.path.join(dest, STATE_DIR, "scratch")
    for rel, content in sorted(manifest["files"].items()):
        ws.store.materialize(PathDigest.from_json(content), os.path.join(dest, rel), scratch)
    for name, content in assets.items():
        rel = manifest["inputs"][name]["path"]
        ws.store.materialize(PathDigest.from_json(content), os.path.join(dest, rel), scratch)
    path = os.path.join(dest, manifest["pipefile"])
    return f"{path}:{manifest['object']}" if manifest.get("object") else path
