"""A loaded pipeline in its workspace: the glue between the CLI (and later the
server) and the layers below. Loads and validates the Pipefile, builds the
graph, opens `.pipe/`, plans, and runs the plan with an executor.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import tempfile
from typing import Iterable, Optional

from . import __version__, spec
from . import load as loader
from . import graph as graph_mod
from .digest import FILE, TREE, Hasher, PathDigest, StatCache, hash_bytes, hash_json
from .envs import EnvironmentSet
from .envs import gpus as gpus_mod
from .errors import PipefileError, raise_all
from .executor import DryRunExecutor, LocalExecutor
from .jobs import Fanout, GitProbe, JobRecorder, begin_job, job_status
from .planner import Plan, Planner, left_on_remote
from .scheduler import RunSummary, Scheduler
from .store import STATE_DIR, Workspace
from .store.jobs import INTERRUPTED
from .store.lock import disk_errors


def load_graph(pipefile_path: Optional[str], params: Iterable[str] = (), cwd: str = ".", freeze: bool = True,
               values: Optional[dict] = None, pinned: Optional[dict] = None,
               workspace: Optional[Workspace] = None) -> graph_mod.Graph:
    """Load, validate and build the graph, reporting every problem found in one go.

    freeze=False for a long-lived process (the server), whose specs come and go.
    `values`: typed param values (the server's, already checked) instead of `params`
    text. `pinned` {"NAME:VERSION" or "NAME:latest": version record}: artifact bindings
    fixed when a deployment was published, materialised into `workspace`."""
    path = pipefile_path or loader.find_pipefile(cwd)
    # Loading allocates tens of thousands of objects that all live on: the cyclic GC
    # would walk them again and again for nothing, so it waits until they are built.
    # (Not in the server, whose threads load specs side by side and let them go.)
    enabled = gc.isenabled() and freeze
    if enabled:
        gc.disable()
    new_spec = None  # a spec parsed now, to keep in the cache (with its graph when there is one)
    try:
        # The spec cache serves the one-shot CLI; a served job's workspace is new every time.
        data = loader.read_bytes(path) if freeze else None
        key = _spec_cache_key(path, data) if data is not None else None
        pf, built = _cached_spec(path, key)
        errors: list = []
        if pf is None:
            pf, errors = loader.load_lenient(path, data)
            if not errors and key is not None:
                new_spec = pf
        overrides = loader.parse_param_overrides(pf, params, errors) if values is None else values
        values = loader.resolve_params(pf, overrides, errors)
        artifacts = resolve_artifacts(pf, errors) if pinned is None else \
            pinned_artifacts(pf, pinned, workspace, errors)
        if not errors:
            # The graph of the same spec and param values is kept beside the spec; only what the
            # file system says (sources exist) is checked again. Not with artifact versions:
            # those are resolved from the job database each time.
            sig = _values_signature(values) if key is not None and not artifacts else None
            graph = None
            if sig is not None and built is not None and built[0] == sig and not graph_mod.source_errors(built[1]):
                graph = built[1]
            if graph is None:
                graph = graph_mod.build(pf, values, artifacts=artifacts)
                if sig is not None:
                    _cache_spec(path, key, pf, (sig, graph))
                    new_spec = None
            if freeze:
                # The spec and graph live as long as the process: keep the GC from walking
                # them while the plan and the run allocate (it made large pipelines quadratic).
                gc.freeze()
            return graph
    finally:
        if new_spec is not None:  # valid, but no graph to keep with it (bad params, graph errors)
            _cache_spec(path, key, new_spec)
        if enabled:
            gc.enable()
    # Check the graph of what is valid too, so one round of fixes is enough.
    errors += graph_mod.check_partial(pf, values, artifacts)
    raise_all(errors)
    raise AssertionError("unreachable")


_SPEC_CACHE_VERSION = 2
_LOADER_SOURCES = ("spec.py", "template.py", "errors.py", "graph.py")  # and every module of load/


def _loader_sources() -> list:
    """The files whose code decides what a Pipefile loads as: listed, not named one by one,
    so a module added to the load package is covered too."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(os.path.abspath(loader.__file__))
    return [os.path.join(here, f) for f in _LOADER_SOURCES] + \
        [os.path.join(package, f) for f in sorted(os.listdir(package)) if f.endswith(".py")]


def _spec_cache_key(path: str, text: bytes) -> str:
    """Everything the loaded spec depends on: the text, where it is, who reads it."""
    code = [os.stat(f) for f in _loader_sources()]
    return hash_json([_SPEC_CACHE_VERSION, __version__, sys.version, os.path.abspath(path),
                      os.path.relpath(path), [(s.st_size, s.st_mtime_ns) for s in code], hash_bytes(text)])


def _values_signature(values: dict) -> Optional[str]:
    try:
        return hash_json(values)
    except (TypeError, ValueError):
        return None


def _spec_cache_dir(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), STATE_DIR, "cache", "specs")


