"""What the local executor does around a task's process, and the helpers it shares with the
executors built on it: starting the process in its environment with its log followed, waiting
(with the step's timeout), stopping processes on Ctrl-C (SIGINT, then SIGTERM and SIGKILL), and
the cheap fingerprints of what a task wrote (`output_signature`, `changed_at`)."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
import time
from typing import Optional

from .. import stopping
from ..envs import EnvError, Environment, Launch
from ..envs.base import build_for_run
from ..errors import PipefileError
from ..staging import StepFailure

_TERM_GRACE_SECONDS = 5.0
_STOP_LOOK_SECONDS = 0.2  # how often a trial under early termination is judged


class Stopped(StepFailure):
    """Early termination stopped the task (stopping.py): not a failure."""

    def __init__(self, stop: dict):
        super().__init__(stop["why"])
        self.stop = stop  # what the job records of it: the policy, the evidence


def log_says(path: str, text: bytes, tail: int = 8192) -> bool:
    """Whether the end of a task's log holds `text`."""
    return text in log_tail(path, tail)


def log_tail(path: str, tail: int = 8192) -> bytes:
    """The last `tail` bytes of a task's log (b"" when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - tail))
            return f.read()
    except OSError:
        return b""


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
            parts.append(
                (dirpath, name) + ((e.st_size, e.st_mtime_ns, e.st_ctime_ns, e.st_ino, e.st_mode) if e else ())
            )
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


def timeout_message(seconds: float) -> str:
    shown = f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}m"
    return f"timed out: still running after {shown} (its timeout:); stopped"


def failure_message(e: Exception) -> str:
    if isinstance(e, EnvError):
        return e.message + (f" ({e.hint})" if e.hint else "")
    if isinstance(e, PipefileError):
        return e.render()
    if isinstance(e, OSError):
        return f"{e.strerror or e}: {getattr(e, 'filename', '')}"
    return str(e)


class ProcessRunning:
    """The process side of LocalExecutor (a mixin: the executor holds `follower`, `_local`,
    `_base_env`, `cancelled`, `stopping`, `log_dir` and the running processes, `_procs` under
    `_procs_lock`)."""

    command_running = None  # called once a task's command has started (when_commands_run)

    def when_commands_run(self, hook) -> None:
        self.command_running = hook

    def _while_it_runs(self) -> None:
        """What the task's thread does while its command runs, before waiting for it."""

    def _open_log(self, log_abs: str):
        """The task's log, new and empty, open for writing."""
        return open(log_abs, "wb")

    @contextlib.contextmanager
    def _following(self, name: str, log_abs: str, env: Environment, log):
        """The task's log followed for its lines while it runs (when asked: follow_output)."""
        follower = self.follower
        if follower is None:
            yield
            return
        follower.watch(name, log_abs, env.name if env is not self._local else None)
        try:
            yield
        finally:
            try:
                log.flush()  # what pipe wrote itself (a failed build's words) is followed too
            except OSError:
                pass
            follower.unwatch(name)  # its last lines, before its result is reported

    def _spawn(self, env: Environment, launch: Launch, log_abs: str, notes: list, timeout=None) -> int:
        name = launch.step
        with self._open_log(log_abs) as log, self._following(name, log_abs, env, log):
            launch.log = log
            try:
                # Building is part of the task: its output goes to the task's log, and a
                # failed build fails the task (what it built is not kept).
                with build_for_run(self._base_env.get("PIPE_RUN_ID")):
                    env.prepare(log, self.cancelled)
            except EnvError as e:
                raise StepFailure(failure_message(e)) from None
            if self.cancelled.is_set():
                raise StepFailure("interrupted before it started")
            log.flush()
            if self.follower is not None:
                self.follower.command_starts(name)  # the build's lines are over; the command's follow
            try:
                proc = env.start(launch, self._base_env)
            except EnvError as e:
                raise StepFailure(failure_message(e)) from None
            with self._procs_lock:
                self._procs[name] = proc
            try:
                if self.command_running is not None:
                    self.command_running()
                self._while_it_runs()
                if self.cancelled.is_set():  # cancelled while it was starting: cancel() did not see it
                    self._stop([proc])
                rc = self._wait(proc, timeout, name)
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

    def _wait(self, proc, timeout, name: str = "") -> int:
        """The exit status; a step still running after `timeout` seconds is stopped and fails;
        a sweep trial that early termination judges worse than the others is stopped."""
        judge = self.stopping if self.stopping is not None and self.stopping.watches(name) else None
        if not timeout and judge is None:
            return proc.wait()
        deadline = time.monotonic() + timeout if timeout else float("inf")
        look = time.monotonic() + _STOP_LOOK_SECONDS
        while True:
            rc = proc.poll()
            if rc is not None:
                return rc
            now = time.monotonic()
            if now >= deadline:
                self._stop([proc])
                proc.wait()
                raise StepFailure(timeout_message(timeout))
            if judge is not None and now >= look:
                look = now + _STOP_LOOK_SECONDS
                stop = judge.judge(name, self.log_dir)
                if stop:
                    stopping.end(proc, _TERM_GRACE_SECONDS)
                    raise Stopped(stop)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    # --- Ctrl-C -------------------------------------------------------------------------
    def cancel(self, hard: bool = False) -> None:
        """Stop every running task: SIGINT, then SIGTERM and SIGKILL if they linger."""
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
