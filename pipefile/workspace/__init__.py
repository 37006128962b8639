"""The workspace: one checkout's `.pipe/` folder, opened: the content store and action
cache it uses, the workspace state journal and the workspace lock, and where each lives.

    .pipe/
      .gitignore        "*": pipe's state never ends up in git
      lock              WorkspaceLock
      state.db          WorkspaceState (stat cache + per-step records)
      store/            ContentStore objects/ and ActionCache actions/
                        (PIPE_STORE_DIR moves it, e.g. to share it between clones);
                        store/workspaces/<h> names each workspace that uses the store,
                        so that `pipe gc` keeps what every one of them needs
      clone.json        only in a workspace made by `pipe clone`: {"v", "job", "uid",
                        "workspace", "store"}: the job it was cloned from, and the
                        store of the original workspace, which this one uses
      stage/            where a running step writes ${{outputs.X}}: STEP.OUTPUT.NAME
                        (a container step: stage/STEP/, with .literal/ views: executors/literal.py)
      mlflow/           pipe's own MLflow store, when --mlflow has no tracking URI (mlflow_log.py)
      scratch/          temp space on the workspace's file system (outputs moved aside)
      beside/<token>    the journal of folders beside outputs on other file systems
                        (staging.py owns stage/, scratch/ and beside/, and repairs a killed run)
      jobs.db           JobStore: every run as a job, artifact versions, metrics
      jobs/<id>/        the log of each step of job <id>
      running/<run>     one file per `pipe run` in progress (holding its pid), so that
                        a later run can stop the steps of a pipe that was killed
      serve-gate, serve-writers   ServeGate: `pipe gc` against served jobs and uploads
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import time
from typing import Optional

from .. import names
from ..cache.action_cache import ActionCache
from ..cache.content_store import ContentStore
from ..cache.registry import register_workspace
from ..filehash import NotARegularFile, open_regular
from ..jobdb.jobs import JobStore
from .lock import DiskError, ServeGate, WorkspaceLock, disk_errors, is_disk_error
from .state import WorkspaceState

STATE_DIR = ".pipe"
CLONE_FILE = "clone.json"
CLONE_VERSION = 1


def read_origin(state_dir: str) -> Optional[dict]:
    """The clone.json of a workspace made by `pipe clone`, or None."""
    try:
        with open_regular(os.path.join(state_dir, CLONE_FILE)) as f:  # (a FIFO: unreadable, never waited on)
            origin = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None  # unreadable: an ordinary workspace with its own store
    return origin if isinstance(origin, dict) and origin.get("v") == CLONE_VERSION else None


def unusable_store_dir(path: str, e: OSError) -> DiskError:
    """The user's error of a PIPE_STORE_DIR pipe cannot make its store in (a file, /dev/null,
    /proc, a name too long): the fix is the variable, not what it names (never `rm` it)."""
    return DiskError(
        f"PIPE_STORE_DIR={path[:200]}: pipe cannot keep its store there ({e.strerror or e})",
        hint="set PIPE_STORE_DIR to a folder pipe may make and write (a new one, or one it made), or unset "
        "it to keep the store in .pipe/store",
    )


def _may_write(state_dir: str) -> bool:
    """Whether this process may write `.pipe/` and its databases (a read-only mount: no)."""
    files = [os.path.join(state_dir, n) for n in ("state.db", "jobs.db")]
    return all(os.access(p, os.W_OK) for p in [state_dir] + [f for f in files if os.path.exists(f)])


class Workspace:
    """The `.pipe/` folder of one workspace root, opened."""

    def __init__(self, root: str, create: bool = True, register: bool = True, home: Optional["Workspace"] = None):
        """create=False opens it for reading only: where there is no `.pipe/` yet,
        nothing is created and the state starts empty (in memory). register=False
        leaves the store's list of workspaces alone (gc opening another workspace).

        The store is PIPE_STORE_DIR if set, else the original workspace's store for a
        clone (while it exists), else `.pipe/store`.

        `home`: the working folder of a served job (serve/) uses the store, the action
        cache, the job database and the job logs of the workspace that serves it."""
        full = os.path.abspath(root)
        if not full.isascii() and not names.is_utf8(full):  # (in the store's register, jobs, keys)
            raise names.not_utf8(full, "the workspace")
        self.root = root
        self.dir = os.path.join(root, STATE_DIR)
        exists = os.path.isdir(self.dir)
        self.origin = read_origin(self.dir) if exists else None
        # Opened to read (status, jobs, metrics) where it may not be written (a checkout or CI
        # cache mounted read-only): read as it is; what writes still says why it cannot.
        self.read_only = exists and not create and not _may_write(self.dir)
        create = create or (exists and not self.read_only)
        if create:
            with disk_errors(self.dir):  # a full disk is the user's to fix, named, not a crash
                os.makedirs(self.dir, exist_ok=True)
                gi = os.path.join(self.dir, ".gitignore")
                if not os.path.exists(gi):
                    with open(gi, "w") as f:
                        f.write("# pipe's own state: never commit it\n*\n")
        store_root = os.environ.get("PIPE_STORE_DIR")
        if not store_root and self.origin and os.path.isdir(str(self.origin.get("store"))):
            store_root = self.origin["store"]
        if home is not None:
            store_root = home.store_root
        self.store_root = os.path.abspath(store_root or os.path.join(self.dir, "store"))
        chosen = home is None and os.environ.get("PIPE_STORE_DIR")
        with disk_errors(self.store_root):
            try:
                self.store = ContentStore(self.store_root, create)
                self.actions = ActionCache(self.store_root, create)
            except OSError as e:
                if chosen and not is_disk_error(e):
                    raise unusable_store_dir(self.store_root, e) from None
                raise
        state_path = os.path.join(self.dir, "state.db")
        with disk_errors(state_path):
            self.state = (
                WorkspaceState(state_path, read_only=True)
                if self.read_only
                else WorkspaceState(state_path if create else ":memory:")
            )
        self.lock = WorkspaceLock(os.path.join(self.dir, "lock"))
        self.serve_gate = ServeGate(self.dir)  # served jobs and uploads against pipe gc
        self.gc_hold: Optional[int] = None  # `pipe gc`: the store's gc lock (cache/registry.py)
        self.stage_dir = os.path.join(self.dir, "stage")
        self.scratch = os.path.join(self.dir, "scratch")
        self.jobs_dir = os.path.join(self.dir, "jobs") if home is None else home.jobs_dir
        self.running_dir = os.path.join(self.dir, "running")
        jobs_path = os.path.join(self.dir, "jobs.db") if home is None else home.jobs.path
        try:
            with disk_errors(jobs_path):
                self.jobs = JobStore(jobs_path, create, read_only=self.read_only and home is None)
            if create:
                with disk_errors(self.dir):
                    for d in (self.scratch, self.jobs_dir, self.running_dir):
                        os.makedirs(d, exist_ok=True)
        except BaseException:
            self.state.close()  # (and the caller never gets a half-open workspace to close)
            raise
        if create and register and home is None:
            register_workspace(self.store_root, root)

    @property
    def cloned_from(self) -> Optional[int]:
        """The job (of the original workspace) this workspace was cloned from, if any."""
        job = (self.origin or {}).get("job")
        return job if isinstance(job, int) else None

    def note_run(self, run_id: str) -> str:
        """Mark a run in progress; its steps carry PIPE_RUN_ID=run_id in their environment."""
        path = os.path.join(self.running_dir, run_id)
        with disk_errors(path), open(path, "w") as f:
            f.write(str(os.getpid()))
        return path

    def end_run(self, run_id: str) -> None:
        try:
            os.unlink(os.path.join(self.running_dir, run_id))
        except FileNotFoundError:
            pass

    def stale_runs(self) -> list:
        """With the lock held: the ids of runs marked in progress, whose pipe is therefore dead."""
        try:
            return sorted(e.name for e in os.scandir(self.running_dir))
        except FileNotFoundError:
            return []

    def stop_orphans(self) -> None:
        """Kill the steps of a pipe that died (kill -9, crash) before they write more.

        Called with the lock held, so any run still marked is dead. A process is only
        killed if its environment carries that run's id (children of a step inherit
        it), so nothing else is ever hit.
        """
        runs = [e.name for e in os.scandir(self.running_dir)]
        if not runs:
            return
        wanted = {f"PIPE_RUN_ID={r}".encode() for r in runs}
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isascii() and p.isdigit()]
        except OSError:
            pids = []
        for pid in pids:
            if pid == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = set(f.read().split(b"\0"))
            except OSError:
                continue
            if environ & wanted:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # Each run is named JOB-UID: its job ended with it. Said in the job database, not left to
        # whether its pid is alive (pids are reused: the job would read as running for ever).
        with disk_errors(self.jobs.path):
            ids = [r.split("-", 1)[0] for r in runs]
            self.jobs.cut_off([int(i) for i in ids if i.isascii() and i.isdigit()])
        for r in runs:
            self.end_run(r)

    # --- content saved before pipe replaced it --------------------------------------------
    @property
    def saved_log(self) -> str:
        return os.path.join(self.dir, "saved.log")

    def note_saved(self, rel: str, content) -> None:
        """Append to saved.log: time, path, kind, digest (tab-separated, one line each)."""
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{rel}\t{content.kind}\t{content.digest}\n"
        # O_NONBLOCK: a FIFO there (never pipe's) fails at once instead of waiting for a reader.
        try:
            fd = os.open(self.saved_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        except (IsADirectoryError, OSError) as e:
            if isinstance(e, IsADirectoryError) or e.errno == errno.ENXIO:  # (a folder; a FIFO with no reader)
                raise self._saved_log_in_the_way() from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise self._saved_log_in_the_way()
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def saved(self) -> list:
        """[(time, path, kind, digest)] of everything saved, oldest first."""
        try:
            with open_regular(self.saved_log) as f:
                rows = [line.split("\t") for line in f.read().decode("utf-8", "replace").splitlines()]
        except FileNotFoundError:
            return []
        except (NotARegularFile, IsADirectoryError):
            # (was: a FIFO waited on for ever) gc must not guess what is saved: it would delete it.
            raise self._saved_log_in_the_way() from None
        return [tuple(r) for r in rows if len(r) == 4]

    def _saved_log_in_the_way(self) -> DiskError:
        return DiskError(
            f"{self.saved_log}: pipe keeps a file of its own there (what it saved before replacing an output), "
            "and something else is in its place; nothing was changed",
            hint=f"move it away or remove it (`rm -r {self.saved_log}`): pipe makes the file again "
            "(`pipe recover` then lists only what is saved after)",
        )

    def job_dir(self, job_id: int) -> str:
        return os.path.join(self.jobs_dir, str(job_id))

    def close(self, before_release=None) -> None:
        """before_release(): run with the databases closed and the lock still held (the
        no-op record is written there: nothing can change between the run and it)."""
        self.state.close()
        self.jobs.close()
        if self.gc_hold is not None:
            os.close(self.gc_hold)
            self.gc_hold = None
        self.serve_gate.release()
        try:
            if before_release is not None and self.lock.fd is not None:
                before_release()
        finally:
            self.lock.release()


__all__ = [
    "ActionCache",
    "ContentStore",
    "JobStore",
    "WorkspaceLock",
    "WorkspaceState",
    "Workspace",
    "STATE_DIR",
    "CLONE_FILE",
    "CLONE_VERSION",
    "read_origin",
    "register_workspace",
    "registered_workspaces",
]
