"""Runs ONE step, or restores it, keeping the commit protocol.

Running a step:
  1. Whatever sits at each output path is saved in the store if it is not
     there already (a hand-edited output is never lost), then moved aside.
     Output folders are created empty at both the staging path (what
     `${{outputs.X}}` points to: `.pipe/stage/STEP.OUTPUT.NAME`) and the workspace
     path (for commands that write the literal path, as in make).
  2. The command runs in its own process group, output to its log file.
  3. On failure (exit status, missing or mistyped output, an input it
     modified, Ctrl-C) what it wrote is removed and the previous outputs are
     moved back: the workspace is as it was before the step.
  4. On success the outputs are moved into place, hashed, copied into the
     ContentStore, and only then is the ActionCache entry written. The caller
     records the step in the WorkspaceState journal last.

`DryRunExecutor` stands beside it and only says what would happen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from . import spec
from .digest import FILE, TREE, Hasher, PathDigest
from .envs import Environment, EnvironmentSet, EnvError, Launch
from .envs.gpus import model_of
from .errors import PipefileError
from .graph import Node, first_link, forbidden_landing, landing
from .keys import render_command
from .rebuilder import Decision
from .store import Workspace
from .store.cas import StoreError, remove_path, replace_path

RAN = "ran"
RESTORED = "restored"
FRESH = "fresh"
FAILED = "failed"
SKIPPED = "skipped"
WOULD_RUN = "would-run"
WOULD_RESTORE = "would-restore"
# Restorable from a remote, but nothing in this run needs its outputs here: left there.
LEFT_ON_REMOTE = "on-remote"

_TERM_GRACE_SECONDS = 5.0


@dataclass
class StepResult:
    name: str
    outcome: str
    seconds: float = 0.0
    outputs: Optional[dict] = None  # output name -> PathDigest
    exit_code: Optional[int] = None
    log: Optional[str] = None  # workspace-relative
    error: Optional[str] = None
    command: Optional[str] = None
    notes: list = field(default_factory=list)
    environment: Optional[str] = None  # "NAME (identity)" of a step that ran in an environment
    gpus: tuple = ()  # the GPU ids it was leased
    gpu_model: Optional[str] = None
    # (start, end) in time.time_ns() of its command: tells which step wrote over another's output
    window: tuple = ()
    # output path -> its stat signature right after it was put in place (see output_signature)
    signatures: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome not in (FAILED, SKIPPED)


@dataclass
class _Left:
    """A step this run left on the remote, in case a step that reads it must run after all."""

    node: Node
    decision: Decision
    lock: threading.Lock = field(default_factory=threading.Lock)
    here: bool = False  # put in place since


class _StepFailure(Exception):
    def __init__(self, message: str, exit_code: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _log_says(path: str, text: bytes, tail: int = 8192) -> bool:
    """Whether the end of a step's log holds `text`."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - tail))
            return text in f.read()
    except OSError:
        return False


def _has_content(path: str) -> bool:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            with os.scandir(path) as it:
                return any(True for _ in it)
        return os.path.lexists(path)
    except OSError:
        return False


def output_signature(ap: str) -> Optional[int]:
    """A cheap fingerprint of what is at `ap` now: the stat signature of the file, or of every
    file and folder in the folder (names, sizes, times, inodes, modes). Stats only, nothing
    read; equal fingerprints mean nothing was written. None: nothing is there."""
    try:
        st = os.stat(ap)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return hash((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode))
    parts = [(st.st_mtime_ns, st.st_ctime_ns, st.st_ino)]
    # Not into linked folders: a step could have made a link loop, and a walk must end.
    for dirpath, dirnames, filenames in os.walk(ap):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            try:
                e = os.stat(os.path.join(dirpath, name))
            except OSError:
                e = None
            parts.append((dirpath, name) + ((e.st_size, e.st_mtime_ns, e.st_ctime_ns, e.st_ino, e.st_mode)
                                             if e else ()))
    return hash(tuple(parts))


def changed_at(ap: str) -> int:
    """When what is at `ap` last changed (newest ctime within; a removed one: its folder's)."""
    while True:
        try:
            st = os.stat(ap)
            break
        except OSError:
            up = os.path.dirname(ap)
            if up == ap:
                return 0
            ap = up
    newest = st.st_ctime_ns
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(ap):
            for name in dirnames + filenames:
                try:
                    newest = max(newest, os.stat(os.path.join(dirpath, name)).st_ctime_ns)
                except OSError:
                    pass
    return newest


