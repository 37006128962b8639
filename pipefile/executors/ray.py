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

Ray is imported, and the cluster reached (or a local instance started), only when the first
task must run: a run that only restores or finds everything fresh never connects."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Optional

from .. import spec, tracking
from ..digest import TREE, PathDigest
from ..envs import Environment
from ..errors import PipefileError
from ..filenames import stage_leaf
from ..graph import Node, render_command
from ..outcomes import StepResult
from ..rebuilder import Decision
from ..staging import StepFailure, check_written_kind, written_twice
from .local import LocalExecutor, input_changed
from .processes import Stopped
from .ray_cluster import GONE_HINT, ClusterGone, Placement, RayCluster, Unplaceable, stops_when, transfer_failed  # noqa: F401 - RayCluster: the session's
from .ray_ship import batches, ship
from .ray_stream import Appended
from .workdir import ELSEWHERE

DEFAULT_RETRIES = 1
INLINE_BYTES = 256 * 1024  # outputs this small in all come back with the task's result
_CANCEL_GRACE_SECONDS = 3.0
_STOP_LOOK = 0.2  # how often a sweep trial under early termination is judged (as locally)


class _Lost(Exception):
    """The executor failed under a task (a worker or node died): worth trying again."""


class RayExecutor(LocalExecutor):
    _workdir_here = False

    def __init__(self, *args, cluster: RayCluster, land: Optional[set] = None, **kwargs):
        """`land`: the steps whose outputs must be in the workspace after the run
        (held.landing_steps); the others' stay on the shared store. None: every step's land."""
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        self.land = land
        self._held: dict = {}  # step -> {output: PathDigest} left on the shared store, until committed
        self._held_objects: dict = {}  # step -> the objects those outputs are made of
        self._kept: dict = {}  # content digest of an output left on the store -> its objects
        self._tasks: dict = {}  # a resource request -> the Ray task with those options
        self._on_store: set = set()  # objects known to be on the shared store
        self._store_lock = threading.Lock()
        self._ran: dict = {}  # step -> (worker record, {output: expected PathDigest})
        self._contexts: dict = {}  # (environment, identity) -> its build context, listed once per run

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            super().close()

    # --- running --------------------------------------------------------------------------
    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        result = super().run(node, decision, None)  # (GPUs are Ray's to hand out, not this machine's)
        worker = self._ran.pop(node.name, (None, None))[0]
        self._held.pop(node.name, None)  # (a step that failed after it ran: nothing of it stays)
        self._held_objects.pop(node.name, None)
        if worker is not None:
            result.worker = worker
        return result

    def _execute(self, node: Node, decision: Decision, staged, env: Environment, launch, log_abs, notes) -> int:
        name = node.name
        try:
            self.cluster.connect()
        except PipefileError as e:
            raise StepFailure(e.render()) from None
        files, objects, context = ship(self, node, decision, env)
        azure = node.step.render == spec.RENDER_AZUREML
        rel, outs = {}, []
        for oname, out in node.outputs.items():
            r = os.path.relpath(staged.paths[oname], self.root)
            if r.startswith(".."):  # staged beside an output on another file system: any path will do there
                r = f".pipe/stage/{stage_leaf(name, oname, os.path.basename(out.path))}"
            rel[oname] = r
            outs.append((oname, r, out.path, out.type))
        payload = {
            "step": name,
            "run_id": self.run_id,
            # An imported Azure ML step: paths absolute, run in a copy of its code (made on the node).
            "command": render_command(node, rel, root=ELSEWHERE if azure else ""),
            "azureml": (node.step.code[0].path if node.step.code else "") if azure else None,
            "files": files,
            "objects": objects,
            "outputs": outs,
            "env": env.spec if node.step.environment else None,
            "env_identity": decision.key.manifest.get("env"),
            # A Docker environment's image IDs as planned: a node whose differ names them.
            "env_build": env.build_identity() if env.container else None,
            "context": context,  # a Docker `build:`'s build context, by digest
            "memory": node.step.resources.memory,  # (a container's limit, as locally)
            "step_env": {k: v for k, v in launch.env.items() if k != tracking.ENV},
            "pythonpath": (self._base_env.get("PYTHONPATH", ""), self.root),  # (as the step's here: ray_worker)
            "metrics": tracking.ENV in launch.env,  # its series come back as it writes them, beside its log
            "store": self.cluster.store_spec,
            "timeout": node.step.timeout,  # timed on the worker, from the command's start
            # Outputs that land here come back with the result when small (not via the store).
            "inline": 0 if self._stays_on_store(node) else INLINE_BYTES,
            "workdir": node.step.workdir,  # a Pipefile used as a component: its commands run in its folder
            "batches": batches(node),
        }
        tries = 1 + (DEFAULT_RETRIES if node.step.retries is None else node.step.retries)
        # The log file grows as the pieces come back: followed like a local task's (the live
        # lines on the terminal, `pipe logs --follow`).
        series = Appended(launch.env.get(tracking.ENV))
        with open(log_abs, "wb") as log, self._following(name, log_abs, env, log), series:
            if self.follower is not None:
                self.follower.command_starts(name)
            for attempt in range(1, tries + 1):
                try:
                    series.restart()  # (an attempt's series is its own, as a local retry's is)
                    done = self._submit(node, payload, log, series)
                    break
                except ClusterGone as e:
                    # Not retried: the cluster is not coming back within this run.
                    log.write(f"\n[pipe] {e}\n".encode())
                    notes.append(GONE_HINT)
                    raise StepFailure(f"{e}; nothing of this step was committed") from None
                except _Lost as e:
                    gone = self.cluster.confirm_gone()
                    if gone is not None:  # the whole cluster, not one worker: as above
                        log.write(f"\n[pipe] {gone}\n".encode())
                        notes.append(GONE_HINT)
                        raise StepFailure(f"{gone}; nothing of this step was committed") from None
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
        notes += done.get("notes") or []
        if done.get("error"):
            raise StepFailure(done["error"], done.get("rc"))
        rc = done["rc"]
        if rc == 0:
            if self._stays_on_store(node):
                self._hold(node, done["outputs"], notes)
            else:
                self._fetch_outputs(node, staged, done["outputs"], done.get("blobs") or {})
        return rc

    def _submit(self, node: Node, payload: dict, log, series) -> dict:
        r = node.step.resources
        options = {"num_cpus": r.cpus, "num_gpus": r.gpus}
        if r.memory:
            options["memory"] = r.memory
        if r.custom:
            options["resources"] = dict(r.custom)
        if self.cancelled.is_set():
            raise StepFailure("interrupted before it started")
        key = repr(sorted(options.items()))
        task = self._tasks.get(key)
        if task is None:  # (Ray's .options() is not free: once per kind of request)
            task = self._tasks[key] = self.cluster.task.options(**options)
        gen = task.remote(payload)
        pieces = self.cluster.pump.add(gen)
        # (Submitted first: an autoscaler adds nodes for what pending tasks ask.) Every task is
        # watched until it starts: a request placed before may have had its only node die since.
        placing = Placement(self.cluster, options, log)
        try:
            return self._follow(node.name, gen, pieces, (log, series), placing)
        finally:
            self.cluster.pump.drop(gen)

    def _follow(self, name: str, gen, pieces, files: tuple, placing: Optional[Placement] = None) -> dict:
        """The task's result; meanwhile its log and metrics stream are appended to `files` (log,
        series) as they come, and a sweep trial early termination judges worse is stopped."""
        import queue

        ray = self.cluster.ray
        log, series = files
        judge = self.stopping if self.stopping is not None and self.stopping.watches(name) else None
        look = time.monotonic() + _STOP_LOOK
        while True:
            if self.cancelled.is_set():
                self.cluster.pump.drop(gen)
                self._cancel_task(gen)
                raise StepFailure("interrupted")
            if self.cluster.gone is not None:
                raise ClusterGone(self.cluster.gone)
            if judge is not None and time.monotonic() >= look:
                look = time.monotonic() + _STOP_LOOK
                stop = judge.judge(name, self.log_dir)
                if stop:
                    self.cluster.pump.drop(gen)
                    self._cancel_task(gen)
                    raise Stopped(stop)
            try:
                try:
                    tag, got = pieces.get(timeout=0.1)
                except queue.Empty:
                    if placing is not None and not placing.placeable:
                        try:
                            placing.check()
                        except Unplaceable as e:
                            self.cluster.pump.drop(gen)
                            self._cancel_task(gen)
                            raise StepFailure(str(e)) from None
                    continue
                if placing is not None:  # (it started: a node holds it)
                    placing.placeable = True
                if tag == "end":
                    raise _Lost("its Ray task ended without a result")
                if tag == "error":
                    raise got
                kind, data = ray.get(got)
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
            elif kind == "metrics":
                series.write(data)
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

    def _fetch_outputs(self, node: Node, staged, outputs: dict, blobs: dict) -> None:
        """Download what the worker made (verified) and put it where the command would have."""
        from ..cache.content_store import DigestMismatch

        expected = self._ran[node.name][1]
        wanted = []
        for got in outputs.values():
            wanted += got["objects"]
        for digest, data in blobs.items():
            try:
                self.ws.store.put_verified([data], digest)
            except DigestMismatch as e:
                raise StepFailure(f"an output's bytes from the worker do not match their digest ({e})") from None
        wanted = [d for d in wanted if d not in blobs]
        t = self.cluster.remote.download(self.ws.store, wanted, stops_when(self.cancelled)) if wanted else None
        if t is not None and t.failed:
            raise StepFailure(transfer_failed("download its outputs from", t, self.cancelled))
        for oname, out in node.outputs.items():
            got = outputs.get(oname) or {}
            for which, dest in (("stage", staged.paths[oname]), ("ws", self.abspath(out.path))):
                if got.get(which):
                    content = PathDigest.from_json(got[which])
                    self.ws.store.materialize(content, dest, self.ws.scratch)
                    expected[oname] = content

    # --- outputs left on the shared store (docs/distributed.md, "The data plane") -----------
    def _stays_on_store(self, node: Node) -> bool:
        # A temporary store goes with the run, and one later runs do not consult is lost to
        # them (they would run its steps again): what is on either must land here.
        c = self.cluster
        return self.land is not None and node.name not in self.land and not c.temporary_store and c.later_runs_see_store

    def _hold(self, node: Node, outputs: dict, notes: list) -> None:
        held, objects = {}, []
        for oname in node.outputs:
            got = outputs.get(oname) or {}
            held[oname] = _checked(node, oname, got)
            objects += got["objects"]
            with self._store_lock:  # what a later step of this run reads from there
                self._kept[held[oname].digest] = list(got["objects"])
                self._on_store.update(got["objects"])
        self._held[node.name] = held
        self._held_objects[node.name] = list(dict.fromkeys(objects))
        paths = ", ".join(o.path for o in node.outputs.values())
        notes.append(
            f"outputs left on the shared store (only steps on the cluster read them): {paths}; "
            "a run that needs them here restores them"
        )

    def _check_inputs_unchanged(self, decision: Decision) -> None:
        """As locally, but for inputs that were never here (left on the store this run)."""
        m = decision.key.manifest
        expected = {v["path"]: v["digest"] for v in m["inputs"].values() if "digest" in v}
        expected.update({p: v["digest"] for p, v in m["code"].items()})
        for path, digest in expected.items():
            now = self.hasher.digest(path, data_only=True)  # (a FIFO put there: changed, never read)
            if now is None and digest in self._kept:
                continue
            if now is None or now.digest != digest:
                raise input_changed(path)

    def _collect(self, node: Node, staged) -> None:
        if node.name not in self._held:
            super()._collect(node, staged)
            return
        # Staging made an empty folder at each folder output's path; left there, a step of
        # this run reading it hashed that empty folder and failed as if its input changed.
        for out in node.outputs.values():
            if out.type == spec.URI_FOLDER:
                with contextlib.suppress(OSError):  # (not empty, or gone: not ours to remove)
                    os.rmdir(self.abspath(out.path))

    def _commit_held(self, node: Node, decision: Decision, seconds: float) -> dict:
        """Commit by digest what stays on the shared store: once it is all there, the entry
        goes into the action cache here and into the store's run cache (what later runs restore
        from), and the store is noted for this workspace."""
        from .held import note_store

        outputs = self._held.pop(node.name)
        objects = self._held_objects.pop(node.name)
        remote = self.cluster.remote
        missing = remote.missing_objects(objects)
        if missing:
            raise StepFailure(
                f"{len(missing)} object(s) of its outputs are not on the shared store after it ran; not committed"
            )
        self.ws.actions.put(decision.key.digest, outputs, decision.key.manifest, seconds, held=True)
        with open(self.ws.actions.path(decision.key.digest), "rb") as f:
            remote.put_entry(decision.key.digest, f.read())
        note_store(self.ws.dir, self.cluster.store_spec)
        return outputs

    def _commit(self, node: Node, decision: Decision, seconds: float) -> dict:
        """As locally, once what is in place hashes to what the worker reported."""
        if node.name in self._held:
            return self._commit_held(node, decision, seconds)
        expected = self._ran.get(node.name, (None, {}))[1]
        for oname, want in expected.items():
            have = self.hasher.digest(node.outputs[oname].path, contained=True)
            if have is None or have.digest != want.digest:
                raise StepFailure(
                    f"output '{oname}' does not match what the worker reported ({want.digest[:12]}, here "
                    f"{have.digest[:12] if have else 'nothing'}); not committed"
                )
        return super()._commit(node, decision, seconds)


def _checked(node: Node, oname: str, got: dict) -> PathDigest:
    """What a step left on the store for output `oname`, held to what staging.collect checks
    of one that lands here (written once, a file or a folder as declared): unchecked, a
    uri_file written as a folder was committed."""
    out = node.outputs[oname]
    if got.get("stage") and got.get("ws"):
        raise written_twice(oname, out)
    content = got.get("stage") or got.get("ws")
    if content is None:
        raise StepFailure(f"did not write its output '{oname}' ('{out.path}')")
    d = PathDigest.from_json(content)
    check_written_kind(oname, out, d.kind == TREE)
    return d
