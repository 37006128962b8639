"""The local executor: runs or restores ONE task on this machine, keeping the commit protocol.

Running a task:
  1. Its outputs are staged (staging.Staged: the previous ones saved in the store if
     needed, then moved aside; the staging paths made).
  2. Its environment is prepared and its command runs in its own process group, output to
     its log file.
  3. Verified: the outputs are collected into place (written once, of the declared type)
     and no input changed under it. On any failure (exit status, a missing or mistyped
     output, an input it modified, Ctrl-C) staging rolls back: the workspace is as before.
  4. Committed: the outputs are hashed and copied into the ContentStore, and only then is
     the ActionCache entry written. The scheduler records the task in the WorkspaceState
     journal last.

Restoring a task materialises its cached outputs (downloading them first when they come
from a remote). A restore that fails where running would do is a result (RESTORE_FAILED):
the scheduler decides to run the task instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from typing import Optional

from .. import filenames, spec, stopping, tracking
from ..cache import tempnames
from ..cache.content_store import StoreError
from ..digest import TREE, Hasher, PathDigest
from ..envs import Environment, EnvironmentSet, Launch
from ..envs.gpus import model_of
from ..errors import PipefileError
from ..graph import Node, command_text, render_command
from ..outcomes import Outcome, StepResult
from ..rebuilder import NOT_MADE, Decision, not_made_text
from ..staging import Landings, Staging, StepFailure, drop_beside
from ..workspace import Workspace
from .follow import LogFollower
from .literal import LiteralView
from .processes import ProcessRunning, Stopped, changed_at, failure_message, log_says, log_tail, output_signature

# An output file up to this size is read once by the commit, hashed and stored from memory.
SMALL_OUTPUT_BYTES = 1 << 16


def input_changed(path: str) -> StepFailure:
    """The failure of a task whose input or code is not what it was keyed with once its command
    ended: the step changed it, or something else did meanwhile (a user editing the file while a
    long step runs). What it made of a changing input is not kept, either way."""
    return StepFailure(
        f"modified its own input '{path}' while running, or something else changed it meanwhile (an editor, "
        "another process); steps must only write their declared outputs, and outputs made from an input "
        "that changed are not kept: run again"
    )


class LocalExecutor(ProcessRunning):
    """Runs tasks as local processes (or in their environment's) in the workspace root."""

    # An imported Azure ML step's working folder (workdir.py) is made here; an executor that
    # runs commands elsewhere makes it there.
    _workdir_here = True

    def __init__(
        self,
        ws: Workspace,
        hasher: Hasher,
        run_id: str,
        log_dir: str,
        base_env: Optional[dict] = None,
        fetcher=None,
        leave_on_remote=frozenset(),
        environments: Optional[EnvironmentSet] = None,
        outputs: Optional[dict] = None,
    ):
        """`base_env`: the environment tasks start from (default: this process's); the
        server passes a scrubbed one, so tasks never see its secrets. `fetcher`: a
        remote.run_cache.RemoteFetcher that downloads what a restore from a remote needs;
        `leave_on_remote`: tasks whose outputs stay on the remote unless already here.
        `environments`: where tasks that name one run. `outputs`: every output path of the
        graph (path -> step name), whose links are noted before the first task starts."""
        self.fetcher = fetcher
        self.leave_on_remote = leave_on_remote
        self.ws = ws
        self.environments = environments
        self._local = Environment(spec.EnvSpec("local"), ws.root, hasher)
        self.hasher = hasher
        self.root = ws.root
        self.run_id = run_id
        self.log_dir = log_dir
        os.makedirs(self.log_dir, exist_ok=True)
        # A task's log as its result names it: relative to the workspace that holds the job
        # logs (a served job's is not where it runs).
        self._log_rel_dir = os.path.relpath(log_dir, os.path.dirname(os.path.dirname(ws.jobs_dir)))
        # Empty: nothing of an earlier job of this number is in it (see run).
        self._fresh_logs = not os.listdir(self.log_dir)
        self._procs: dict = {}
        self._procs_lock = threading.Lock()
        self.cancelled = threading.Event()
        self._base_env = dict(os.environ if base_env is None else base_env, PIPE_RUN_ID=run_id)
        self._base_env.setdefault("PYTHONUNBUFFERED", "1")
        self.landings = Landings(ws.root, outputs or {}, ws.store_root)
        self.staging = Staging(ws, hasher, self.landings)
        self._commands_started = False
        self._tried: set = set()  # tasks whose command this executor started (their series may exist)
        self.follower: Optional[LogFollower] = None
        self.stopping = None  # stopping.Stopping: which running sweep trials to stop early
        ws.note_run(run_id)
        ws.store.start_background_sync()

    def cancel(self, hard: bool = False) -> None:
        """Ctrl-C: the processes (ProcessRunning), and a restore's downloads, which stop at
        once rather than after a stalled remote's timeout."""
        super().cancel(hard)
        if self.fetcher is not None:
            self.fetcher.cancel()

    def close(self) -> None:
        """The run is over: no task of it can still be running. Returns once every output
        it stored is on disk."""
        if self.follower is not None:
            self.follower.close()
        try:
            tempnames.drop_stock(self)
            self.ws.store.stop_background_sync()
        finally:
            self.ws.end_run(self.run_id)

    def _while_it_runs(self) -> None:
        # The two files the commit writes (an object, the run-cache entry) made now, beside
        # the command, not between it and the next step's (cache/tempnames.py).
        tempnames.stock(self.ws.store.tmp, 2, self)
        tempnames.stock(self.log_dir, 1, self, ".ahead-", 0o666)  # the next task's log (as open() makes it)

    def _open_log(self, log_abs: str):
        ahead = tempnames.made_ahead(self.log_dir)
        if ahead is not None:
            fd, path = ahead
            try:
                os.replace(path, log_abs)  # (a retry's earlier log goes, as open() truncates it)
                # (What open(fd, "wb") makes, less its terminal check: a log file is none.)
                return io.BufferedWriter(io.FileIO(fd, "wb"))
            except OSError:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(path)
        return open(log_abs, "wb")

    def follow_output(self, sink) -> None:
        self.follower = LogFollower(sink)

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    # --- restore ------------------------------------------------------------------------
    def restore(self, node: Node, decision: Decision, bring: bool = False) -> StepResult:
        t0 = time.monotonic()
        notes: list = []
        try:
            if decision.remote is not None and self.fetcher is not None:
                if not bring and node.name in self.leave_on_remote and self.fetcher.needs(decision.outputs):
                    return StepResult(
                        name=node.name,
                        outcome=Outcome.LEFT_ON_REMOTE,
                        outputs=dict(decision.outputs),
                        notes=[
                            f"up to date on remote '{decision.remote}'; not downloaded (no step that runs reads it)"
                        ],
                    )
                # Even when every object is here already (an earlier pull), the remote's folders
                # are checked again: a refused one must not be restored from the local copy.
                self.fetcher.fetch(decision.key.digest, decision.outputs)
            for out in node.outputs.values():
                self.landings.check(out.path)
            for name, out in node.outputs.items():
                want: PathDigest = decision.outputs[name]
                have = self.hasher.digest(out.path, data_only=True)
                if have is not None and have.same_content(want):
                    continue
                notes += self.staging.preserve(out.path)
                with self._scratch_for(node.name, out.path) as scratch:
                    written = self.ws.store.materialize(want, self.abspath(out.path), scratch)
                self._record_written(out.path, written)
        except StepFailure as f:  # a link sends an output where it must not go: running would not help
            return StepResult(
                name=node.name, outcome=Outcome.FAILED, seconds=time.monotonic() - t0, error=f.message, notes=notes
            )
        except (StoreError, OSError, PipefileError) as e:
            # A damaged or incomplete cache entry, or a remote that fails or sends bad bytes:
            # running the task would do, which the scheduler decides.
            return StepResult(
                name=node.name,
                outcome=Outcome.RESTORE_FAILED,
                seconds=time.monotonic() - t0,
                error=e.render() if isinstance(e, PipefileError) else str(e),
                notes=notes,
            )
        # Signed only once a command has run in this run: until then nothing can write over them.
        return StepResult(
            name=node.name,
            outcome=Outcome.RESTORED,
            seconds=time.monotonic() - t0,
            outputs=dict(decision.outputs),
            notes=notes,
            signatures=self._signatures(node) if self._commands_started else {},
        )

    # --- outputs watched during the run ---------------------------------------------------
    def commands_starting(self) -> None:
        self._commands_started = True

    def _signatures(self, node: Node) -> dict:
        return {o.path: output_signature(self.abspath(o.path)) for o in node.outputs.values()}

    def signature(self, rel: str) -> Optional[int]:
        return output_signature(self.abspath(rel))

    def changed_at(self, rel: str) -> int:
        return changed_at(self.abspath(rel))

    def put_back(self, rel: str, want: PathDigest) -> tuple:
        """Write the content a task committed at `rel` back from the store, after another task
        wrote over it; what was there is saved first (never lost). (ok, notes)."""
        try:
            self.landings.check(rel)
            notes = self.staging.preserve(rel)
            if not self.ws.store.complete(want):
                return False, notes
            with self._scratch_for("put-back", rel) as scratch:
                written = self.ws.store.materialize(want, self.abspath(rel), scratch)
            self._record_written(rel, written)
            return True, notes
        except (StepFailure, StoreError, OSError, PipefileError):
            return False, []

    @contextlib.contextmanager
    def _scratch_for(self, step: str, rel: str):
        """Where a restore of the output `rel` builds its content before renaming it into place:
        the workspace's scratch, or on another file system a folder beside the output named in
        the journal first, so that a run killed meanwhile leaves nothing there (`staging.recover`)."""
        parent = os.path.dirname(self.abspath(rel))
        os.makedirs(parent, exist_ok=True)
        if os.stat(parent).st_dev == os.stat(self.ws.scratch).st_dev:
            yield self.ws.scratch
            return
        folder, entry = self.staging.make_beside(step, parent)
        try:
            yield folder
        finally:
            drop_beside(folder, entry)

    def forget(self, key: str) -> None:
        self.ws.actions.forget(key)

    def _record_written(self, rel: str, written: list) -> None:
        now = time.time_ns()
        for sub, digest in written:
            p = f"{rel}/{sub}" if sub else rel
            try:
                st = os.stat(self.abspath(p))
            except OSError:
                continue
            self.hasher.cache.record(p, st, digest, now)

    # --- run ----------------------------------------------------------------------------
    def environment_of(self, node: Node) -> Environment:
        name = node.step.environment
        if not name or self.environments is None:
            return self._local
        return self.environments.get(name)

    def _note_names(self, name: str, log_file: str) -> None:
        """Beside a log or metrics stream whose file name was shortened: the task's name."""
        stem = log_file[:-4]
        stream = tracking.stream_path(log_file)[: -len(".metrics.jsonl")]
        for shortened in {stem, stream}:
            if filenames.is_shortened(name, shortened, ""):
                filenames.note_name(self.log_dir, shortened, name)

    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        name = node.name
        t0 = time.monotonic()
        log_file = filenames.log_file(name)  # (bounded: a long name is shortened, a note names it)
        log_abs = os.path.join(self.log_dir, log_file)
        if "/" in name:  # an imported nested node (OUTER/INNER): its log in a folder of the outer one
            os.makedirs(os.path.dirname(log_abs), exist_ok=True)
        if len(log_file) > 63:  # (only a long name can have been shortened)
            self._note_names(name, log_file)
        log_rel = os.path.join(self._log_rel_dir, log_file)
        notes: list = []
        shown = command_text(node.command)  # (rendered once, with the graph)
        gpu_ids = tuple(g.id for g in devices or ())
        model = model_of(devices) if devices else None
        env_text = None
        staged = None
        ran, staged_paths = None, ()
        azure = node.step.render == spec.RENDER_AZUREML
        wd = None
        try:
            env = self.environment_of(node)
            if node.step.environment:
                kind, _, digest = env.identity().partition(":")
                env_text = f"{env.name} ({kind}:{digest[:12]})" if digest else f"{env.name} ({kind})"
            if decision.key is None:  # the planner could not even key it (a missing input)
                raise StepFailure(
                    "cannot run: "
                    + "; ".join(
                        not_made_text(r)
                        if r.kind == NOT_MADE
                        else f"input '{r.subject}' does not exist (and no step produces it)"
                        for r in decision.reasons
                    )
                )
            if self.cancelled.is_set():
                raise StepFailure("interrupted before it started")
            staged = self.staging.stage(node, container=bool(env.container))
            staged.prepare()
            stand_for = {n: os.path.relpath(p, self.root) for n, p in staged.paths.items()}
            cmd = render_command(node, stand_for, root=self.root if azure else "")
            if azure and self._workdir_here:  # as on Azure: in a fresh copy of its code, paths absolute
                from . import workdir  # (here: it needs shutil, which a no-op run does not import)

                code = node.step.code[0].path if node.step.code else ""
                wd = workdir.make(self.ws.dir, self.run_id, name, self.root, code)
            ran = command_text(cmd)
            staged_paths = tuple(
                (stand_for[n], o.path) for n, o in node.outputs.items() if n in stand_for and stand_for[n] in ran
            )
            view = LiteralView(self.root, staged) if env.container else None
            step_env = {"PIPE_STEP": name, "PIPE_RUN_ID": self.run_id}
            if wd is not None:
                step_env.update(wd.env())
            if not env.container:  # (the log folder is not mounted into a container)
                step_env[tracking.ENV] = stream = tracking.stream_path(log_abs)
                # A series is this run's only: one there is of an earlier try of this task
                # (or of an earlier job of this number, whose folder was left behind).
                if not self._fresh_logs or name in self._tried:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(stream)
                self._tried.add(name)
            launch = Launch(
                name,
                cmd,
                step_env,
                wd.cwd if wd is not None else os.path.join(self.root, node.step.workdir),
                None,
                self.run_id,
                gpu_ids,
                staged.writable(),
                self._outside(node) if env.container else (),
                node.step.resources.cpus,
                node.step.resources.memory,
                view.make() if view is not None else (),
            )
            if devices is not None:
                # Only the leased devices: a task that asked for none sees none.
                launch.env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
            started_ns = time.time_ns()
            try:
                rc = self._execute(node, decision, staged, env, launch, log_abs, notes)
            finally:
                window = (started_ns, time.time_ns())
            if self.cancelled.is_set():
                raise StepFailure("interrupted", rc)
            if rc != 0:
                how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
                if env.container and log_says(log_abs, b"Read-only file system"):
                    notes.append(
                        "in a container the workspace is read-only but for the step's declared outputs "
                        "(at ${{outputs.NAME}} or at their paths): write only those"
                    )
                notes += _folder_written_as_a_file(node, staged.paths, log_abs)
                raise StepFailure(how, rc)
            if view is not None:
                notes += view.land()
            if wd is not None:
                from .workdir import ARTIFACTS

                if ARTIFACTS in stand_for:
                    wd.keep(os.path.join(self.root, stand_for[ARTIFACTS]))
            self._collect(node, staged)
            self._check_inputs_unchanged(decision)
            outputs = self._commit(node, decision, time.monotonic() - t0)
            sigs = self._signatures(node)
        except (StepFailure, PipefileError, OSError) as e:
            if wd is not None:
                wd.remove()
            if staged is not None:
                staged.roll_back()
            failure = isinstance(e, StepFailure)
            if isinstance(e, Stopped):
                stopping.remove_entries(self.root, [o.path for o in node.outputs.values()])
            return StepResult(
                name=name,
                outcome=Outcome.STOPPED if isinstance(e, Stopped) else Outcome.FAILED,
                seconds=time.monotonic() - t0,
                exit_code=e.exit_code if failure else None,
                log=log_rel,
                error=e.message if failure else failure_message(e),
                command=shown,
                ran=ran if ran != shown else None,
                staged=staged_paths if ran != shown else (),
                notes=(staged.notes if staged else []) + notes,
                environment=env_text,
                gpus=gpu_ids,
                gpu_model=model,
                stop=e.stop if isinstance(e, Stopped) else None,
            )
        staged.done()
        if wd is not None:
            wd.remove()
        return StepResult(
            name=name,
            outcome=Outcome.RAN,
            seconds=time.monotonic() - t0,
            outputs=outputs,
            exit_code=0,
            log=log_rel,
            command=shown,
            notes=staged.notes + notes,
            environment=env_text,
            gpus=gpu_ids,
            gpu_model=model,
            window=window,
            signatures=sigs,
        )

    def _outside(self, node: Node) -> tuple:
        """Where the inputs and code that are symlinks out of the workspace really are (a
        container sees only what is mounted)."""
        root = os.path.realpath(self.root)
        out = set()
        for rel in node.read_paths():
            real = os.path.realpath(self.abspath(rel))
            if real != root and not real.startswith(root + os.sep):
                out.add(real)
        return tuple(sorted(out))

    def _execute(self, node: Node, decision: Decision, staged, env: Environment, launch, log_abs, notes) -> int:
        """Where the command runs (here: a local process); returns its exit status. Another
        executor replaces only this: staging before and verifying and committing after stay."""
        return self._spawn(env, launch, log_abs, notes, node.step.timeout)

    def _collect(self, node: Node, staged) -> None:
        """The outputs put in place (another executor may leave some elsewhere)."""
        staged.collect()

    def _check_inputs_unchanged(self, decision: Decision) -> None:
        m = decision.key.manifest
        expected = {v["path"]: v["digest"] for v in m["inputs"].values() if "digest" in v}
        expected.update({p: v["digest"] for p, v in m["code"].items()})
        for path, digest in expected.items():
            now = self.hasher.digest(path, data_only=True)  # (a FIFO put there: changed, never read)
            if now is None or now.digest != digest:
                raise input_changed(path)

    def _commit(self, node: Node, decision: Decision, seconds: float) -> dict:
        outputs = {}
        for oname, out in node.outputs.items():
            ap = self.abspath(out.path)
            small = self.hasher.small_output(out.path, SMALL_OUTPUT_BYTES)  # (None for a folder or a link)
            if small is not None:
                outputs[oname], data = small
                self.ws.store.put_bytes(data, durable=False, what=f"storing {ap}")
            elif os.path.isdir(ap):
                tree = self.hasher.tree(out.path, contained=True)  # links leaving it: refused, never read
                self.ws.store.put_tree(tree, ap, durable=False)
                outputs[oname] = PathDigest(TREE, tree.digest, tree.size)
            else:
                d = self.hasher.digest(out.path, contained=True)
                self.ws.store.put_file(ap, d.digest, durable=False)
                outputs[oname] = d
        self.ws.actions.put(decision.key.digest, outputs, decision.key.manifest, seconds)
        return outputs


def _folder_written_as_a_file(node: Node, staged: dict, log_abs: str) -> list:
    """A note for a command that wrote a folder output as one file (`> ${{outputs.o}}`, where
    the path ends with `/`: each task's entry a folder): the shell's "Is a directory" alone
    does not say the fix."""
    said = [line for line in log_tail(log_abs).splitlines() if b"Is a directory" in line]
    for oname, out in node.outputs.items() if said else ():
        ap = staged.get(oname) if out.type == spec.URI_FOLDER else None
        # (only an error naming this output: `cat data/` failing on a folder of its own is not)
        if ap is None or not any(os.path.basename(ap.rstrip("/")).encode() in line for line in said):
            continue
        try:
            empty = not os.listdir(ap)
        except OSError:
            continue
        if empty:
            return [
                f"output '{oname}' is a folder (its path ends with '/', or its type is uri_folder), and the command "
                f"left it empty: write files inside it (${{{{outputs.{oname}}}}}/NAME), or declare a file path (no '/')"
            ]
    return []
