"""Cloning a job: its Pipefile, params, code and source data written back out as a new
workspace that uses the original's store, so that running it unchanged restores
every step instead of running it.

What a clone holds (see docs/store.md):

- the job's Pipefile, from its snapshot in the content store, with the job's resolved
  params written in as the params' defaults (so a plain `pipe run` uses them), and a
  comment line on top saying where it came from; each `${{artifacts.NAME}}` (latest)
  binding is pinned to the version that job read (`${{artifacts.NAME:V}}`);
- every `code:` file and folder, from the job's snapshot;
- the source data the Pipefile reads (assets, plain path inputs, path defaults): the
  content the job read, from the store if it is there (named assets), else copied
  from the original workspace; where the original has changed since, its current
  content is copied and a warning says which steps will therefore run;
- `.pipe/clone.json`: the job it came from, the original's store, and the original's
  job of each artifact version copied into the clone (for lineage).

The clone is built in a temporary folder beside the destination and renamed into
place, so a failure never leaves half a clone, and it never writes into a folder that
holds anything; the folder of a clone killed half way is removed by the next clone into
the same place (`_start_build`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
from dataclasses import field
from typing import Any, Optional

from . import load as loader
from . import names, spec
from .clone_text import comment, param_flags, pin_artifacts, set_param_defaults
from .digest import IGNORED_NAMES, IGNORED_SUFFIXES, Hasher, PathDigest, canonical_json
from .errors import PipefileError
from .jobdb.records import Job
from .lazyclass import dataclass
from .workspace import CLONE_FILE, CLONE_VERSION, STATE_DIR, Workspace


@dataclass
class CloneResult:
    job: Job
    dest: str
    pipefile: str  # relative to dest
    code: list = field(default_factory=list)  # code paths written from the snapshot
    sources: list = field(default_factory=list)  # (path, "store" | "copied" | "changed" | "missing")
    params_set: list = field(default_factory=list)  # params whose default now is the job's value
    pinned: list = field(default_factory=list)  # "STEP.INPUT=NAME:VERSION": latest bindings pinned
    run_params: list = field(default_factory=list)  # "NAME=VALUE" for -p: a Python pipeline's params
    warnings: list = field(default_factory=list)

    @property
    def run_command(self) -> str:
        """The command that runs the clone, from inside it."""
        flags = "".join(f" -p {shlex.quote(p)}" for p in self.run_params)
        if self.pipefile in loader.DEFAULT_NAMES:  # the clone holds no other Pipefile: found by name
            return "pipe run" + flags
        return f"pipe run -f {shlex.quote(self.pipefile)}" + flags

    def to_json(self) -> dict:
        return {
            "job": self.job.id,
            "uid": self.job.uid,
            "dest": self.dest,
            "pipefile": self.pipefile,
            "run": self.run_command,
            "code": self.code,
            "sources": [{"path": p, "from": how} for p, how in self.sources],
            "params_set": self.params_set,
            "artifacts_pinned": self.pinned,
            "run_params": self.run_params,
            "warnings": self.warnings,
        }


def git_top(path: str) -> Optional[str]:
    """The top folder of the git work tree that holds `path` (a `.git` folder or file found
    going up), or None."""
    here = os.path.abspath(path)
    while True:
        if os.path.lexists(os.path.join(here, ".git")):
            return here
        up = os.path.dirname(here)
        if up == here:
            return None
        here = up


def default_dest(ws: Workspace, job: Job) -> str:
    """Outside the repository: beside the git work tree that holds the workspace, named after
    it, the workspace's folder in it and the job (../proj-ml-job41 for proj/ml); beside the
    workspace when it is in no git work tree (../proj-job41). Never inside the repository,
    where the clone would show in `git status` and could be committed by accident."""
    root = os.path.abspath(ws.root)
    top = git_top(root) or root
    inner = os.path.relpath(root, top)
    name = os.path.basename(top) + ("" if inner == "." else "-" + inner.replace(os.sep, "-"))
    return os.path.join(os.path.dirname(top), f"{name}-job{job.id}")


def inside_repository(ws: Workspace, dest: str) -> Optional[str]:
    """The git work tree of the workspace if `dest` lies inside it, else None."""
    top = git_top(ws.root)
    if top is None:
        return None
    real_top, real_dest = os.path.realpath(top), os.path.realpath(dest)
    return top if real_dest == real_top or real_dest.startswith(real_top + os.sep) else None


def check_dest(dest: str) -> None:
    if not names.is_utf8(os.path.abspath(dest)):  # (it becomes a workspace: refused before writing it)
        raise names.not_utf8(os.path.abspath(dest), "the clone's folder", hint="give -o a folder whose path is UTF-8")
    if os.path.lexists(dest):
        if not os.path.isdir(dest) or os.path.islink(dest):
            raise PipefileError(
                f"'{dest}' already exists and is not a folder",
                hint="choose a new folder with -o DIR; pipe clone never writes over your files",
            )
        if os.listdir(dest):
            raise PipefileError(
                f"'{dest}' already exists and is not empty",
                hint="choose a new (or empty) folder with -o DIR; pipe clone never writes over your files",
            )


def clone_job(ws: Workspace, ref: str, dest: Optional[str] = None) -> CloneResult:
    """Write job `ref` of workspace `ws` out as a new workspace at `dest`."""
    job = ws.jobs.resolve(ref)
    dest = os.path.abspath(dest or default_dest(ws, job))
    check_dest(dest)
    if not job.pipefile_digest:
        raise PipefileError(f"job {job.id} has no Pipefile snapshot", hint="clone a job recorded by `pipe run`")
    needed = [(job.pipefile, PathDigest("file", job.pipefile_digest, 0))]
    needed += [(p, PathDigest.from_json(d)) for p, d in sorted(job.code.items())]
    for path, d in needed:
        if not ws.store.complete(d):
            raise PipefileError(
                f"job {job.id}'s snapshot of '{path}' is no longer in the store at {ws.store_root}",
                hint="it was deleted (by `pipe gc --keep-last`, or by hand); that job cannot be cloned",
            )
    result = CloneResult(job, dest, job.pipefile + _pipeline_object(job))
    inside = inside_repository(ws, dest)
    if inside is not None:
        result.warnings.append(
            f"the clone is inside the git repository {inside}: git status shows its files and a "
            f"commit could take them; remove it and clone elsewhere (the default, -o left out, is "
            f"outside), or add it to .gitignore"
        )
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
        build, held = _start_build(parent)
    except OSError as e:  # (a file on the way, /proc, no permission: the user's to fix)
        raise PipefileError(
            f"cannot write the clone at {dest}: {e.filename or parent}: {e.strerror or e}",
            hint="give -o a folder that can be made and written",
        ) from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(build, 0o777 & ~umask)  # an ordinary folder, not mkdtemp's private one
        _write_pipefile(ws, job, build, result)
        _copy_sources(ws, job, build, result)
        for path, d in needed[1:]:
            ws.store.materialize(d, os.path.join(build, path), build)
            result.code.append(path)
        _python_steps_changed(ws, job, build, result)
        state = os.path.join(build, STATE_DIR)
        os.makedirs(state, exist_ok=True)
        with open(os.path.join(state, ".gitignore"), "w") as f:
            f.write("# pipe's own state: never commit it\n*\n")
        origin = {
            "v": CLONE_VERSION,
            "job": job.id,
            "uid": job.uid,
            "experiment": job.experiment,
            "workspace": os.path.abspath(ws.root),
            "store": ws.store_root,
            # the original's job of each artifact version copied below (there, not here)
            "artifacts": {v.ref: v.job_id for v in ws.jobs.artifacts() if v.job_id is not None},
        }
        with open(os.path.join(state, CLONE_FILE), "w") as f:
            json.dump(origin, f, indent=2, sort_keys=True)
            f.write("\n")
        if os.path.isdir(dest):
            os.rmdir(dest)  # empty, checked above
        os.replace(build, dest)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    finally:
        _end_build(build, held)
    clone = Workspace(dest, create=True)  # registers the clone in the shared store
    try:
        for v in ws.jobs.artifacts():
            # The same version numbers, so ${{artifacts.NAME:N}} reads the same content.
            clone.jobs.add_version(v.name, v.kind, v.digest, v.size, v.path, None, v.step, v.output)
    finally:
        clone.close()
    return result


# --- the folder a clone is built in ----------------------------------------------------------
_BUILDING = ".pipe-clone-"


def _start_build(parent: str) -> tuple:
    """(folder, fd): a new folder beside the destination to build the clone in. Its lock file
    (FOLDER.lock, made first, flocked while the clone is built, removed after the folder is
    renamed or removed) tells a later clone into `parent` that one without a live holder is a
    killed clone's: that one removes it."""
    _remove_killed(parent)
    while True:
        build = os.path.join(parent, _BUILDING + os.urandom(4).hex())
        try:
            fd = os.open(build + ".lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        os.mkdir(build, 0o700)
    except BaseException:
        _end_build(build, fd)
        raise
    return build, fd


def _end_build(build: str, fd: int) -> None:
    try:
        os.unlink(build + ".lock")
    except OSError:
        pass
    os.close(fd)


def _remove_killed(parent: str) -> None:
    """Remove what clones killed half way (kill -9) left in `parent`: each folder whose lock
    no one holds, and the lock. A clone under way holds its lock: left alone."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(_BUILDING) and n.endswith(".lock")]
    except OSError:
        return
    for name in names:
        lock = os.path.join(parent, name)
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a clone under way
            continue
        shutil.rmtree(lock[: -len(".lock")], ignore_errors=True)
        _end_build(lock[: -len(".lock")], fd)


# --- the Pipefile and its params -------------------------------------------------------------
def _write_pipefile(ws: Workspace, job: Job, build: str, result: CloneResult) -> None:
    text = ws.store.read(job.pipefile_digest).decode("utf-8")
    path = os.path.join(build, job.pipefile)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _copy_read_files(ws, job, build)
    _write(path, text)
    # A Python pipeline (build.py[:NAME]) is no YAML to edit (it was read as one: exit 70), and an
    # Azure ML one has no params: mapping (its params are its inputs): their params go to the run
    # command (-p). A Python pipeline's latest artifact bindings stay as written.
    python = job.pipefile.endswith(".py")
    pf, _errors = loader.load_lenient(os.path.join(build, result.pipefile))
    changed = {
        n: job.params[n]
        for n, p in pf.params.items()
        if n in job.params and (p.default is spec.MISSING or _same(p.default, job.params[n]) is False)
    }
    written = set_param_defaults(text, changed) if changed and not python else text
    if changed and written == text:
        result.run_params = param_flags(changed)
    text = written
    pins = {} if python else artifact_pins(ws, job, pf, result.warnings)
    if pins:
        text = pin_artifacts(text, pins)
    root_where = os.path.abspath(ws.root)
    done = (["params set to that job's values"] if changed and not result.run_params else []) + (
        ["artifacts pinned to the versions it read"] if pins else []
    )
    header = f"Cloned by `pipe clone` from job {job.id} ({job.uid}) of {root_where}"
    header = comment(header + (("; " + "; ".join(done) + ".") if done else "."))
    if result.run_params:  # (on a line of its own: a full stop after it would read as part of a value)
        header += comment(f"Run it with that job's params: {result.run_command}")
    _write(path, header + text)
    pf, _errors = loader.load_lenient(os.path.join(build, result.pipefile))
    got = loader.resolve_params(pf, loader.parse_param_overrides(pf, result.run_params), [])
    want = {n: v for n, v in job.params.items() if n in pf.params}
    if canonical_json(got) != canonical_json(want):
        raise PipefileError(
            f"could not write job {job.id}'s params into the cloned {job.pipefile}",
            hint=f"nothing was cloned; `pipe jobs show {job.id}` lists its params, to give the pipeline with "
            "-p NAME=VALUE",
        )
    for (step, iname), (name, version) in sorted(pins.items()):
        st = pf.steps.get(step)
        b = st.inputs.get(iname) if st is not None else None
        if b is None or b.kind != spec.BIND_ARTIFACT or b.ref != name or b.version != str(version):
            raise PipefileError(
                f"could not pin input '{iname}' of step '{step}' to {name}:{version} in the cloned {job.pipefile}",
                hint=f"clone it, then bind ${{{{artifacts.{name}:{version}}}}} there by hand",
            )
    result.params_set = [] if result.run_params else sorted(changed)
    result.pinned = [f"{step}.{iname}={name}:{version}" for (step, iname), (name, version) in sorted(pins.items())]


def _python_steps_changed(ws: Workspace, job: Job, build: str, result: CloneResult) -> None:
    """A Python pipeline's clone runs its module and the modules it imports as they are now (a
    job keeps no copy of them): where they now build other commands than the job ran, the clone
    would silently run those under the job's name. Say so, naming the steps."""
    if not job.pipefile.endswith(".py"):
        return
    from . import graph as graph_mod

    try:
        pf, errors = loader.load_lenient(os.path.join(build, result.pipefile))
        values = loader.resolve_params(pf, loader.parse_param_overrides(pf, result.run_params, errors), errors)
        nodes = graph_mod.build(pf, values, check_exists=False).nodes if not errors else {}
    except (PipefileError, OSError, ValueError):
        nodes = {}
    changed = ran_otherwise(nodes, ws.jobs.steps(job.id)) if nodes else []
    if changed or not nodes:
        now = "no pipeline they load" if not nodes else "other steps: " + "; ".join(changed[:3])
        more = f"; and {len(changed) - 3} more" if len(changed) > 3 else ""
        commit = f": check its files out at the job's commit ({job.git_commit[:12]})" if job.git_commit else ""
        result.warnings.append(
            f"job {job.id} ran a Python pipeline, whose modules are copied as they are now (a job keeps no "
            f"copy of them), and they now build {now}{more}. The clone cannot run what job {job.id} ran{commit}"
        )


