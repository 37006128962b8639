"""The Ray executor: runs a task's command on a Ray cluster, keeping everything else here.

Planning, restoring, staging, verifying and committing are the local executor's: only
where the command executes changes (`_execute`). For a task that must run:
  1. its inputs and code (the digests in its key's manifest) and its environment's files
     are put in the content store here and uploaded to the shared store (only what it
     lacks; what it has is remembered for the run);
  2. a Ray task (ray_worker.run_step) is submitted with the step's resources as its
     request (cpus -> num_cpus, gpus -> num_gpus, memory, custom), so Ray's scheduler
     places it; its log streams back into the step's log file while it runs;
  3. the outputs' digests come back; their objects are downloaded from the shared store
     (verified on arrival) into the staging paths, and the local commit path runs: it
     hashes them again, and a digest that differs from the worker's fails the step.
A worker or node that dies under a task is the executor's failure: the task is submitted
again, up to the step's `retries:` (default 1); a command that exits non-zero never is.
Ctrl-C cancels the Ray task (its command's process group is killed on the worker); `timeout:`
is timed on the worker, from the command's start, and stops the command there.

Ray is imported, and the cluster reached (or a local instance started), only when the
first task must run: a run that only restores or finds everything fresh never connects.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from typing import Optional

from .. import tracking
from ..digest import TREE, PathDigest
from ..envs import Environment
from ..errors import PipefileError
from ..graph import Node, render_command
from ..outcomes import StepResult
from ..rebuilder import Decision
from ..remote.run_cache import closure
from ..staging import StepFailure
from .local import LocalExecutor

DEFAULT_RETRIES = 1
_CANCEL_GRACE_SECONDS = 3.0


class _Lost(Exception):
    """The executor failed under a task (a worker or node died): worth trying again."""


class RayCluster:
    """The connection to the cluster and the shared store, made once, when first needed."""

    def __init__(self, address: str = "", store=None, default_store=None):
        """`address`: the cluster ("" = one running on this machine, else a local instance
        started for the run and stopped after it); `store`: the shared store's RemoteSpec
        given for it; `default_store`: the workspace's default remote, used when no store
        is given and the cluster has nodes other than this machine. With neither, a
        temporary folder, which only a cluster of this machine alone can share."""
        self.address = address
        self.store_spec = store
        self.default_store = default_store
        self.ray = None
        self.task = None
        self.remote = None
        self._started = False  # this run started the Ray instance: it stops it
        self._temp_store: Optional[str] = None
        self._lock = threading.Lock()
        self._error: Optional[PipefileError] = None

    def connect(self) -> None:
        """Reach the cluster (once); raises PipefileError when it cannot be used."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self.ray is not None:
                return
            try:
                self._connect()
            except PipefileError as e:
                self._error = e
                self.close()
                raise

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise PipefileError(
                "the ray executor needs Ray, which is not installed",
                hint="pip install 'pipefile[ray]' (or pip install 'ray[default]'), or run with --executor local",
            ) from None
        from .ray_worker import run_step

        quiet = {"log_to_driver": False, "logging_level": "warning"}
        if self.address:
            try:
                _probe(self.address)  # Ray itself would try for minutes
                ray.init(address=self.address, **quiet)
            except (OSError, RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise PipefileError(
                    f"cannot reach the Ray cluster at {self.address}: {first}",
                    hint="check --address (or RAY_ADDRESS, settings: executor: address), and `ray status` there",
                ) from None
        else:
            try:
                ray.init(address="auto", **quiet)  # a cluster running on this machine
            except ConnectionError:
                ray.init(address="local", include_dashboard=False, **quiet)
                self._started = True
        self.ray = ray
        self.task = ray.remote(num_returns="streaming", max_retries=0)(run_step)
        self._open_store()

    def _open_store(self) -> None:
        from ..remote.config import RemoteSpec
        from ..remote.transport import Remote

        spec = self.store_spec
        if spec is None:
            nodes = [n for n in self.ray.nodes() if n.get("Alive")]
            alone = len(nodes) == 1 and nodes[0].get("NodeManagerHostname") == socket.gethostname()
            if self._started or alone:
                # Every node is this machine: a folder here is shared by all of them.
                self._temp_store = tempfile.mkdtemp(prefix="pipe-ray-store-")
                spec = RemoteSpec("ray-scratch", self._temp_store)
            elif self.default_store is not None:
                spec = self.default_store
            else:
                raise PipefileError(
                    f"the Ray cluster at {self.address or 'this machine'} has {len(nodes)} node(s) and no shared "
                    "store was given: its workers could not get the steps' inputs",
                    hint="pass --store NAME|URL (a remote: pipe remote add NAME s3://... ; or a path every node "
                    "sees), or set PIPE_RAY_STORE, or settings: {executor: {type: ray, store: ...}}",
                )
            self.store_spec = spec
        self.remote = Remote(spec)
        self.remote.ensure_layout()

    def close(self) -> None:
        if self.ray is not None:
            try:
                self.ray.shutdown()  # a local instance started for the run stops with it
            except Exception:  # noqa: BLE001 - the run's result stands
                pass
            self.ray = None
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        if self._temp_store is not None:
            import shutil

            shutil.rmtree(self._temp_store, ignore_errors=True)
            self._temp_store = None


def _probe(address: str, seconds: float = 5.0) -> None:
    """Raise OSError unless something listens at the address's host:port."""
    hostport = address.split("://", 1)[-1]
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        port_n = int(port)
    except ValueError:
        return
    with socket.create_connection((host.strip("[]"), port_n), timeout=seconds):
        pass


class RayExecutor(LocalExecutor):
    def __init__(self, *args, cluster: RayCluster, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        self._on_store: set = set()  # objects known to be on the shared store
        self._store_lock = threading.Lock()
        self._ran: dict = {}  # step -> (worker record, {output: expected PathDigest})

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            super().close()

    # --- running --------------------------------------------------------------------------
    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        result = super().run(node, decision, None)  # (GPUs are Ray's to hand out, not this machine's)
        worker = self._ran.pop(node.name, (None, None))[0]
        if worker is not None:
            result.worker = worker
        return result

    def _execute(self, node: Node, decision: Decision, staged, env: Environment, launch, log_abs, notes) -> int:
        name = node.name
        if env.container:
            notes.append("run this step with --executor local, or use a venv environment")
            raise StepFailure(
                f"environment '{env.name}' is a Docker environment, which the ray executor does not run yet"
            )
        try:
            self.cluster.connect()
        except PipefileError as e:
            raise StepFailure(e.render()) from None
        files, objects = self._ship(node, decision, env)
        rel = {}
        outs = []
        for oname, out in node.outputs.items():
            r = os.path.relpath(staged.paths[oname], self.root)
            if r.startswith(".."):  # staged beside an output on another file system: any path will do there
                r = f".pipe/stage/{name}.{oname}.{os.path.basename(out.path)}"
            rel[oname] = r
            outs.append((oname, r, out.path, out.type))
        payload = {
            "step": name,
            "run_id": self.run_id,
            "command": render_command(node, rel),
            "files": files,
            "objects": objects,
            "outputs": outs,
            "env": env.spec if node.step.environment else None,
            "env_identity": decision.key.manifest.get("env"),
            "step_env": {k: v for k, v in launch.env.items() if k != tracking.ENV},
            "store": self.cluster.store_spec,
            "timeout": node.step.timeout,  # timed on the worker, from the command's start
            "workdir": node.step.workdir,  # a Pipefile used as a component: its commands run in its folder
        }
        tries = 1 + (DEFAULT_RETRIES if node.step.retries is None else node.step.retries)
        # The log file grows as the pieces come back: followed like a local task's (the live
        # lines on the terminal, `pipe logs --follow`).
        with open(log_abs, "wb") as log, self._following(name, log_abs, env, log):
            if self.follower is not None:
                self.follower.command_starts(name)
            for attempt in range(1, tries + 1):
                try:
                    done = self._submit(node, payload, log)
                    break
                except _Lost as e:
                    note = f"attempt {attempt} of {tries}: the executor failed under it ({e})"
                    log.write(f"\n[pipe] {note}\n".encode())
                    log.flush()
                    notes.append(note)
                    if attempt == tries:
                        raise StepFailure(f"the executor failed under it {tries} time(s): {e}") from None
            if done.get("log"):
                log.write(done["log"])
        worker = {"executor": "ray", "node": done.get("node"), "host": done.get("host")}
        self._ran[name] = (worker, {})
        if done.get("error"):
            raise StepFailure(done["error"], done.get("rc"))
        rc = done["rc"]
        if rc == 0:
            self._fetch_outputs(node, staged, done["outputs"])
        return rc

    def _ship(self, node: Node, decision: Decision, env: Environment) -> tuple:
        """Put what the task reads on the shared store: ([(path, content)], [objects])."""
        m = decision.key.manifest
        wanted = {v["path"]: v for v in m["inputs"].values() if "digest" in v}
        wanted.update(m["code"])
        for rel in _environment_files(env):
            d = self.hasher.digest(rel)
            if d is not None:
                wanted[rel] = {"kind": d.kind, "digest": d.digest, "exec": d.executable}
        files, objects = [], []
        store = self.ws.store
        for rel, v in sorted(wanted.items()):
            content = PathDigest(v["kind"], v["digest"], 0, bool(v.get("exec")))
            if not store.complete(content):
                ap = self.abspath(rel)
                if content.kind == TREE:
                    tree = self.hasher.tree(rel)
                    if tree.digest != content.digest:
                        raise StepFailure(f"input '{rel}' changed after the run was planned; run again")
                    store.put_tree(tree, ap, durable=False)
                else:
                    store.put_file(ap, content.digest, durable=False)
            files.append((rel, content.to_json()))
            objects += closure(store, content)
        with self._store_lock:
            todo = [d for d in dict.fromkeys(objects) if d not in self._on_store]
        if todo:
            missing = self.cluster.remote.missing_objects(todo)
            if missing:
                t = self.cluster.remote.upload(store, sorted(missing))
                if t.failed:
                    raise StepFailure(f"could not upload its inputs to the shared store: {t.failed[0][1].render()}")
            with self._store_lock:
                self._on_store.update(todo)
        return files, list(dict.fromkeys(objects))

    def _submit(self, node: Node, payload: dict, log) -> dict:
        ray = self.cluster.ray
        r = node.step.resources
        options = {"num_cpus": r.cpus, "num_gpus": r.gpus}
        if r.memory:
            options["memory"] = r.memory
        if r.custom:
            options["resources"] = dict(r.custom)
        if self.cancelled.is_set():
            raise StepFailure("interrupted before it started")
        gen = self.cluster.task.options(**options).remote(payload)
        while True:
            if self.cancelled.is_set():
                self._cancel_task(gen)
                raise StepFailure("interrupted")
            try:
                ready, _ = ray.wait([gen], timeout=0.1)
                if not ready:
                    continue
                try:
                    ref = next(gen)
                except StopIteration:
                    raise _Lost("its Ray task ended without a result") from None
                kind, data = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                raise StepFailure("interrupted") from None
            except ray.exceptions.RayTaskError as e:  # pipe's own code failed on the worker
                last = str(e).strip().splitlines()[-1]
                if "No module named 'pipefile" in last:
                    raise StepFailure(
                        f"the cluster's workers cannot import pipefile ({last}): install the same pipefile on "
                        "every node (pip install pipefile[ray]; see docs/distributed.md)"
                    ) from None
                raise StepFailure(f"failed on the worker: {last}") from None
            except ray.exceptions.RayError as e:  # a worker or node died, an object was lost
                raise _Lost(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
            if kind == "log":
                log.write(data)
                log.flush()
            else:
                return data

    def _cancel_task(self, gen) -> None:
        """Ask the task to stop (it kills its command's processes), then kill its worker."""
        ray = self.cluster.ray
        try:
            ray.cancel(gen, force=False)
            end = time.monotonic() + _CANCEL_GRACE_SECONDS
            while time.monotonic() < end:
                try:
                    ready, _ = ray.wait([gen], timeout=0.1)
                    if ready:
                        next(gen)
                except (StopIteration, ray.exceptions.RayError):
                    return
            ray.cancel(gen, force=True)
        except Exception:  # noqa: BLE001 - it ended meanwhile
            pass

    def _fetch_outputs(self, node: Node, staged, outputs: dict) -> None:
        """Download what the worker made (verified) and put it where the command would have."""
        expected = self._ran[node.name][1]
        wanted = []
        for got in outputs.values():
            wanted += got["objects"]
        t = self.cluster.remote.download(self.ws.store, wanted)
        if t.failed:
            raise StepFailure(f"could not download its outputs from the shared store: {t.failed[0][1].render()}")
        for oname, out in node.outputs.items():
            got = outputs.get(oname) or {}
            for which, dest in (("stage", staged.paths[oname]), ("ws", self.abspath(out.path))):
                if got.get(which):
                    content = PathDigest.from_json(got[which])
                    self.ws.store.materialize(content, dest, self.ws.scratch)
                    expected[oname] = content

    def _commit(self, node: Node, decision: Decision, seconds: float) -> dict:
        """As locally, once what is in place hashes to what the worker reported."""
        expected = self._ran.get(node.name, (None, {}))[1]
        for oname, want in expected.items():
            have = self.hasher.digest(node.outputs[oname].path, contained=True)
            if have is None or have.digest != want.digest:
                raise StepFailure(
                    f"output '{oname}' does not match what the worker reported ({want.digest[:12]}, here "
                    f"{have.digest[:12] if have else 'nothing'}); not committed"
                )
        return super()._commit(node, decision, seconds)


def _environment_files(env: Environment) -> list:
    """The workspace files an environment is built from (a venv's requirements and what they
    include, a conda file): the worker builds it from them."""
    s = env.spec
    out = [p for p in (s.requirements, s.file) if p]
    if s.requirements and hasattr(env, "_included"):
        out += [p for p, _d in env._included(s.requirements, set())]
    return out
