"""The worker side of the Ray executor: what one Ray task does on a cluster node.

It is handed a `payload` (plain data: the step's rendered command, the files it reads as
(workspace path, content digest), its outputs, its environment's spec, the shared store)
and, on the node:
  1. fetches the objects it lacks from the shared store into the node's own content
     store (each verified on arrival) and materialises the files in a fresh scratch folder,
     at the same workspace-relative paths (and a foreach batch task's folder of links to
     its items, as the session makes it locally);
  2. prepares the environment (a venv is built here, once per node, keyed by identity,
     in the node folder; a Docker image by the node's daemon, from the build context shipped
     by digest: executors/ray_docker.py), runs the command in the scratch folder (in a
     container, for a Docker environment), and yields its log as it grows, the build's
     output before it (the caller appends it to the step's log file), and its metrics stream;
  3. hashes what the command wrote at the outputs' paths, puts it in the node's store,
     uploads what the shared store lacks, and yields the digests last.
Nothing but digests comes back, and the bytes of small outputs the caller lands (`inline`:
one trip instead of an upload and a download); the caller verifies every object itself.

The node folder (PIPE_RAY_NODE_DIR, default <tmp>/pipe-ray-<uid>) holds `store/` (the
node's content store), `envs/` (built environments, through pipefile.envs) and
`scratch/` (one folder per task; moved to `scratch-done/` when it ends, and removed). A task whose worker process died
(killed, out of memory) cannot clean up: the next task on the node kills what its
command left running (or its container) and removes its folder (`_reap`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Optional

from .. import spec, tracking
from ..cache.content_store import ContentStore
from ..digest import TREE, Hasher, PathDigest
from ..envs import EnvError, Environment, Launch, make
from ..errors import PipefileError
from ..pids import alive
from .ray_stream import EVERY, MetricsTail, pieces, streaming, unsent

_OWNER = ".pipe-owner"  # in a scratch folder: "WORKER_PID PROCESS_GROUP [CONTAINER_ID]"
# Finished tasks' folders wait here to be removed: out of `scratch/`, which every task lists
# (under load the remover lags, and a list that grew with every step cost each step more).
_DONE = "scratch-done"
_swept = False  # this worker process has removed what dead workers left in _DONE
_node_dir: Optional[str] = None
_here: Optional[dict] = None  # this worker's node and host
_state_lock = threading.Lock()
_stores: dict = {}  # node folder -> ContentStore
_remotes: dict = {}  # (url, options) -> Remote
_remover = None  # queue of scratch folders to remove (a worker process runs many tasks: one connection)


def _node_dir_path() -> str:
    return os.environ.get("PIPE_RAY_NODE_DIR") or os.path.join(tempfile.gettempdir(), f"pipe-ray-{os.getuid()}")


def node_dir() -> str:
    global _node_dir
    if _node_dir is None:  # once per worker process: metadata work is what a trivial step costs
        d = _node_dir_path()
        os.makedirs(os.path.join(d, "scratch"), exist_ok=True)
        os.makedirs(os.path.join(d, _DONE), exist_ok=True)
        _node_dir = d
    return _node_dir


def _store(folder: str) -> ContentStore:
    with _state_lock:
        if folder not in _stores:
            store = _stores[folder] = ContentStore(os.path.join(folder, "store"))
            # The node's store is a cache (the shared store is the record): its fsyncs need
            # not hold up a task.
            store.start_background_sync()
        return _stores[folder]


def _remove_later(path: str) -> None:
    """Remove a finished task's scratch folder off the task's path (a worker runs one task
    at a time; the folder of one it could not remove is found by `_reap`)."""
    global _remover
    with _state_lock:
        if _remover is None:
            import queue

            q: queue.Queue = queue.Queue()

            def work() -> None:
                while True:
                    shutil.rmtree(q.get(), ignore_errors=True)

            threading.Thread(target=work, name="pipe-scratch-rm", daemon=True).start()
            _remover = q
    _remover.put(path)


def _remote(store_spec):
    from ..remote.transport import Remote

    key = (store_spec.url, repr(sorted(store_spec.options.items())))
    with _state_lock:
        # One a cancelled task interrupted mid-transfer (a sweep trial stopped early, on this
        # worker) refuses every transfer after: the worker's next task gets a fresh one.
        if key not in _remotes or getattr(_remotes[key], "_interrupted", False):
            _remotes[key] = Remote(store_spec)
        return _remotes[key]


def _reap(scratch_root: str) -> None:
    """Scratch folders of tasks whose worker process is gone: kill what they left running
    (their command's process group), then remove them."""
    for name in os.listdir(scratch_root):
        folder = os.path.join(scratch_root, name)
        try:
            with open(os.path.join(folder, _OWNER)) as f:
                fields = f.read().split()
            pid, pgid = int(fields[0]), int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
        if alive(pid):
            continue
        if pgid > 0:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        if len(fields) > 2:  # a container's step: the daemon runs it, not the dead worker's group
            from .ray_docker import reap

            reap(fields[2])
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_done(done_root: str) -> None:
    """Once per worker process: remove the finished folders that dead workers left waiting."""
    global _swept
    if _swept:
        return
    _swept = True
    for name in os.listdir(done_root):
        folder = os.path.join(done_root, name)
        try:
            with open(os.path.join(folder, _OWNER)) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid == 0 or not alive(pid):
            _remove_later(folder)


def _unusable_node_dir(e: OSError, host: str) -> str:
    return (
        f"on node {host}: cannot use the node's folder {_node_dir_path()} (PIPE_RAY_NODE_DIR): "
        f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}; give that node a folder it can write "
        "(PIPE_RAY_NODE_DIR in the environment `ray start` runs in there, or unset it: <tmp>/pipe-ray-UID), "
        "with room to spare"
    )