def ran_otherwise(nodes: dict, steps: list) -> list:
    """Of a job's recorded `steps`, those the graph `nodes` built now runs another command
    for (or has no step for), each said as "'STEP' ran `...`, the clone runs `...`"."""
    from . import graph as graph_mod

    changed = []
    for s in steps:
        node = nodes.get(s.step)
        if node is None and s.step.split("[")[0] in nodes:
            continue  # (a task of a map over a folder: made when it runs)
        now = graph_mod.render_command(node) if node is not None else None
        now = shlex.join(now) if isinstance(now, list) else now
        if now != s.command:
            changed.append(f"'{s.step}' ran `{s.command}`, " + (f"the clone runs `{now}`" if node else "now no step"))
    return changed


def _pipeline_object(job: Job) -> str:
    """ ":NAME" when the job ran the object NAME of its Python pipeline (`-f build.py:NAME`; the
    record keeps the file, and the name only in the command line), else ""."""
    args = list(job.argv)
    for i, arg in enumerate(args):
        if arg in ("-f", "--file"):
            given = args[i + 1] if i + 1 < len(args) else ""
        else:
            given = arg[7:] if arg.startswith("--file=") else arg[2:] if arg.startswith("-f") else ""
        path, _, name = given.rpartition(":")
        if name and path.endswith(".py") and os.path.basename(path) == os.path.basename(job.pipefile):
            return ":" + name
    return ""