def _cached_spec(path: str, key: Optional[str]) -> tuple:
    """(the validated spec of the Pipefile whose bytes give `key`, (param values' signature,
    its graph) or None), without parsing YAML again; (None, None) when there is none."""
    if key is None:
        return None, None
    try:
        with open(os.path.join(_spec_cache_dir(path), key), "rb") as f:
            entry = pickle.load(f)
        return entry["spec"], entry["graph"]
    except Exception:  # noqa: BLE001 - any problem: parse the file as usual
        return None, None


def _cache_spec(path: str, key: str, pf, graph: Optional[tuple] = None) -> None:
    """Keep `pf` (parsed from the bytes that give `key`) and its graph for the next run."""
    d = _spec_cache_dir(path)
    if not os.path.isdir(os.path.dirname(os.path.dirname(d))):
        return  # no .pipe/ yet: `validate` must not create one
    try:
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old != key:
                os.unlink(os.path.join(d, old))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"spec": pf, "graph": graph}, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(d, key))
    except OSError:
        pass


class Pipeline:
    def __init__(self, graph: graph_mod.Graph, writable: bool = True, workspace: Optional[Workspace] = None,
                 remote=None, on_remote_error=None):
        """writable=False (status, dry runs) never creates `.pipe/`. `workspace`: one
        opened already (a served job's), closed with the pipeline. `remote`: a
        store.remotes.RemoteSpec whose run cache the planner consults (lazily: a run with
        nothing to decide never connects); on_remote_error(RemoteError) is told once if it
        cannot be used, and the run goes on with local work."""
        self.graph = graph
        self.remote = None
        self.remote_cache = None
        self.fetcher = None
        if remote is not None:
            from .store.remote import Remote  # only with a remote: a local run does not load it
            from .store.remote_cache import RemoteRunCache

            self.remote = Remote(remote)
            self.remote_cache = RemoteRunCache(self.remote, on_remote_error)
        self.root = graph.pipefile.root
        self.ws = workspace or Workspace(self.root, create=writable)
        self.executor = None
        self._cancel = None
        self.cache = self.ws.state.stat_cache()
        self.hasher = Hasher(self.root, self.cache)
        self._records = None
        self.envs = EnvironmentSet(graph.pipefile, self.hasher, self.ws.store_root)
        self._gpus: Optional[list] = None
        self.gpu_override: Optional[str] = None  # `pipe run --gpus`
        self._git = None  # a GitProbe, started by lock()
        self._check_artifacts()

    def _check_artifacts(self) -> None:
        """Put back an artifact version that was changed where it is materialised (costs stats)."""
        for art in self.graph.artifacts.values():
            d = self.hasher.digest(art.path)
            if d is None or d.kind != art.kind or d.digest != art.digest:
                materialize_version(self.ws, art, replace=True)

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()
        self.ws.close()

    def planner(self, forced=frozenset()) -> Planner:
        if self._records is None:
            self._records = self.ws.state.steps()
        return Planner(self.graph, self.hasher, self._records, self.ws.actions, self.ws.store, forced,
                       env_identity=lambda name: self.envs.get(name).identity(), gpu_model=self.gpu_model,
                       remote=self.remote_cache)

    # --- environments and GPUs ------------------------------------------------------------
    def gpu_pool(self) -> list:
        """The GPUs to hand out (--gpus, PIPE_GPUS, or detected); detected once."""
        if self._gpus is None:
            self._gpus = gpus_mod.pool(self.gpu_override)
        return self._gpus

    def gpu_model(self) -> str:
        return gpus_mod.model_of(self.gpu_pool())

    def wants_gpus(self, names) -> bool:
        return any(self.graph.nodes[n].step.resources.gpus for n in names)

    def prepare_run(self, targets=(), say=None, fetch: bool = True) -> None:
        """Before planning a run: every environment the selected steps use can be used (its tool
        or daemon is there; a missing image is pulled, so that keys hold its ID). Errors of all
        of them together, before anything runs. Builds happen later, when a step needs them."""
        names = self.graph.select(targets)
        used = list(dict.fromkeys(self.graph.nodes[n].step.environment for n in names
                                  if self.graph.nodes[n].step.environment))
        errors = []
        for env_name in used:
            env = self.envs.get(env_name)
            try:
                env.check()
                if fetch and hasattr(env, "fetch"):
                    env.fetch(say or (lambda text: None))
                env.identity()
            except PipefileError as e:
                if not any(e.message == x.message for x in errors):  # one unreachable daemon: said once
                    errors.append(e)
        raise_all(errors)
        if self.wants_gpus(names):
            self.gpu_pool()

    def note_environments(self) -> None:
        """Write .pipe/environments.json: what this workspace's environments are now, so that
        `pipe envs prune` (from any workspace sharing the store) keeps them."""
        out = {}
        for name, env in self.envs.made.items():
            try:
                out[name] = {"kind": env.kind, "identity": env.identity(),
                             "build": env.build_id() if env.build_identity() is not None else None}
            except PipefileError:
                continue
        write_environments(self.ws, out, keep=self.graph.pipefile.environments)

    def status(self, targets: Iterable[str] = ()) -> Plan:
        plan = self.planner().plan(targets)
        # Keep what was hashed, unless a run holds the workspace (its own entries win then).
        try:
            self.ws.state.save_stats(self.cache.take_dirty())
        except Exception:  # noqa: BLE001 - a busy database only costs a re-hash next time
            pass
        return plan

    def stays_on_remote(self, plan: Plan, targets: Iterable[str] = ()) -> set:
        """The steps `pipe run TARGETS --remote` would leave on the remote: restorable only from
        it, and nothing this run needs reads them (what `pipe status --remote` shows)."""
        if self.remote_cache is None:
            return set()
        left = left_on_remote(self.graph, plan, targets)
        return {n for n in left if not all(self.ws.store.complete(d) for d in plan.decisions[n].outputs.values())}

    def lock(self, on_wait=None, probe_git: bool = True) -> None:
        """Hold the workspace; probe_git=False for a served job (its deployment, not a
        git commit, says what code it runs)."""
        self.ws.lock.acquire(on_wait=on_wait)
        stale_runs = self.ws.stale_runs()
        if stale_runs and any(e.type == spec.ENV_DOCKER for e in self.graph.pipefile.environments.values()):
            # Containers do not die with the pipe that started them: remove those of a killed run.
            from .envs.docker import remove_containers

            remove_containers(stale_runs)
        self.ws.clean_leftovers()
        if probe_git:
            self._git = GitProbe(self.root)  # while the plan is made; read when the job begins

    def run(self, targets: Iterable[str] = (), forced=frozenset(), jobs: int = 0, keep_going: bool = False,
            dry_run: bool = False, events=None, plan: Optional[Plan] = None, experiment: Optional[str] = None,
            argv: Iterable[str] = (), cloned_from: Optional[int] = None, job_id: Optional[int] = None,
            step_env: Optional[dict] = None) -> RunSummary:
        """Run the plan; unless a dry run, record it as a job (`self.job`).

        `job_id`: a queued served job to run (its row exists); `step_env`: the
        environment steps start from (default: this process's)."""
        planner = self.planner(forced)
        plan = plan or planner.plan(targets)
        gpus = self.gpu_pool() if self.wants_gpus(plan.decisions) else None
        if dry_run:
            sched = Scheduler(self.graph, planner, DryRunExecutor(), None, jobs, keep_going, events, dry_run=True,
                              gpus=gpus)
            return sched.execute(plan)
        Scheduler(self.graph, planner, None, gpus=gpus).check_resources(plan)  # before the job begins
        self.check_store_links()
        with disk_errors(self.ws.jobs.path):
            job = self.job = begin_job(self.ws, self.hasher, self.graph, experiment, targets, argv, cloned_from,
                                       git=self._git, job_id=job_id)
        if self.envs.made:
            self.note_environments()
        log_dir = self.ws.job_dir(job.id)
        os.makedirs(log_dir, exist_ok=True)
        leave = frozenset()
        if self.remote_cache is not None:
            from .store.remote_cache import RemoteFetcher

            self.fetcher = RemoteFetcher(self.remote_cache, self.ws.store, self.ws.actions)
            leave = frozenset(left_on_remote(self.graph, plan, targets))
        executor = self.executor = LocalExecutor(self.ws, self.hasher, f"{job.id}-{job.uid}", log_dir, step_env,
                                                 self.fetcher, leave, environments=self.envs,
                                                 outputs={p: s for p, (s, _) in self.graph.producers.items()})
        if self._cancel is not None:
            executor.cancel(hard=self._cancel)
        self.recorder = JobRecorder(self.ws, job, self.graph)
        listeners = Fanout(events, self.recorder)
        sched = Scheduler(self.graph, planner, executor, self.ws.state, jobs, keep_going, listeners, gpus=gpus)
        status = INTERRUPTED
        try:
            summary = sched.execute(plan)
            status = job_status(summary)
        finally:
            try:
                executor.close()
            finally:
                try:
                    self.recorder.close()
                finally:
                    self.ws.jobs.finish(job.id, status)
        return summary

    def check_store_links(self) -> None:
        """No output may land in a store kept outside .pipe/ (PIPE_STORE_DIR, a clone's): the
        graph checked .pipe/ itself; only such a store costs this second look."""
        store = os.path.realpath(self.ws.store_root)
        if store.startswith(os.path.realpath(self.ws.dir) + os.sep):
            return
        pf = self.graph.pipefile
        raise_all(graph_mod.link_errors(pf, self.graph.producers, self.graph.nodes, forbidden=[store]))

    def cancel(self, hard: bool = False) -> None:
        """Stop the run from another thread: running steps are signalled (their whole
        process group), steps not started yet do not start."""
        self._cancel = hard
        if self.executor is not None:
            self.executor.cancel(hard=hard)