def _fail(message: str, rc: Optional[int] = None) -> dict:
    return {"error": message, "rc": rc}


def run_step(payload: dict):
    """The Ray task (a generator): yields ("log", bytes) and ("metrics", bytes) (its metrics
    stream, ray_stream.py) while the command runs, then ("done", result). A failure of the
    step is a result with "error"; an exception here means the worker itself broke."""
    t0 = time.monotonic()
    try:
        folder = node_dir()
        scratch_root = os.path.join(folder, "scratch")
        _reap(scratch_root)
        _sweep_done(os.path.join(folder, _DONE))
        store = _store(folder)
        # (A/B: one name; only its start: a name of 60 characters fits a file name whatever they are)
        scratch = tempfile.mkdtemp(dir=scratch_root, prefix=f"{payload['step'].replace('/', '_')[:60]}-")
    except OSError as e:  # (it failed as 'NotADirectoryError: ...', naming neither the folder nor the node)
        where = _where()
        return (yield ("done", dict(where, **_fail(_unusable_node_dir(e, where["host"])))))
    work = os.path.join(scratch, "ws")
    log_path = os.path.join(scratch, "log")
    where = _where()
    proc = None
    sent = 0  # how much of the log went back already
    notes: list = []
    log = tail = None
    cancelled = threading.Event()  # set when the task ends: an image build still going stops
    stream = MetricsTail("")  # (none, but for a command run here that the caller follows the series of)
    try:
        with open(os.path.join(scratch, _OWNER), "w") as f:
            f.write(f"{os.getpid()} 0")
        # (The shared store's client is made only when something travels: a step with no
        # inputs whose outputs come back inline never imports it.)
        remote = _remote(payload["store"]) if payload["objects"] else None
        t = remote.download(store, payload["objects"]) if remote is not None else None
        if t is not None and t.failed:
            return (yield ("done", dict(where, **_fail(f"could not fetch its inputs: {t.failed[0][1].render()}"))))
        os.makedirs(work)
        tmp = os.path.join(scratch, "tmp")
        if payload["files"] or payload.get("context"):
            os.makedirs(tmp)
        for rel, content in payload["files"]:
            store.materialize(PathDigest.from_json(content), os.path.join(work, rel), tmp)
        _link_batches(work, payload.get("batches") or ())
        for _oname, stage_rel, ws_rel, typ in payload["outputs"]:
            os.makedirs(os.path.dirname(os.path.join(work, stage_rel)), exist_ok=True)
            os.makedirs(os.path.dirname(os.path.join(work, ws_rel)) or work, exist_ok=True)
            if typ == spec.URI_FOLDER:
                os.makedirs(os.path.join(work, stage_rel), exist_ok=True)
                os.makedirs(os.path.join(work, ws_rel), exist_ok=True)
        hasher = Hasher(work)
        env_spec = payload["env"]
        env = (
            make(env_spec, work, hasher, folder)
            if env_spec is not None
            else Environment(spec.EnvSpec("local"), work, hasher)
        )
        view = None
        # Open until the command has ended: a container's output is copied into it meanwhile.
        log = open(log_path, "wb")  # noqa: SIM115 - closed in `finally`
        tail = open(log_path, "rb")  # noqa: SIM115 - closed in `finally`: what goes back as it grows
        if env.container:
            from . import ray_docker

            if payload.get("context") is not None:
                ray_docker.use_context(env, payload, os.path.join(scratch, "context"), tmp, store)
            ray_docker.check_daemon(env, where["host"])
            # A pull, and below an image build, can take minutes: their output streams back.
            for chunk in streaming(lambda: ray_docker.fetch(env, log), tail, cancelled):
                sent += len(chunk)
                yield ("log", chunk)
        else:
            env.check()
        if env.identity() != payload["env_identity"]:
            if env.container:
                msg = ray_docker.mismatch(env, payload.get("env_build"), payload["env_identity"], where["host"])
            else:
                msg = (
                    f"environment '{env.name}' is {env.identity()} on node {where['host']}, not "
                    f"{payload['env_identity']} as planned (another platform or interpreter)"
                )
            log.flush()
            yield from unsent(log_path, sent)
            return (yield ("done", dict(where, **_fail(msg))))
        if env_spec is None:  # (nothing to prepare: no thread for the many trivial steps)
            env.prepare(log, cancelled)
        else:  # a venv or an image built here can take minutes: the output streams back
            for chunk in streaming(lambda: env.prepare(log, cancelled), tail, cancelled):
                sent += len(chunk)
                yield ("log", chunk)
        log.flush()
        cwd = _workdir(work, payload.get("workdir") or "")
        wd = None
        if payload.get("azureml") is not None:  # as locally: in a fresh copy of its code, paths absolute
            from . import workdir

            wd = workdir.make(scratch, payload["run_id"], payload["step"], work, payload["azureml"])
            cwd, payload["step_env"] = wd.cwd, dict(payload["step_env"], **wd.env())
            c, at = payload["command"], workdir.ELSEWHERE
            payload["command"] = [a.replace(at, work) for a in c] if isinstance(c, list) else c.replace(at, work)
        if env.container:
            launch, view = ray_docker.launch(payload, work, os.path.join(scratch, "views"), cwd, log, _gpu_ids())
        else:
            launch = Launch(payload["step"], payload["command"], dict(payload["step_env"]), cwd, log, payload["run_id"])
            if payload.get("metrics"):  # the series it reports go back as it writes them, as its log does
                stream = MetricsTail(os.path.join(scratch, "metrics.jsonl"))
                launch.env[tracking.ENV] = stream.path
        base = dict(os.environ, PYTHONUNBUFFERED="1")
        path = _pythonpath(work, payload.get("pythonpath") or ("", ""), base.get("PYTHONPATH", ""))
        if path:
            base["PYTHONPATH"] = path
        proc = env.start(launch, base)
        container = getattr(getattr(proc, "container", None), "id", "")
        with open(os.path.join(scratch, _OWNER), "w") as f:
            f.write(f"{os.getpid()} {getattr(getattr(proc, 'proc', None), 'pid', 0)} {container}".rstrip())
        timeout = payload.get("timeout")
        started = time.monotonic()
        timed_out = False
        # A container's state is a request to the daemon: asked less often.
        longest = 0.25 if container else 0.05
        wait = 0.002  # short first: most steps of a big sweep are quick
        last = time.monotonic()
        while True:
            rc = proc.poll()
            if rc is not None:
                break
            if timeout and time.monotonic() - started > timeout:
                # Timed from the command's start here, not from when the caller asked.
                proc.signal(signal.SIGTERM)
                try:
                    _wait_exit(proc, 5.0)
                finally:
                    proc.signal(signal.SIGKILL)
                rc = proc.wait()
                timed_out = True
                break
            time.sleep(wait)
            wait = min(wait * 2, longest)
            if time.monotonic() - last >= EVERY:
                for chunk in pieces(tail):
                    sent += len(chunk)
                    yield ("log", chunk)
                yield from stream.pieces()
                last = time.monotonic()
        if not timed_out:
            rc = proc.wait()  # (a container's: its last lines are copied into the log first)
        proc.finish()
        for chunk in pieces(tail):
            sent += len(chunk)
            yield ("log", chunk)
        yield from stream.pieces()
        proc = None
        if view is not None and rc == 0:
            notes = view.land()
        if timed_out:
            from .processes import timeout_message

            return (yield ("done", dict(where, rc=rc, error=timeout_message(timeout))))
        if rc != 0:
            return (yield ("done", dict(where, rc=rc, error=None)))
        for oname, stage_rel, _ws, _typ in payload["outputs"] if wd is not None else ():
            if oname == "artifacts":  # (workdir.ARTIFACTS) ./outputs, ./logs and the MLflow metrics
                wd.keep(os.path.join(work, stage_rel))
        outputs = _collect(work, hasher, store, payload["outputs"])
        objects = list(dict.fromkeys(d for o in outputs.values() for d in o["objects"]))
        blobs = _inline(store, objects, payload.get("inline", 0))
        if blobs is not None:  # small, and wanted by the caller: back with the result, one trip
            yield ("done", dict(where, rc=0, error=None, outputs=outputs, blobs=blobs, notes=notes))
            return
        remote = remote or _remote(payload["store"])
        missing = remote.missing_objects(objects)
        if missing:
            t = remote.upload(store, sorted(missing))
            if t.failed:
                msg = f"could not upload its outputs: {t.failed[0][1].render()}"
                return (yield ("done", dict(where, rc=0, **_fail(msg, 0))))
        yield (
            "done",
            dict(where, rc=0, error=None, outputs=outputs, seconds=time.monotonic() - t0, notes=notes),
        )
    except (PipefileError, EnvError, OSError) as e:
        msg = e.render() if isinstance(e, PipefileError) else f"{e.strerror or e}: {getattr(e, 'filename', '')}"
        # What the log holds (a failed image build's output) goes back with the failure.
        if log is not None and not log.closed:
            log.flush()
        yield from unsent(log_path, sent)
        yield ("done", dict(where, **_fail(f"on node {where['host']}: {msg}")))
    finally:
        cancelled.set()
        # Cancelled (Ctrl-C, a timeout) or broken: the command's whole process group goes.
        if proc is not None:
            proc.signal(signal.SIGKILL)
            proc.finish()
        if log is not None:
            log.close()
        if tail is not None:
            tail.close()
        stream.close()
        # Moved out at once (so `_reap` never takes it for a live task's), removed later.
        gone = os.path.join(folder, _DONE, os.path.basename(scratch))
        try:
            os.replace(scratch, gone)
            _remove_later(gone)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)