def _copy_read_files(ws: Workspace, job: Job, build: str) -> None:
    """The files an imported pipeline (docs/azureml.md) or a Python one (docs/dsl.md) is read
    from besides the job's snapshot: the original workspace's copies inside it, as they are now."""
    from .snapshot_files import files_read

    root = os.path.realpath(ws.root)
    for source in files_read(os.path.join(ws.root, job.pipefile)):
        rel = os.path.relpath(os.path.realpath(source), root)
        if rel.startswith("..") or rel == job.pipefile or os.path.lexists(os.path.join(build, rel)):
            continue
        _copy(source, os.path.join(build, rel))


_ARTIFACT_PATH = re.compile(r"^" + re.escape(STATE_DIR) + r"/artifacts/(?P<name>[^/]+)/(?P<version>[0-9]+)$")


def artifact_pins(ws: Workspace, job: Job, pf: spec.Pipefile, warnings: list) -> dict:
    """{(step, input): (name, version)}: the version each latest ${{artifacts.NAME}}
    binding of the Pipefile read in `job` (its step records hold the bound path
    .pipe/artifacts/NAME/VERSION)."""
    pins: dict = {}
    for st in pf.steps.values():
        for iname, b in st.inputs.items():
            if b.kind != spec.BIND_ARTIFACT or b.version:
                continue
            rec = ws.jobs.step_record(job.id, st.name)
            inp = (rec.inputs or {}).get(iname) if rec is not None else None
            m = _ARTIFACT_PATH.match(inp.get("path") or "") if isinstance(inp, dict) else None
            if m is None or m.group("name") != b.ref:
                warnings.append(
                    f"input '{iname}' of step '{st.name}' reads the latest '{b.ref}', and job {job.id} "
                    "has no record of which version it read; left unpinned (it will read the newest)"
                )
                continue
            pins[(st.name, iname)] = (b.ref, int(m.group("version")))
    return pins


