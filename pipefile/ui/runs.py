"""Runs the designer starts: `pipe run` as a subprocess in the workspace (its own process
group, so that cancel stops its steps too), its output kept (the last MAX_OUTPUT bytes),
and its job id read from the job database as soon as the job exists (the job whose pid
is the subprocess's)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Optional

from ..errors import PipefileError
from ..lazyclass import dataclass

MAX_OUTPUT = 1 << 20
# What `pipe run` says while another pipe process holds the workspace (workspace/lock.py):
# its job begins only once it has the lock, so until then this line is all there is to show.
_WAITING = re.compile(rb"waiting for another pipe process(?: \(pid (\d+)\))?[^\n]*")
KEEP_DONE = 64  # finished runs kept (each with up to MAX_OUTPUT bytes): their jobs are in the job database
CANCEL_GRACE = 10.0  # seconds between the interrupt (as Ctrl-C) and a kill


def run_params(params: Optional[dict]) -> list:
    """The `-p NAME=VALUE` values of a request's params."""
    return [f"{k}={_text(v)}" for k, v in (params or {}).items()]


def run_argv(pipefile: str, targets=(), params: Optional[dict] = None, force: bool = False) -> list:
    """`pipe run`'s arguments after `pipe`, as the command shown to the user."""
    argv = ["run", "-f", pipefile]
    for p in run_params(params):
        argv += ["-p", p]
    argv += list(dict.fromkeys(str(t) for t in targets))  # (a target named twice is run once anyway)
    if force:
        argv.append("--force")  # last: `--force WORD` would take the word as the step to force
    return argv


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def check_request(targets, params, force) -> None:
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise PipefileError("'targets' must be a list of step names", hint='send {"targets": ["train"]} or []')
    if not isinstance(params, dict) or not all(isinstance(k, str) and k for k in params):
        raise PipefileError("'params' must be an object of param name to value", hint='send {"params": {"lr": "0.1"}}')
    for k, v in params.items():
        if not isinstance(v, (str, int, float, bool)):
            raise PipefileError(f"param '{k}' must be a string, number or boolean", hint="send -p values as text")
        if any(c in k for c in "=\n\r\0") or any(c in str(v) for c in "\n\r\0"):
            raise PipefileError(f"param '{k}' has a character a -p value cannot carry", hint="remove it")
    if not isinstance(force, bool):
        raise PipefileError("'force' must be true or false", hint='send {"force": true}')


def child_env() -> dict:
    """The run's environment: this server's, less its token (its steps need no way in)."""
    env = dict(os.environ)
    env.pop("PIPE_UI_TOKEN", None)
    return env


@dataclass
class Run:
    id: str
    argv: list
    command: str
    proc: subprocess.Popen
    started: float
    job: Optional[int] = None
    output: bytearray = None  # type: ignore[assignment]
    exit_code: Optional[int] = None
    cancelled: bool = False

    def waiting(self) -> tuple:
        """(what it says, the holder's pid or None) while the run waits for the workspace
        lock (no job yet); (None, None) otherwise."""
        if self.exit_code is not None or self.job is not None:
            return None, None
        said = list(_WAITING.finditer(bytes(self.output or b"")))
        if not said:
            return None, None
        found = said[-1]
        pid = found.group(1)
        return found.group(0).decode("utf-8", "replace").strip(), int(pid) if pid else None

    def to_json(self) -> dict:
        waiting, holder = self.waiting()
        return {
            "run": self.id,
            "state": "running" if self.exit_code is None else "done",
            "exit_code": self.exit_code,
            "job": self.job,
            "command": self.command,
            "output": bytes(self.output or b"").decode("utf-8", "replace"),
            "waiting": waiting,  # "waiting for another pipe process (pid N) ...": no job until it ends
            "holder_pid": holder,
            "seconds": round(time.time() - self.started, 1),
        }