# --- environments: what each workspace uses, for `pipe envs prune` ------------------------
ENVIRONMENTS_FILE = "environments.json"  # .pipe/environments.json: {"v": 1, "environments": {name: {...}}}


def write_environments(ws: Workspace, envs: dict, keep=()) -> None:
    """Record `envs` ({name: {kind, identity, build}}), keeping older entries of the names in `keep`."""
    import json

    path = os.path.join(ws.dir, ENVIRONMENTS_FILE)
    try:
        with open(path) as f:
            old = json.load(f).get("environments", {})
    except (OSError, ValueError, AttributeError):
        old = {}
    envs = {**{k: v for k, v in old.items() if k in keep}, **envs}
    if old == envs:
        return
    fd, tmp = tempfile.mkstemp(dir=ws.dir, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump({"v": 1, "environments": envs}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_environments(state_dir: str) -> dict:
    import json

    try:
        with open(os.path.join(state_dir, ENVIRONMENTS_FILE)) as f:
            data = json.load(f)
        return data.get("environments", {}) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# --- artifacts: versions bound to inputs, fetched and registered -------------------------
ARTIFACTS_DIR = "artifacts"  # .pipe/artifacts/NAME/VERSION: versions read by steps, read-only


def artifact_bindings(pf) -> list:
    """(step, input name, Binding) of every ${{artifacts...}} input, in declaration order."""
    return [(st, iname, b) for st in pf.steps.values() for iname, b in st.inputs.items()
            if b.kind == spec.BIND_ARTIFACT]


def resolve_artifacts(pf, errors: list) -> dict:
    """Resolve every artifact binding to a stored version (`latest`: the newest now) and
    materialise it read-only under .pipe/artifacts/NAME/VERSION; problems go to `errors`.

    Opens the job database only when the Pipefile binds artifacts (the no-op path of
    other pipelines is untouched)."""
    bindings = artifact_bindings(pf)
    if not bindings:
        return {}
    out: dict = {}
    ws = Workspace(pf.root, create=False)
    try:
        for st, iname, b in bindings:
            key = (b.ref, b.version)
            if key in out:
                continue
            what = f"input '{iname}' of step '{st.name}' reads {b.describe()}"
            try:
                v = ws.jobs.artifact(b.ref, int(b.version) if b.version else None)
                out[key] = materialize_version(ws, v)
            except PipefileError as e:
                hint = e.hint
                if "no artifact" in e.message and not ws.jobs.artifact_names():
                    hint = ("no artifact has been stored in this workspace yet: name an output (name: ...) "
                            "and run it, or `pipe asset add PATH --name NAME`")
                errors.append(PipefileError(f"{what}, but {e.message}", b.loc, hint))
    finally:
        ws.close()
    return out


def pin_artifacts(pf, errors: list) -> dict:
    """{"NAME:VERSION" or "NAME:latest": version record} of every artifact binding, as
    resolved now (a published deployment keeps reading these versions)."""
    bindings = artifact_bindings(pf)
    if not bindings:
        return {}
    out: dict = {}
    ws = Workspace(pf.root, create=False)
    try:
        for st, iname, b in bindings:
            key = f"{b.ref}:{b.version or 'latest'}"
            if key in out:
                continue
            try:
                v = ws.jobs.artifact(b.ref, int(b.version) if b.version else None)
                stored_content(ws, v)
            except PipefileError as e:
                errors.append(PipefileError(f"input '{iname}' of step '{st.name}' reads {b.describe()}, but "
                                            f"{e.message}", b.loc, e.hint))
                continue
            out[key] = v.to_json()
    finally:
        ws.close()
    return out


def pinned_artifacts(pf, pinned: dict, ws: Optional[Workspace], errors: list) -> dict:
    """The artifact bindings of a published deployment, materialised in `ws`."""
    from .store.jobs import ArtifactVersion

    out: dict = {}
    for st, iname, b in artifact_bindings(pf):
        rec = pinned.get(f"{b.ref}:{b.version or 'latest'}")
        if rec is None or ws is None:
            errors.append(PipefileError(f"input '{iname}' of step '{st.name}' reads {b.describe()}, which the "
                                        f"deployment did not pin", b.loc, "publish the pipeline again"))
            continue
        v = ArtifactVersion(rec["name"], rec["version"], rec["kind"], rec["digest"], rec["size"], rec.get("job"),
                            rec.get("step"), rec.get("output"), rec.get("path", ""), rec.get("created", 0.0))
        try:
            out[(b.ref, b.version)] = materialize_version(ws, v)
        except PipefileError as e:
            errors.append(PipefileError(f"input '{iname}' of step '{st.name}' reads {b.describe()}, but "
                                        f"{e.message}", b.loc, e.hint))
    return out


def _artifact_rel(name: str, version: int) -> str:
    return f"{STATE_DIR}/{ARTIFACTS_DIR}/{name}/{version}"


def _make_read_only(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            for f in filenames:
                fp = os.path.join(dirpath, f)
                if not os.path.islink(fp):
                    os.chmod(fp, 0o555 if os.stat(fp).st_mode & 0o111 else 0o444)
        for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda w: -len(w[0])):
            os.chmod(dirpath, 0o555)
    else:
        os.chmod(path, 0o555 if os.stat(path).st_mode & 0o111 else 0o444)


def remove_read_only(path: str) -> None:
    """Delete a file or folder that `_make_read_only` protected."""
    import shutil

    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _dirs, _files in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path)
    else:
        os.unlink(path)


def stored_content(ws: Workspace, v) -> PathDigest:
    """The content of artifact version `v`, checked to be complete in the store."""
    content = PathDigest(v.kind, v.digest, v.size)
    if not ws.store.complete(content):
        raise PipefileError(f"the content of {v.ref} ({v.digest[:12]}) is no longer complete in the store at "
                            f"{ws.store_root}",
                            hint=f"run the step that made it again (job {v.job_id}): pipe run --force {v.step} "
                                 f"(it may be fresh, so a plain `pipe run` would not); a step that is not "
                                 f"deterministic gives a new version" if v.step
                            else f"add the data again: pipe asset add {v.path} --name {v.name}")
    return content


def materialize_version(ws: Workspace, v, replace: bool = False) -> graph_mod.ResolvedArtifact:
    """Make artifact version `v` readable at .pipe/artifacts/NAME/VERSION (read-only).

    Built aside and renamed into place, so a reader never sees it half-written; an
    existing copy is kept (its content is checked by `Pipeline`, through the stat cache)."""
    rel = _artifact_rel(v.name, v.version)
    dest = os.path.join(ws.root, rel)
    resolved = graph_mod.ResolvedArtifact(v.name, v.version, v.kind, v.digest, v.size, rel)
    if os.path.lexists(dest) and not replace:
        return resolved
    content = stored_content(ws, v)
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        built = os.path.join(tmp, "x")
        ws.store.materialize(content, built, tmp)
        _make_read_only(built)
        is_dir = os.path.isdir(built)
        if is_dir:
            os.chmod(built, 0o755)  # moving a folder to another parent needs write access to it
        if replace and os.path.lexists(dest):
            if os.path.isdir(dest) and not os.path.islink(dest):
                os.chmod(dest, 0o755)
            os.replace(dest, os.path.join(tmp, "old"))
        try:
            os.rename(built, dest)
        except OSError:
            if not os.path.lexists(dest):  # another pipe put it there first: keep theirs
                raise
        else:
            if is_dir:
                os.chmod(dest, 0o555)
    finally:
        remove_read_only(tmp)
    return resolved


def get_artifact(ws: Workspace, v, dest: str) -> None:
    """Write version `v` at `dest` (a new path; never over anything)."""
    if os.path.lexists(dest):
        raise PipefileError(f"'{dest}' already exists; nothing was written",
                            hint="choose another path with -o, or move the existing one away first")
    content = stored_content(ws, v)
    dest = os.path.abspath(dest)
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    ws.store.materialize(content, dest, parent)


def add_asset(ws: Workspace, path: str, name: str) -> tuple:
    """Store external data (a file or folder) as a version of asset artifact `name`.

    Returns (ArtifactVersion, True if it is a new version)."""
    if not loader.valid_artifact_name(name):
        raise PipefileError(f"'{name}' is not a valid artifact name",
                            hint="use ASCII letters, digits, '_', '-' and '.', starting with a letter or '_'")
    ap = os.path.abspath(path)
    if not os.path.exists(ap):
        raise PipefileError(f"there is no file or folder at '{path}'", hint="give the path of the data to add")
    inside = os.path.relpath(ap, ws.root)
    if inside == STATE_DIR or inside.startswith(STATE_DIR + os.sep):
        raise PipefileError(f"'{path}' is inside {STATE_DIR}/, pipe's own state", hint="add data from elsewhere")
    made = [v for v in ws.jobs.artifacts(name) if v.step]
    if made:
        raise PipefileError(f"artifact '{name}' is an output of step '{made[-1].step}'; an asset needs a name "
                            f"of its own", hint="choose another --name (pipe artifacts lists the names in use)")
    hasher = Hasher(ws.root, StatCache())
    if os.path.isdir(ap):
        tree = hasher.tree(ap)
        ws.store.put_tree(tree, ap)
        kind, digest, size = TREE, tree.digest, tree.size
    else:
        d = hasher.digest(ap)
        ws.store.put_file(ap, d.digest)
        kind, digest, size = FILE, d.digest, d.size
    shown = inside.replace(os.sep, "/") if not inside.startswith("..") else ap
    existing = ws.jobs.find_version(name, kind, digest)
    if existing is not None:
        return existing, False
    return ws.jobs.add_version(name, kind, digest, size, shown, None, None, None), True


def parse_force(values: Iterable[str]):
    """--force given alone forces every selected step; --force STEP forces that step."""
    values = list(values)
    if not values:
        return frozenset()
    if "*" in values:
        return True
    return frozenset(values)


def check_forced_names(graph: graph_mod.Graph, forced) -> None:
    if forced is True:
        return
    from .errors import PipefileError, did_you_mean, raise_all

    raise_all([PipefileError(f"--force {n}: no step named '{n}'", hint=did_you_mean(n, graph.nodes, "step"))
               for n in forced if n not in graph.nodes])