def _pythonpath(work: str, caller: tuple, node: str) -> str:
    """The step's PYTHONPATH on the node, as the caller's PYTHONPATH is for it there (`caller`:
    its value and the workspace's root there): its entries inside the workspace (a `src/`, a
    DSL module's package root) in the copy, a relative one as it is (relative to the step's
    folder, there as here), then the node's own (where pipefile is found). The caller's other
    entries are that machine's, not the node's: left out."""
    value, root = caller
    mine = []
    for entry in value.split(os.pathsep) if value else ():
        if entry and not os.path.isabs(entry):
            mine.append(entry)
        elif entry:
            rel = os.path.relpath(os.path.normpath(entry), root)
            if not rel.startswith(".."):
                mine.append(os.path.normpath(os.path.join(work, rel)))
    return os.pathsep.join(mine + ([node] if node else []))


def _inline(store: ContentStore, objects: list, limit: int) -> Optional[dict]:
    """{digest: bytes} of the objects when they are `limit` bytes or less in all, else None."""
    if not limit:
        return None
    total = 0
    for d in objects:
        total += os.path.getsize(store.path(d))
        if total > limit:
            return None
    return {d: store.read(d) for d in objects}


def _wait_exit(proc, seconds: float) -> None:
    end = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)


def _gpu_ids() -> tuple:
    """The GPUs Ray assigned to this task (ids of the node's devices); () when none."""
    import ray

    try:
        ids = ray.get_runtime_context().get_accelerator_ids().get("GPU") or []
    except AttributeError:  # an older Ray: the variable it sets says the same
        ids = [i for i in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if i]
    return tuple(str(i) for i in ids)