class Runs:
    """Every run this server started. `homes()`: this thread's read-only Workspace."""

    def __init__(self, root: str, homes):
        self.root = root
        self.homes = homes
        self._runs: dict = {}
        self._lock = threading.Lock()

    def start(self, pipefile: str, targets=(), params=None, force: bool = False) -> Run:
        argv = run_argv(pipefile, targets, params, force)
        # This interpreter and its pipefile, whatever `pipe` on PATH is.
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pipefile", *argv],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=child_env(),
            )
        except OSError as e:  # (E2BIG: more targets than a command line holds; no process, no memory)
            raise PipefileError(
                f"pipe run could not be started: {e.strerror or e}",
                hint="name fewer targets (none runs the whole pipeline) or shorter -p values, or run it in a terminal",
            ) from None
        run = Run(uuid.uuid4().hex[:12], argv, "pipe " + shlex.join(argv), proc, time.time(), output=bytearray())
        with self._lock:
            done = [r for r in self._runs.values() if r.exit_code is not None]
            for old in done[: max(0, len(done) - KEEP_DONE + 1)]:  # (oldest first: dicts keep order)
                del self._runs[old.id]
            self._runs[run.id] = run
        threading.Thread(target=self._read, args=(run,), name=f"ui-run-{run.id}", daemon=True).start()
        threading.Thread(target=self._find_job, args=(run,), name=f"ui-job-{run.id}", daemon=True).start()
        return run

    def wait_for_job(self, run: Run, seconds: float) -> Optional[int]:
        end = time.monotonic() + seconds
        while run.job is None and run.exit_code is None and time.monotonic() < end:
            time.sleep(0.05)
        return run.job

    def get(self, run_id: str) -> Optional[Run]:
        with self._lock:
            return self._runs.get(run_id)

    def of_job(self, job_id: int) -> Optional[Run]:
        with self._lock:
            return next((r for r in self._runs.values() if r.job == job_id), None)

    def _read(self, run: Run) -> None:
        assert run.proc.stdout is not None
        with run.proc.stdout:  # (closed at its end: else one pipe per run stays open for the server's life)
            for chunk in iter(lambda: run.proc.stdout.read1(65536), b""):
                run.output += chunk
                if len(run.output) > MAX_OUTPUT:
                    del run.output[: len(run.output) - MAX_OUTPUT]
        run.exit_code = run.proc.wait()

    def _find_job(self, run: Run) -> None:
        try:
            self._look_for_job(run)
        finally:
            self.homes.release()  # this thread ends: its connection too

    def _look_for_job(self, run: Run) -> None:
        """Until the job whose pid is the subprocess's appears, or the process ends."""
        while run.job is None:
            done = run.proc.poll() is not None
            try:
                jobs = self.homes().jobs.jobs(limit=20)
            except Exception:  # noqa: BLE001 - a database another pipe is creating: ask again
                jobs = []
            found = next((j for j in jobs if j.pid == run.proc.pid and j.started >= run.started - 5), None)
            if found is not None:
                run.job = found.id
                return
            if done:
                return
            time.sleep(0.05)

    def cancel(self, run: Run) -> None:
        """Interrupt the run's process group as Ctrl-C does (the job ends `interrupted`, its
        steps are stopped); killed if it is still there after CANCEL_GRACE seconds."""
        run.cancelled = True
        if run.proc.poll() is not None:
            return
        try:
            os.killpg(run.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            return

        def kill_later():
            try:
                run.proc.wait(CANCEL_GRACE)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(run.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=kill_later, name=f"ui-cancel-{run.id}", daemon=True).start()

    def stop_all(self, wait: float = CANCEL_GRACE) -> None:
        """Interrupt every run still going, and wait for them (at most `wait` seconds), so
        that their jobs are recorded as interrupted before this server goes."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.proc.poll() is None]
        for r in runs:
            self.cancel(r)
        end = time.monotonic() + wait
        for r in runs:
            try:
                r.proc.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(r.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
