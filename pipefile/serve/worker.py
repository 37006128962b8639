"""The server's job runners: a pool of threads that take queued jobs from the job
database, oldest first, and run each with the same runner, environments and caches
as `pipe run`.

Each job runs in its own working folder (`.pipe/serve/work/JOB/`), laid out from the
deployment's snapshot and the request's inputs, with the serving workspace's content
store, action cache, job database and logs: a step already run with the same inputs
is restored instead of run, if the job's token may see that run (`token_actions`: its
own jobs', the owner's, an admin's or a sharing token's; else it runs, exactly as if it
had never been built, so the cache tells no token what another ran). The folder is
removed when the job ends (its outputs are in the store).

A watchdog cancels jobs that run past the wall-time limit or write more log than
allowed. Steps start from a scrubbed environment: nothing of the server's own
environment but what a program needs to run (PATH, locale, HOME, ...) and the
names given with --pass-env.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import field
from typing import Any, Callable, Optional

from ..cache.action_cache import ActionCache, FilteredActionCache
from ..errors import PipefileError
from ..jobdb.serving import ServeStore
from ..lazyclass import dataclass
from ..outcomes import JobState, Outcome
from ..publish import lay_out
from ..session import RunRequest, Session, load_deployed
from ..workspace import STATE_DIR, Workspace

# What a step may see of the server's environment (besides --pass-env names).
SAFE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "SHELL",
    "TERM",
    "SYSTEMROOT",
    "PYTHONUNBUFFERED",
)
WORK_DIR = "serve/work"


def step_environment(pass_env=()) -> dict:
    keep = set(SAFE_ENV) | set(pass_env)
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith("LC_")}


def token_actions(actions: ActionCache, serve: ServeStore, token_id: Optional[str]) -> FilteredActionCache:
    """The action cache as the jobs (and plans) of token `token_id` see it: entries that
    token may use (ServeStore.may_use_entry), and every entry its jobs write recorded as
    theirs before it is written. An entry every token may already use stays everyone's
    (a forced rerun does not take it away from the others)."""
    try:
        tok = serve.token(token_id) if token_id else None
    except PipefileError:
        tok = None  # its record is gone: it sees what every token sees, and no more
    if tok is not None:
        may_use = lambda key: serve.may_use_entry(key, tok)  # noqa: E731
    else:
        may_use = serve.entry_is_public

    def before_put(key: str) -> None:
        if token_id and not (actions.get(key) is not None and serve.entry_is_public(key)):
            serve.note_producer(key, token_id)

    return FilteredActionCache(actions, may_use, before_put)


@dataclass
class Limits:
    job_seconds: float = 3600.0  # per-job wall time
    log_bytes: int = 100 * 2**20  # per step log
    step_jobs: int = 0  # steps at once within one job (0: CPUs)


@dataclass
class _Running:
    job_id: int
    pipe: Optional[Session] = None
    started: float = field(default_factory=time.monotonic)
    stop_state: Optional[str] = None  # CANCELED or FAILED once stopped on purpose
    stop_reason: Optional[str] = None


class _Events:
    """Scheduler events -> job_events rows (the job's history and event stream)."""

    def __init__(self, serve: ServeStore, job_id: int):
        self.serve = serve
        self.job_id = job_id

    def started(self, name, decision) -> None:
        self.serve.event(
            self.job_id,
            "step",
            {"step": name, "status": "started", "verdict": getattr(decision.verdict, "value", None)},
        )

    def finished(self, result, decision) -> None:
        data = {
            "step": result.name,
            "status": "finished",
            "outcome": result.outcome,
            "seconds": round(result.seconds, 3),
        }
        if result.error:
            data["error"] = result.error
        self.serve.event(self.job_id, "step", data)

    def message(self, text) -> None:
        pass


class _Abandoned(Exception):
    """The job was stopped (canceled, timed out, the server stopping) while its pipeline loaded."""


def _load_or_stop(r: _Running, load: Callable[[], Any], cleanup: Callable[[], Any]) -> Any:
    """load() on a thread of its own, waited for until the job is stopped (then None). Loading a
    Python pipeline runs the user's module, which may hang (a read that never returns): the job
    stayed `preparing` for good, deaf to cancel and --job-timeout, and the worker with it. The
    thread cannot be stopped; left to end by itself, it then runs `cleanup` (the job's folder)."""
    done = threading.Event()
    lock = threading.Lock()
    box: dict = {"abandoned": False}

    def run() -> None:
        try:
            box["graph"] = load()
        except BaseException as e:  # noqa: BLE001 - handed to the worker, which reports it
            box["error"] = e
        finally:
            with lock:
                done.set()
                if box["abandoned"]:
                    cleanup()

    threading.Thread(target=run, name=f"job-{r.job_id}-load", daemon=True).start()
    while not done.wait(0.2):
        if r.stop_state is not None:
            with lock:
                if not done.is_set():
                    box["abandoned"] = True
                    return None
    if "error" in box:
        raise box["error"]
    return box["graph"]


class WorkerPool:
    def __init__(self, root: str, workers: int, limits: Limits, pass_env=()):
        self.root = root
        self.workers = max(1, workers)
        self.limits = limits
        self.pass_env = tuple(pass_env)
        self._running: dict = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list = []

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._watchdog, name="job-watchdog", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking jobs; running ones are stopped and end `interrupted` (a restart
        does not resume them: their steps may have half run). Safe to call again."""
        self._stop.set()
        with self._lock:
            running = list(self._running.values())
        for r in running:
            r.stop_state, r.stop_reason = JobState.INTERRUPTED, "the server stopped while the job ran"
            if r.pipe is not None:
                r.pipe.cancel()
        self.notify()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def stopping(self) -> bool:
        return self._stop.is_set()

    def notify(self) -> None:
        """A job was queued: wake a worker now rather than at its next poll."""
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: int, state: str = JobState.CANCELED, reason: Optional[str] = None) -> bool:
        """Stop a job this server runs; False if it runs none with that id."""
        with self._lock:
            r = self._running.get(job_id)
        if r is None:
            return False
        if r.stop_state is None:
            r.stop_state, r.stop_reason = state, reason
        if r.pipe is not None:
            r.pipe.cancel()
        return True

    # --- the workers ----------------------------------------------------------------------
    def _loop(self) -> None:
        home = Workspace(self.root)
        serve = ServeStore(home.jobs)
        try:
            while not self._stop.is_set():
                # A job is claimed and run as a writer of the store: `pipe gc` waits for it,
                # and while gc runs no job starts.
                writer = home.serve_gate.writer(self._stop.is_set)
                if writer is None:
                    break
                with writer:
                    try:
                        job = serve.claim(os.getpid())
                    except Exception:  # noqa: BLE001 - a busy database: try again shortly
                        job = None
                    if job is not None:
                        if self._stop.is_set():
                            # Claimed while the server was stopping: back to the queue, for the next start.
                            serve.set_state(job.id, JobState.QUEUED, only_from=(JobState.PREPARING,))
                            break
                        self._run(home, serve, job)
                        continue
                with self._wake:
                    self._wake.wait(0.5)
        finally:
            home.close()

    def _run(self, home: Workspace, serve: ServeStore, job) -> None:
        r = _Running(job.id)
        with self._lock:
            self._running[job.id] = r
        workdir = os.path.join(home.dir, WORK_DIR, str(job.id))
        jws = None
        error: Optional[str] = None
        final = JobState.FAILED
        try:
            dep = serve.deployment(job.endpoint, job.deployment)
            request = job.request
            shutil.rmtree(workdir, ignore_errors=True)
            pf_path = lay_out(home, dep.manifest, request.get("assets", {}), workdir)
            jws = Workspace(workdir, home=home)
            jws.actions = token_actions(jws.actions, serve, job.token_id)
            load_ws = jws
            graph = _load_or_stop(
                r,
                lambda: load_deployed(pf_path, request.get("params", {}), dep.manifest.get("artifacts", {}), load_ws),
                lambda: (load_ws.close(), shutil.rmtree(workdir, ignore_errors=True)),
            )
            if graph is None:  # stopped while loading: the load's thread cleans up when it ends
                jws = workdir = None
                raise _Abandoned()
            pipe = Session(graph, workspace=jws)
            jws = None  # the session closes it
            try:
                forced = True if request.get("force_rerun") else frozenset()
                # Locked, its environments usable (a missing image pulled) and planned before it runs.
                pipe.start(
                    RunRequest(
                        forced=forced,
                        jobs=self.limits.step_jobs,
                        experiment=f"{job.endpoint}:{job.deployment}",
                        argv=("invoke", job.endpoint, str(job.deployment)),
                        job_id=job.id,
                        step_env=step_environment(self.pass_env),
                    ),
                    probe_git=False,
                )
                r.pipe = pipe
                # Canceled while it was being prepared (possibly before this worker had it).
                if not serve.set_state(job.id, JobState.RUNNING) and r.stop_state is None:
                    r.stop_state, r.stop_reason = (
                        JobState.CANCELED,
                        serve.jobs.get(job.id).error or "canceled by request",
                    )
                if r.stop_state is not None:
                    pipe.cancel()
                summary = pipe.run(_Events(serve, job.id)).summary
            finally:
                pipe.close()
            if r.stop_state is not None:
                final, error = r.stop_state, r.stop_reason
            elif summary.interrupted:
                final, error = JobState.INTERRUPTED, "interrupted"
            elif summary.failed:
                bad = summary.failed[0]
                final, error = JobState.FAILED, f"step '{bad.name}' failed: {bad.error}"
            else:
                serve.set_state(job.id, JobState.FINALIZING)
                missing = [
                    n
                    for n, o in dep.manifest.get("outputs", {}).items()
                    if summary.results.get(o["step"]) is None or summary.results[o["step"]].outcome == Outcome.FAILED
                ]
                final = JobState.COMPLETED if not missing else JobState.FAILED
                error = f"outputs not made: {', '.join(missing)}" if missing else None
        except _Abandoned:
            final, error = r.stop_state or JobState.FAILED, f"{r.stop_reason} (while its pipeline was loading)"
        except PipefileError as e:
            final, error = (r.stop_state, r.stop_reason) if r.stop_state else (JobState.FAILED, e.render())
        except Exception as e:  # noqa: BLE001 - one bad job must not take the worker down
            final, error = JobState.FAILED, f"internal error: {e!r}"
        finally:
            if jws is not None:
                jws.close()
            with self._lock:
                self._running.pop(job.id, None)
            if workdir is not None:
                # A container that could not be removed (its daemon went away) is noted in the
                # job's folder: noted in the serving workspace instead, for a later run to remove.
                from ..envs.docker.containers import served_runs_ended

                served_runs_ended(os.path.join(workdir, STATE_DIR), home.dir)
                shutil.rmtree(workdir, ignore_errors=True)
        serve.set_state(job.id, final, error)

    # --- limits -----------------------------------------------------------------------------
    def _watchdog(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                running = list(self._running.values())
            for r in running:
                if r.stop_state is not None:
                    continue
                if time.monotonic() - r.started > self.limits.job_seconds:
                    self.cancel(
                        r.job_id,
                        JobState.FAILED,
                        f"the job ran longer than the server's limit of {self.limits.job_seconds:g}s (--job-timeout)",
                    )
                    continue
                big = self._log_over_limit(r.job_id)
                if big:
                    self.cancel(
                        r.job_id,
                        JobState.FAILED,
                        f"step '{big}' wrote more than {self.limits.log_bytes} bytes of log (--max-log)",
                    )

    def _log_over_limit(self, job_id: int) -> Optional[str]:
        d = os.path.join(self.root, STATE_DIR, "jobs", str(job_id))
        try:
            entries = list(os.scandir(d))
        except OSError:
            return None
        for e in entries:
            try:
                if e.name.endswith(".log") and e.stat().st_size > self.limits.log_bytes:
                    from ..filenames import name_of  # (a shortened log's note names its task)

                    return name_of(d, e.name[:-4])
            except OSError:
                continue
        return None