def _where() -> dict:
    global _here
    if _here is None:
        import ray

        _here = {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}
    return dict(_here, pid=os.getpid())


def _collect(work: str, hasher: Hasher, store: ContentStore, outputs: list) -> dict:
    """{output name: {"stage": content or None, "ws": content or None, "objects": [...]}}: what
    the command wrote at the staging path and at the output's own path, stored on the node."""
    from ..remote.run_cache import closure

    out = {}
    for oname, stage_rel, ws_rel, typ in outputs:
        got = {"objects": []}
        for which, rel in (("stage", stage_rel), ("ws", ws_rel)):
            ap = os.path.join(work, rel)
            if not _has_content(ap):
                # A folder output left empty is an empty folder, as locally (its staging
                # folder, made before the command, is what the step made).
                empty = which == "stage" and typ == spec.URI_FOLDER and os.path.isdir(ap)
                if not (empty and not _has_content(os.path.join(work, ws_rel))):
                    got[which] = None
                    continue
            try:
                d = _stored(hasher, store, rel, ap)
            except PipefileError as e:  # named as the user wrote it (locally the stage is moved there first)
                named = [t.replace(stage_rel, ws_rel) if t else t for t in (e.message, e.hint)]
                raise PipefileError(named[0] or "", e.loc, named[1]) from None
            got[which] = d.to_json()
            got["objects"] += closure(store, d)
        out[oname] = got
    return out