def command_text(cmd) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def format_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class LocalExecutor:
    """Runs steps as local processes in the workspace root."""

    def __init__(self, ws: Workspace, hasher: Hasher, run_id: str, log_dir: str, base_env: Optional[dict] = None,
                 fetcher=None, leave_on_remote=frozenset(), environments: Optional[EnvironmentSet] = None,
                 outputs: Optional[dict] = None):
        """`base_env`: the environment steps start from (default: this process's); the
        server passes a scrubbed one, so steps never see its secrets. `fetcher`: a
        store.remote_cache.RemoteFetcher that downloads what a restore from a remote needs;
        `leave_on_remote`: steps whose outputs stay on the remote unless already here.
        `environments`: where steps that name one run. `outputs`: every output path of the
        graph (path -> step name), whose links are noted before the first step starts."""
        self.fetcher = fetcher
        self.leave_on_remote = leave_on_remote
        self._left: dict = {}  # step name -> (node, decision): left on the remote by this run
        self._left_lock = threading.Lock()
        self.ws = ws
        self.environments = environments
        self._local = Environment(spec.EnvSpec("local"), ws.root, hasher)
        self.hasher = hasher
        self.root = ws.root
        self.run_id = run_id
        self.log_dir = log_dir
        os.makedirs(self.log_dir, exist_ok=True)
        self._procs: dict = {}
        self._procs_lock = threading.Lock()
        self.cancelled = threading.Event()
        self._base_env = dict(os.environ if base_env is None else base_env, PIPE_RUN_ID=run_id)
        self._base_env.setdefault("PYTHONUNBUFFERED", "1")
        self._outputs = outputs or {}  # output path -> its step's name, for the link checks
        self._landings: Optional[dict] = None  # output path -> where it lands, as the first step starts
        self._landings_lock = threading.Lock()
        self.commands_started = False  # set by the scheduler before the first command of the run
        self._root_real = os.path.realpath(ws.root)
        self._store_real = [os.path.realpath(ws.store_root)]
        ws.note_run(run_id)
        ws.store.start_background_sync()

    def close(self) -> None:
        """The run is over: no step of it can still be running. Returns once every output
        it stored is on disk."""
        try:
            self.ws.store.stop_background_sync()
        finally:
            self.ws.end_run(self.run_id)

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    # --- where outputs land: links made during the run ------------------------------------
    def _planned_landings(self) -> dict:
        """Where every output landed when the run's first step started (validated before the
        run by graph.link_errors). Taken then, not before: a no-op costs nothing."""
        with self._landings_lock:  # every step waits here before it touches anything
            if self._landings is None:
                memo: dict = {}
                self._landings = {p: landing(self.root, p, memo) for p in self._outputs}
            return self._landings

    def check_landing(self, path: str) -> None:
        """Refuse to write output `path` if a link on the way now sends it elsewhere than when
        the run began (a step made it), or into pipe's own state. Called right before
        anything is moved or written there."""
        planned = self._planned_landings().get(path)
        now = landing(self.root, path, {"": self._root_real})
        why = forbidden_landing(self.root, path, now, self._store_real, self._root_real)
        if why is None and (planned is None or now == planned):
            return
        link = first_link(self.root, path)
        via = f" through the link '{link[0]}' -> '{link[1]}'" if link else ""
        if why is None:
            why = f"that link was made during this run (it was to land at '{planned}')"
        raise _StepFailure(f"will not write output '{path}': it would land at '{now}'{via}, and {why}; nothing "
                           f"was written there. Remove the link (a step that made it wrote outside its declared "
                           f"outputs) and run again")

    # --- saving what would otherwise be overwritten --------------------------------------
    def preserve(self, rel: str) -> list:
        """Make sure the store holds whatever is at `rel` now; returns notes for the user."""
        try:
            d = self.hasher.digest(rel)
        except OSError:
            return []
        if d is None or self.ws.store.complete(d):
            return []
        ap = self.abspath(rel)
        if d.kind == FILE:
            self.ws.store.put_file(ap, d.digest)
        else:
            self.ws.store.put_tree(self.hasher.tree(rel), ap)
        self.ws.note_saved(rel, d)
        return [f"saved the previous content of '{rel}' in the store before replacing it; "
                f"get it back with: pipe recover {d.digest[:12]} -o PATH"]

    # --- restore ------------------------------------------------------------------------
    def restore(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        """Restore the outputs; `devices` are for running it after all, if the store fails us."""
        t0 = time.monotonic()
        notes: list = []
        try:
            if decision.remote is not None and self.fetcher is not None:
                if node.name in self.leave_on_remote and self.fetcher.needs(decision.outputs):
                    with self._left_lock:
                        self._left[node.name] = _Left(node, decision)
                    return StepResult(node.name, LEFT_ON_REMOTE, 0.0, dict(decision.outputs),
                                      notes=[f"up to date on remote '{decision.remote}'; not downloaded "
                                             f"(no step that runs reads it)"])
                # Even when every object is here already (an earlier pull), the remote's folders
                # are checked again: a refused one must not be restored from the local copy.
                self.fetcher.fetch(decision.key.digest, decision.outputs)
            for out in node.outputs.values():
                self.check_landing(out.path)
            for name, out in node.outputs.items():
                want: PathDigest = decision.outputs[name]
                have = self.hasher.digest(out.path)
                if have is not None and have.same_content(want):
                    continue
                notes += self.preserve(out.path)
                written = self.ws.store.materialize(want, self.abspath(out.path), self.ws.scratch)
                self._record_written(out.path, written)
        except _StepFailure as f:  # a link sends an output where it must not go: running would not help
            return StepResult(node.name, FAILED, time.monotonic() - t0, None, None, None, f.message, notes=notes)
        except (StoreError, OSError, PipefileError) as e:
            # A damaged or incomplete cache entry, or a remote that fails or sends bad bytes,
            # must not fail the build: run the step instead.
            msg = e.render() if isinstance(e, PipefileError) else str(e)
            if node.step.resources.gpus and not devices:
                # It was not leased GPUs (a restore needs none): fail, and the next run runs it with them.
                return StepResult(node.name, FAILED, time.monotonic() - t0, None, None, None,
                                  f"could not restore ({msg}); run pipe again to run the step (it needs GPUs)",
                                  notes=notes)
            result = self.run(node, decision, devices)
            result.notes = notes + [f"could not restore ({msg}); ran the step instead"] + result.notes
            return result
        # Signed only once a command has run in this run: until then nothing can write over them.
        return StepResult(node.name, RESTORED, time.monotonic() - t0, dict(decision.outputs), notes=notes,
                          signatures=self._signatures(node) if self.commands_started else {})

    def _bring_back(self, node: Node) -> None:
        """Download and put in place the outputs of the steps `node` reads that this run left
        on the remote. Needed when a fallback (a restore that ran the step instead, with other
        bytes) made a step run that the plan expected to restore; its key holds the remote's
        digests, so running it on anything else would record a lie."""
        for dep in node.deps:
            with self._left_lock:
                left = self._left.get(dep)
            if left is None:
                continue
            with left.lock:  # a second reader waits until the first has put it in place
                if left.here:
                    continue
                d = left.decision
                try:
                    self.fetcher.fetch(d.key.digest, d.outputs)
                    for oname, out in left.node.outputs.items():
                        self.check_landing(out.path)
                        have = self.hasher.digest(out.path)
                        if have is not None and have.same_content(d.outputs[oname]):
                            continue
                        self.preserve(out.path)
                        written = self.ws.store.materialize(d.outputs[oname], self.abspath(out.path),
                                                            self.ws.scratch)
                        self._record_written(out.path, written)
                except (StoreError, OSError, PipefileError) as e:
                    msg = e.render() if isinstance(e, PipefileError) else str(e)
                    raise _StepFailure(f"cannot run: the outputs of '{dep}' could not be brought from remote "
                                       f"'{d.remote}' ({msg})") from None
                left.here = True

    def _signatures(self, node: Node) -> dict:
        return {o.path: output_signature(self.abspath(o.path)) for o in node.outputs.values()}

    def signature(self, rel: str) -> Optional[int]:
        return output_signature(self.abspath(rel))

    def changed_at(self, rel: str) -> int:
        return changed_at(self.abspath(rel))

    def put_back(self, rel: str, want: PathDigest) -> tuple:
        """Write the content a step committed at `rel` back from the store, after another step
        wrote over it; what was there is saved first (never lost). (ok, notes)."""
        try:
            self.check_landing(rel)
            notes = self.preserve(rel)
            if not self.ws.store.complete(want):
                return False, notes
            written = self.ws.store.materialize(want, self.abspath(rel), self.ws.scratch)
            self._record_written(rel, written)
            return True, notes
        except (_StepFailure, StoreError, OSError, PipefileError):
            return False, []

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
    def _same_device(self, folder: str, ref: str) -> bool:
        try:
            return os.stat(folder).st_dev == os.stat(ref).st_dev
        except OSError:
            return False

    def environment_of(self, node: Node) -> Environment:
        name = node.step.environment
        if not name or self.environments is None:
            return self._local
        return self.environments.get(name)

    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        """Run the step; `devices` are the GPUs leased to it (None: this run hands out no GPUs)."""
        name = node.name
        t0 = time.monotonic()
        log_abs = os.path.join(self.log_dir, f"{name}.log")
        # Relative to the workspace that holds the job logs (a served job's is not where it runs).
        log_rel = os.path.relpath(log_abs, os.path.dirname(os.path.dirname(self.ws.jobs_dir)))
        backups: dict = {}  # output name -> where its previous content waits
        cleared: set = set()  # outputs whose workspace path this run now owns (moved aside or empty)
        beside: list = []  # temp folders made next to outputs on other file systems
        notes: list = []
        shown = command_text(render_command(node))
        staged: dict = {}  # output name -> absolute staging path
        gpu_ids = tuple(g.id for g in devices or ())
        model = model_of(devices) if devices else None
        env_text = None
        step_stage = None  # a container step's own staging folder (mounted read-write)
        try:
            env = self.environment_of(node)
            if node.step.environment:
                kind, _, digest = env.identity().partition(":")
                env_text = f"{env.name} ({kind}:{digest[:12]})" if digest else f"{env.name} ({kind})"
            if decision.key is None:  # the planner could not even key it (a missing input)
                raise _StepFailure("cannot run: " + "; ".join(r.message() for r in decision.reasons))
            if self.cancelled.is_set():
                raise _StepFailure("interrupted before it started")
            if self._left:
                self._bring_back(node)
            for out in node.outputs.values():  # before anything is moved aside or created
                self.check_landing(out.path)
            for oname, out in node.outputs.items():
                ws_path = self.abspath(out.path)
                parent = os.path.dirname(ws_path) or self.root
                os.makedirs(parent, exist_ok=True)
                # Staging and moving aside must stay on the output's file system (renames).
                if self._same_device(parent, self.ws.scratch):
                    # Flat and deterministic (a tool that records its output path writes the
                    # same bytes every run), keeping the name's extension for tools that care.
                    leaf = f"{name}.{oname}.{os.path.basename(ws_path)}"
                    stage_dir = self.ws.stage_dir
                    if env.container:  # a folder of its own, the only one it may write besides outputs
                        step_stage = stage_dir = os.path.join(self.ws.stage_dir, name)
                    st_path, scratch = os.path.join(stage_dir, leaf), self.ws.scratch
                    remove_path(st_path)
                else:
                    scratch = tempfile.mkdtemp(dir=parent, prefix=f".pipe-{name}-")
                    beside.append(scratch)
                    st_path = os.path.join(scratch, "stage", os.path.basename(ws_path))
                if os.path.lexists(ws_path):
                    notes += self.preserve(out.path)
                    aside_dir = tempfile.mkdtemp(dir=scratch, prefix="prev-")
                    with open(os.path.join(aside_dir, "origin"), "w") as f:
                        f.write(out.path)  # so that a run killed now can be rolled back later
                    aside = os.path.join(aside_dir, "x")
                    os.replace(ws_path, aside)
                    backups[oname] = aside
                cleared.add(oname)
                os.makedirs(os.path.dirname(st_path), exist_ok=True)
                if out.type == spec.URI_FOLDER:
                    os.mkdir(st_path)
                    os.mkdir(ws_path)
                staged[oname] = st_path
            cmd = render_command(node, {n: os.path.relpath(p, self.root) for n, p in staged.items()})
            writable = {os.path.dirname(p) for p in staged.values()}
            writable |= {self.abspath(o.path) for o in node.outputs.values() if o.type == spec.URI_FOLDER}
            launch = Launch(name, cmd, {"PIPE_STEP": name, "PIPE_RUN_ID": self.run_id}, self.root, None,
                            self.run_id, gpu_ids, tuple(sorted(writable)), self._outside(node) if env.container else (),
                            node.step.resources.cpus, node.step.resources.memory)
            if devices is not None:
                # Only the leased devices: a step that asked for none sees none.
                launch.env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
            started_ns = time.time_ns()
            try:
                rc = self._spawn(env, launch, log_abs, notes)
            finally:
                window = (started_ns, time.time_ns())
            if self.cancelled.is_set():
                raise _StepFailure("interrupted", rc)
            if rc != 0:
                how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
                if env.container and _log_says(log_abs, b"Read-only file system"):
                    notes.append("in a container the workspace is read-only: write file outputs through "
                                 "${{outputs.NAME}} (folder outputs are writable at their path)")
                raise _StepFailure(how, rc)
            self._collect_outputs(node, staged)
            self._check_inputs_unchanged(node, decision)
            outputs = self._commit(node, decision, time.monotonic() - t0)
            sigs = self._signatures(node)
        except _StepFailure as f:
            self._roll_back(node, backups, cleared)
            self._clean(staged, beside, step_stage)
            return StepResult(name, FAILED, time.monotonic() - t0, None, f.exit_code, log_rel, f.message, shown, notes,
                              env_text, gpu_ids, model)
        except (PipefileError, OSError) as e:
            self._roll_back(node, backups, cleared)
            self._clean(staged, beside, step_stage)
            if isinstance(e, EnvError):
                msg = e.message + (f" ({e.hint})" if e.hint else "")
            elif isinstance(e, PipefileError):
                msg = e.render()
            else:
                msg = f"{e.strerror or e}: {getattr(e, 'filename', '')}"
            return StepResult(name, FAILED, time.monotonic() - t0, None, None, log_rel, msg, shown, notes,
                              env_text, gpu_ids, model)
        for b in backups.values():
            shutil.rmtree(os.path.dirname(b), ignore_errors=True)
        self._clean(staged, beside, step_stage)
        return StepResult(name, RAN, time.monotonic() - t0, outputs, 0, log_rel, None, shown, notes, env_text, gpu_ids,
                          model, window, sigs)

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

    @staticmethod
    def _clean(staged: dict, beside: list, step_stage: Optional[str] = None) -> None:
        for p in staged.values():
            try:
                remove_path(p)  # only left there on failure: on success it was moved into place
            except OSError:
                pass
        for d in beside + ([step_stage] if step_stage else []):
            shutil.rmtree(d, ignore_errors=True)

    def _spawn(self, env: Environment, launch: Launch, log_abs: str, notes: list) -> int:
        name = launch.step
        with open(log_abs, "wb") as log:
            launch.log = log
            try:
                # Building is part of the step: its output goes to the step's log, and a
                # failed build fails the step (what it built is not kept).
                env.prepare(log, self.cancelled)
            except EnvError as e:
                raise _StepFailure(e.message + (f" ({e.hint})" if e.hint else "")) from None
            if self.cancelled.is_set():
                raise _StepFailure("interrupted before it started")
            log.flush()
            try:
                proc = env.start(launch, self._base_env)
            except EnvError as e:
                raise _StepFailure(e.message + (f" ({e.hint})" if e.hint else "")) from None
            with self._procs_lock:
                self._procs[name] = proc
            try:
                if self.cancelled.is_set():  # cancelled while it was starting: cancel() did not see it
                    self._stop([proc])
                rc = proc.wait()
                if proc.finish():
                    notes.append("killed processes the step left running in the background")
                return rc
            except BaseException:
                proc.signal(signal.SIGKILL)
                proc.finish()
                raise
            finally:
                with self._procs_lock:
                    self._procs.pop(name, None)

    def _collect_outputs(self, node: Node, staged: dict) -> None:
        for out in node.outputs.values():  # the command (or a step beside it) may have made a link
            self.check_landing(out.path)
        for oname, out in node.outputs.items():
            ws_path = self.abspath(out.path)
            st_path = staged[oname]
            in_stage, in_ws = _has_content(st_path), _has_content(ws_path)
            if in_stage and in_ws:
                raise _StepFailure(f"wrote output '{oname}' twice: at ${{{{outputs.{oname}}}}} and at '{out.path}'; "
                                   f"write it once")
            if in_stage:
                replace_path(st_path, ws_path, os.path.dirname(st_path))
            elif not os.path.lexists(ws_path):
                raise _StepFailure(f"did not write its output '{oname}' ('{out.path}')")
            is_dir = os.path.isdir(ws_path)
            if out.type == spec.URI_FILE and is_dir:
                raise _StepFailure(f"wrote a folder at '{out.path}', but output '{oname}' is a uri_file")
            if out.type == spec.URI_FOLDER and not is_dir:
                raise _StepFailure(f"wrote a file at '{out.path}', but output '{oname}' is a uri_folder")

    def _check_inputs_unchanged(self, node: Node, decision: Decision) -> None:
        m = decision.key.manifest
        expected = {v["path"]: v["digest"] for v in m["inputs"].values() if "digest" in v}
        expected.update({p: v["digest"] for p, v in m["code"].items()})
        for path, digest in expected.items():
            now = self.hasher.digest(path)
            if now is None or now.digest != digest:
                raise _StepFailure(f"modified its own input '{path}' while running; steps must only write "
                                   f"their declared outputs")

    def _commit(self, node: Node, decision: Decision, seconds: float) -> dict:
        outputs = {}
        for oname, out in node.outputs.items():
            ap = self.abspath(out.path)
            if os.path.isdir(ap):
                tree = self.hasher.tree(out.path, contained=True)  # links leaving it: refused, never read
                self.ws.store.put_tree(tree, ap, durable=False)
                outputs[oname] = PathDigest(TREE, tree.digest, tree.size)
            else:
                d = self.hasher.digest(out.path, contained=True)
                self.ws.store.put_file(ap, d.digest, durable=False)
                outputs[oname] = d
        self.ws.actions.put(decision.key.digest, outputs, decision.key.manifest, seconds)
        return outputs

    def _roll_back(self, node: Node, backups: dict, cleared: set) -> None:
        """Undo what the step did to its outputs; never touch an output it did not take over."""
        for oname, out in node.outputs.items():
            if oname not in cleared:
                continue
            ws_path = self.abspath(out.path)
            try:
                self.check_landing(out.path)
            except _StepFailure:
                # A link made meanwhile sends the path elsewhere (maybe into .pipe/): touch nothing
                # there. The previous content was saved in the store before it was moved aside;
                # the next run restores it once the link is gone.
                if oname in backups:
                    shutil.rmtree(os.path.dirname(backups[oname]), ignore_errors=True)
                continue
            try:
                remove_path(ws_path)
                if oname in backups:
                    os.replace(backups[oname], ws_path)
                    shutil.rmtree(os.path.dirname(backups[oname]), ignore_errors=True)
            except OSError:
                pass  # the store holds the previous content; the next run restores it

    # --- Ctrl-C -------------------------------------------------------------------------
    def cancel(self, hard: bool = False) -> None:
        """Stop every running step: SIGINT, then SIGTERM and SIGKILL if they linger."""
        self.cancelled.set()
        with self._procs_lock:
            procs = list(self._procs.values())
        self._stop(procs, hard)

    def _stop(self, procs: list, hard: bool = False) -> None:
        for p in procs:
            p.signal(signal.SIGKILL if hard else signal.SIGINT)
        if hard or not procs:
            return

        def escalate():
            deadline = time.monotonic() + _TERM_GRACE_SECONDS
            for sig in (signal.SIGTERM, signal.SIGKILL):
                while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                    time.sleep(0.05)
                for p in procs:
                    if p.poll() is None:
                        p.signal(sig)
                deadline = time.monotonic() + 2.0

        threading.Thread(target=escalate, daemon=True).start()


class DryRunExecutor:
    """Says what would be done, does nothing."""

    def __init__(self):
        self.cancelled = threading.Event()

    def close(self) -> None:
        pass

    def restore(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        return StepResult(node.name, WOULD_RESTORE, 0.0, dict(decision.outputs))

    def run(self, node: Node, decision: Decision, devices: Optional[tuple] = None) -> StepResult:
        return StepResult(node.name, WOULD_RUN, 0.0, None, command=command_text(render_command(node)))

    def cancel(self, hard: bool = False) -> None:
        self.cancelled.set()