def _same(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- source data -----------------------------------------------------------------------------
def source_paths(pf: spec.Pipefile) -> list:
    """Paths the Pipefile reads that no step writes (assets, plain path inputs, path
    defaults), outermost first; `code:` paths are not among them."""
    outputs = [o.path for st in pf.steps.values() for o in st.outputs.values()]
    code = {c.path for st in pf.steps.values() for c in st.code}
    paths = {a.path for a in pf.assets.values()}
    for st in pf.steps.values():
        for b in st.inputs.values():
            if b.kind == spec.BIND_PATH and b.ref:
                paths.add(b.ref)
        for decl in st.input_decls.values():
            if decl.type in spec.PATH_TYPES and isinstance(decl.default, str) and decl.default:
                paths.add(decl.default)

    def overlaps(p: str, q: str) -> bool:
        return p == q or p.startswith(q + "/") or q.startswith(p + "/")

    out: list = []
    for p in sorted(paths):
        if p in code or any(overlaps(p, o) for o in outputs):
            continue
        if any(p.startswith(q + "/") for q in out):
            continue  # inside a folder copied whole
        out.append(p)
    return out


def _copy_sources(ws: Workspace, job: Job, build: str, result: CloneResult) -> None:
    pf, _errors = loader.load_lenient(os.path.join(build, job.pipefile))
    recorded: dict = {}
    for s in ws.jobs.steps(job.id):
        for name, d in (s.inputs or {}).items():
            if not name.startswith("code:") and isinstance(d, dict) and d.get("path") and d.get("digest"):
                recorded[d["path"]] = PathDigest.from_json(d)
    hasher = Hasher(ws.root, ws.state.stat_cache())
    for path in source_paths(pf):
        dst = os.path.join(build, path)
        rec = recorded.get(path)
        if rec is not None and ws.store.complete(rec):
            ws.store.materialize(rec, dst, build)
            result.sources.append((path, "store"))
            continue
        src = os.path.join(ws.root, path)
        if not os.path.lexists(src):
            result.sources.append((path, "missing"))
            result.warnings.append(
                f"'{path}' is not in the original workspace any more; put it in the clone "
                "before running the steps that read it"
            )
            continue
        current = hasher.digest(path)
        _copy(src, dst)
        if rec is not None and (current is None or not current.same_content(rec)):
            result.sources.append((path, "changed"))
            result.warnings.append(
                f"'{path}' changed since job {job.id} read it (and that content is not in "
                "the store); copied the current one, so the steps that read it will run"
            )
        else:
            result.sources.append((path, "copied"))


def _ignored(_folder: str, names: list) -> list:
    return [n for n in names if n in IGNORED_NAMES or n.endswith(IGNORED_SUFFIXES)]


def _copy(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True, ignore=_ignored)
    else:
        shutil.copy2(src, dst)