def _stored(hasher: Hasher, store: ContentStore, rel: str, ap: str) -> PathDigest:
    if os.path.isdir(ap):
        tree = hasher.tree(rel, contained=True)
        store.put_tree(tree, ap, durable=False)
        return PathDigest(TREE, tree.digest, tree.size)
    d = hasher.digest(rel, contained=True)  # (a FIFO or a device is refused here, named)
    store.put_file(ap, d.digest, durable=False)
    return d


def _has_content(ap: str) -> bool:
    """Something is there, as staging.collect sees it: a folder with an entry, or anything
    else (a FIFO too: refused by its digest, not taken for an output never written)."""
    if os.path.isdir(ap) and not os.path.islink(ap):
        return bool(os.listdir(ap))
    return os.path.lexists(ap)


def _link_batches(work: str, batches) -> None:
    """A foreach batch task reads a folder holding its items, made as the session makes it
    locally (mapruns.link_batches, whose linking of one member this reuses)."""
    if not batches:
        return
    from ..mapruns import link_member  # (a foreach batch task's only: the others never import it)

    for folder, members in batches:
        dst_dir = os.path.join(work, folder)
        os.makedirs(dst_dir, exist_ok=True)
        for name, rel in members:
            link_member(os.path.join(work, rel), os.path.join(dst_dir, name))


def _workdir(work: str, rel: str) -> str:
    """Where the command runs: the workspace copy, or a folder in it (a Pipefile used as a
    component runs in its own folder), made if nothing shipped lies there."""
    path = os.path.join(work, rel)
    os.makedirs(path, exist_ok=True)
    return path
