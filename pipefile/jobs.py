"""Recording a run as a pipeline job: the job's snapshot, then each step as it ends.

`JobRecorder` listens to the scheduler's events, like the progress reporter, and
writes one row per finished step at once, so a run killed half-way keeps what
finished. The snapshot (the Pipefile and every `code:` path) goes into the
content store, where an unchanged file costs a stat.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

from . import tracking
from .digest import FILE, Hasher
from .graph import Graph, command_text
from .jobdb.records import Job, JobStep
from .keys import render_command
from .metrics_files import MAX_NAME, MetricsError, read_metrics, set_digest
from .noop_record import GIT_STATUS, read_git_status
from .outcomes import JobStatus, Outcome, StepResult
from .printable import printable
from .rebuilder import Decision
from .workspace import Workspace

LOCAL_WORKER = {"executor": "local"}  # the worker of a step done here (ran, restored or fresh)


def in_git_tree(root: str) -> bool:
    """Whether a `.git` is at `root` or in a folder above it."""
    probe = root
    while not os.path.exists(os.path.join(probe, ".git")):
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    return True


def git_state(root: str) -> tuple:
    """(commit, dirty) of the git work tree holding `root`, or (None, None)."""
    if not in_git_tree(root):
        return None, None
    import subprocess  # (here: outside a work tree a run starts no process)

    try:
        # One process for both (a git start is a few ms of every run in a work tree): the
        # commit is the `# branch.oid` header, "(initial)" before the first commit; any entry
        # line is a change. --no-optional-locks: never take index.lock (another git, or a
        # step, may be using it).
        status = subprocess.run(
            [a.replace("{root}", root) for a in GIT_STATUS],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if status.returncode != 0:
        return None, None
    return read_git_status(status.stdout)  # (the no-op record's fast path reads it alike)


class GitProbe:
    """`git_state` on a thread of its own: started before the plan is made, read when the job
    begins (before any step runs), so that `git status` in a large repository costs no wait."""

    def __init__(self, root: str):
        self._state: tuple = (None, None)
        self._thread: Optional[threading.Thread] = None
        self.asked = in_git_tree(root)  # (git is asked: the no-op record asks it again)
        if self.asked:  # (outside a work tree, no thread: nothing to wait for)
            self._thread = threading.Thread(target=self._probe, args=(root,), name="git-probe", daemon=True)
            self._thread.start()

    def _probe(self, root: str) -> None:
        self._state = git_state(root)

    def result(self) -> tuple:
        if self._thread is not None:
            self._thread.join()
        return self._state


def _user() -> str:
    # getpass.getuser()'s answer, without importing getpass (start-up): the first of these
    # variables that is set, else the password database's name for this uid.
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        name = os.environ.get(var)
        if name:
            return name
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]
    except Exception:  # noqa: BLE001 - no user name is not a reason to fail a run
        return str(os.getuid())


def snapshot(ws: Workspace, hasher: Hasher, graph: Graph) -> tuple:
    """Store the Pipefile and every code path; returns (pipefile digest, {path: content})."""
    pf = graph.pipefile
    rel = os.path.relpath(pf.path, pf.root)
    d = store_path(ws, hasher, rel)  # through the stat cache: an unchanged Pipefile is not copied again
    pf_digest = d.digest if d is not None else ws.store.put_file(pf.path)
    code = {}
    for node in graph.nodes.values():
        for c in node.step.code:
            if c.path not in code:
                d = store_path(ws, hasher, c.path)
                if d is not None:
                    code[c.path] = d.to_json()
    return rel, pf_digest, code


def store_path(ws: Workspace, hasher: Hasher, rel: str):
    """The content at a workspace path, made sure to be in the store; None if nothing is there."""
    d = hasher.digest(rel)
    if d is not None and not ws.store.complete(d):
        ap = os.path.join(ws.root, rel)
        if d.kind == FILE:
            ws.store.put_file(ap, d.digest)
        else:
            ws.store.put_tree(hasher.tree(rel), ap)
    return d


def begin_job(
    ws: Workspace,
    hasher: Hasher,
    graph: Graph,
    experiment: Optional[str],
    targets,
    argv,
    cloned_from: Optional[int] = None,
    git: Optional[GitProbe] = None,
    job_id: Optional[int] = None,
) -> Job:
    """Record a run as a job; `job_id`: a queued served job that starts now (its
    deployment, not a git commit, says what code it ran)."""
    rel, pf_digest, code = snapshot(ws, hasher, graph)
    if cloned_from is None:
        cloned_from = ws.cloned_from  # every run in a workspace made by `pipe clone`
    if job_id is not None:
        commit, dirty = None, None
    else:
        commit, dirty = git.result() if git is not None else git_state(graph.pipefile.root)
    name = experiment or graph.pipefile.name or os.path.basename(graph.pipefile.root)
    job = ws.jobs.begin(
        name,
        rel,
        pf_digest,
        code,
        dict(graph.params),
        list(targets),
        list(argv),
        commit,
        dirty,
        _user(),
        cloned_from,
        job_id,
    )
    # Named assets: each new content is a new version, made by no step.
    for asset in graph.pipefile.assets.values():
        if asset.artifact:
            d = store_path(ws, hasher, asset.path)
            if d is not None:
                ws.jobs.add_version(asset.artifact, d.kind, d.digest, d.size, asset.path, job.id, None, None)
    return job


def job_status(summary) -> str:
    if summary.interrupted:
        return JobStatus.INTERRUPTED
    return JobStatus.FAILED if summary.failed else JobStatus.SUCCEEDED


class JobRecorder:
    """Scheduler events -> job_steps rows, written by a thread of its own.

    The scheduler only hands results over, and the writer builds and writes their rows: a
    commit per row (or even building it) sat between every two steps of a chain, and on a
    no-op over thousands of steps cost as much as the plan. Rows of steps that did work
    (ran, restored, failed) are written once the scheduler says the tasks started after
    them are in their commands (`commands_running`; at the latest after URGENT_SECONDS):
    written while a command runs, the writer's work does not hold up the hand-over from one
    step to the next (one interpreter lock), and a run killed while the next command runs
    still keeps them. They are written no more often than every URGENT_SECONDS: on a chain
    of short steps a transaction per step cost CPU the commands needed. Rows of steps that
    did nothing (fresh, skipped) wait up to FLUSH_SECONDS, to be written in one transaction
    with others (one that did work, handed over beside them, still waits no longer than
    URGENT_SECONDS). `close()` writes what is left.
    """

    FLUSH_SECONDS = 0.25
    URGENT_SECONDS = 0.05

    def __init__(self, ws: Workspace, job: Job, graph: Graph):
        self.ws = ws
        self.job = job
        self.graph = graph
        self.warnings: list = []  # problems that do not fail a step (a metrics file that does not parse)
        self._rows: list = []  # (result, decision, when it ended) handed over, not yet written
        self._urgent = False
        self._since = 0.0  # when the oldest of them was handed over (time.monotonic)
        self._written = 0.0  # when rows were last taken to be written (time.monotonic)
        self._now = False  # the scheduler's word: write the urgent rows now
        self._closed = False
        self._error: Optional[BaseException] = None
        self._cond = threading.Condition()
        self._db = threading.Lock()  # the writer and the run share one connection
        self._series_before: Optional[bool] = None  # did any earlier job stream a series? (asked once)
        self._writer = threading.Thread(target=self._write_rows, name="job-writer", daemon=True)
        self._writer.start()

    def _add_row(self, ended: tuple, urgent: bool) -> None:
        # No wake-up here: the writer looks every URGENT_SECONDS while it has nothing (waking
        # it at each step's end would hold up the next step's start).
        with self._cond:
            if not self._rows:
                self._since = time.monotonic()
            self._rows.append(ended)
            self._urgent = self._urgent or urgent

    def _write_rows(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if not self._rows:
                        self._cond.wait(timeout=self.URGENT_SECONDS)
                        continue
                    if self._urgent:
                        due = self._since + self.URGENT_SECONDS
                        if self._now:
                            due = min(due, self._written + self.URGENT_SECONDS)
                    else:
                        due = self._since + self.FLUSH_SECONDS
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    # Never past URGENT_SECONDS: a row that did work may come while fresh ones
                    # wait, and its word (commands_running) wakes no writer that wrote just now.
                    self._cond.wait(timeout=min(left, self.URGENT_SECONDS))
                ended, self._rows = self._rows, []
                self._urgent = self._now = False
                self._written = time.monotonic()
                closed = self._closed and not self._rows
            if ended:
                try:
                    rows = [self._row(r, d, t) for r, d, t, _ in ended]
                    with self._db:
                        self.ws.jobs.record_steps(rows)
                    for r, d, _, streamed in ended:
                        if streamed:
                            try:
                                self._record_stream(r, d)
                            except Exception as e:  # noqa: BLE001 - the others' series still go in; raised by close()
                                self._error = self._error or e
                except BaseException as e:  # noqa: BLE001 - raised again by close()
                    self._error = self._error or e
            if closed:
                return

    def commands_running(self) -> None:
        """The scheduler's word that the tasks it just started are in their commands (or that
        none started): the rows of steps that did work are written now (or, written less than
        URGENT_SECONDS ago, when the writer next looks: it is not woken for nothing)."""
        with self._cond:
            if self._urgent:
                self._now = True
                if time.monotonic() >= self._written + self.URGENT_SECONDS:
                    self._cond.notify()

    def close(self) -> None:
        """Write every row handed over; raises what went wrong writing them."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._writer.join()
        if self._error is not None:
            raise self._error

    def started(self, name: str, decision: Decision) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def _row(self, result: StepResult, decision: Optional[Decision], ended: float) -> JobStep:
        node = self.graph.nodes[result.name]
        manifest = decision.key.manifest if decision is not None and decision.key is not None else {}
        inputs = dict(manifest.get("inputs", {}))
        for path, d in manifest.get("code", {}).items():
            inputs[f"code:{path}"] = dict(d, path=path)
        lib = manifest.get("library")
        if lib:  # a std component's code: which release ran, beside the workspace's code
            name = f"std/{lib['component']}"
            inputs[f"code:{name}"] = {"path": name, "kind": "std", "version": lib["version"], "digest": lib["digest"]}
        outputs = {}
        for oname, out in node.outputs.items():
            content = (result.outputs or {}).get(oname)
            outputs[oname] = dict(content.to_json(), path=out.path) if content else {"path": out.path}
        command = result.command or command_text(manifest.get("command") or render_command(node))
        return JobStep(
            self.job.id,
            result.name,
            result.outcome,
            decision.key.digest if decision and decision.key else None,
            manifest.get("env"),
            command,
            inputs,
            outputs,
            round(result.seconds, 3),
            result.exit_code,
            result.log,
            result.error,
            ended,
            node.step.environment or None,
            list(result.gpus),
            result.gpu_model,
            result.worker or LOCAL_WORKER,
        )

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None:
        # The row is built by the writer, and the series the task streamed read by it (the
        # stream file is the task's own: only a retry of it, which this result is not,
        # replaces it): here only what must be read now (metrics files, which a later task
        # may replace) and what later tasks may ask for (artifact versions).
        ended = time.time()
        streamed = False
        try:
            streamed = self._now_read(result, decision)
        finally:
            self._add_row(
                (result, decision, ended, streamed), urgent=result.outcome not in (Outcome.FRESH, Outcome.SKIPPED)
            )

    def _now_read(self, result: StepResult, decision: Optional[Decision]) -> bool:
        """What `finished` records at once; whether the writer reads the task's series."""
        node = self.graph.nodes[result.name]
        if result.outcome == Outcome.STOPPED:
            self._record_stop(result, decision)
            return False
        if not result.ok or result.outputs is None or result.outcome == Outcome.LEFT_ON_REMOTE:
            return False  # (left on a remote: its files are not here to read metrics from)
        for oname, out in node.outputs.items():
            content = result.outputs.get(oname)
            if out.artifact and content is not None:
                with self._db:
                    self.ws.jobs.add_version(
                        out.artifact,
                        content.kind,
                        content.digest,
                        content.size,
                        out.path,
                        self.job.id,
                        result.name,
                        oname,
                    )
        for seq, path in enumerate(node.step.metrics):
            # Named by the content of the output it is in: a set already kept (a fresh step's,
            # a file written again the same) is not read, nor copied into this job.
            digest = set_digest(self.ws.root, path, node.outputs, result.outputs)
            with self._db:
                kept = self.ws.jobs.metric_set(digest) if digest is not None else None
            values = None
            if kept is not None:
                skipped, count = kept
            else:
                skipped, long_names = [], []
                try:
                    values = read_metrics(os.path.join(self.ws.root, path), skipped, long_names)
                except MetricsError as e:
                    self.warnings.append(printable(f"step '{result.name}': metrics file '{path}' {e}"))
                    continue
                count = len(skipped)
                if long_names:
                    self.warnings.append(
                        f"step '{result.name}': metrics file '{path}': {len(long_names)} metric name(s) longer than "
                        f"{MAX_NAME} characters left out ('{printable(long_names[0][:40])}...'): shorten them"
                    )
            for name in skipped[:5]:  # names the file chose: shown escaped
                self.warnings.append(
                    f"step '{result.name}': metrics file '{path}': '{printable(name)}' is a number "
                    f"too large for a float; left out"
                )
            if count > 5:
                self.warnings.append(
                    f"step '{result.name}': metrics file '{path}': {count - 5} more such numbers left out"
                )
            with self._db:
                if digest is not None:
                    self.ws.jobs.record_metric_set(self.job.id, result.name, seq, digest, values, skipped)
                elif values:
                    self.ws.jobs.record_metrics(self.job.id, result.name, values)
        return True

    def _record_stop(self, result: StepResult, decision: Optional[Decision]) -> None:
        """A trial early termination stopped: the stop kept (stopped as it ran: by its key and
        policy, with the evidence; the planner plans it `stopped` from then on), and the
        curve it streamed until then (a trial that stayed stopped: that curve again)."""
        key = decision.key.digest if decision is not None and decision.key is not None else None
        if result.stop is not None and key is not None:
            stop = result.stop
            with self._db:
                self.ws.jobs.record_stop(
                    self.job.id, result.name, key, stop["policy"], stop["detail"], stop["evidence"]
                )
        if result.log:
            series, notes = tracking.read_stream(tracking.stream_path(os.path.join(self.ws.root, result.log)))
            self.warnings.extend(f"step '{result.name}': {n}" for n in notes)
        elif key is not None:
            # Stayed stopped: a reference to the curve of the job that stopped it (the curve
            # only: its last point is no result of the trial's).
            with self._db:
                owner = self.ws.jobs.series_owner(result.name, key, before=self.job.id, outcome=Outcome.STOPPED)
                if owner is not None:
                    self.ws.jobs.refer_series(self.job.id, result.name, owner, {})
            return
        else:
            series = {}
        if series:  # (the curve only: its last point is no result of the trial's)
            with self._db:
                self.ws.jobs.record_series(self.job.id, result.name, series)

    def _record_stream(self, result: StepResult, decision: Optional[Decision]) -> None:
        """The series the step streamed while it ran, and each one's last value as a metric
        of the step (a `metrics:` file naming the same metric wins). A step that was fresh or
        restored gets the series of the job that ran it with the same key, as it gets its
        metrics files: each job has the full picture, by a reference to that job's points
        (jobdb/series.py), not a copy of them."""
        series: dict = {}
        if result.outcome == Outcome.RAN and result.log:
            path = tracking.stream_path(os.path.join(self.ws.root, result.log))
            series, notes = tracking.read_stream(path)
            self.warnings.extend(f"step '{result.name}': {n}" for n in notes)
        elif decision is not None and decision.key is not None:
            with self._db:  # reads too: the writer thread may be inside a transaction on it
                if self._series_before is None:  # (most histories have none: one query, not two per step)
                    self._series_before = self.ws.jobs.any_series_before(self.job.id)
                if not self._series_before:
                    return
                owner = self.ws.jobs.series_owner(result.name, decision.key.digest, before=self.job.id)
                if owner is None:
                    return
                from_files = self.ws.jobs.metric_names_of_step(self.job.id, result.name)
                last = self.ws.jobs.last_points(owner, result.name)
                last = {name: value for name, value in last.items() if name not in from_files}
                self.ws.jobs.refer_series(self.job.id, result.name, owner, last)
            return
        if not series:
            return
        with self._db:
            from_files = self.ws.jobs.metric_names_of_step(self.job.id, result.name)
        last = {name: points[-1][1] for name, points in series.items() if name not in from_files}
        with self._db:
            self.ws.jobs.record_series(self.job.id, result.name, series, last)


class Fanout:
    """Several listeners as one: the progress reporter and the job recorder."""

    def __init__(self, *listeners):
        self.listeners = [x for x in listeners if x is not None]

    def started(self, name, decision):
        for x in self.listeners:
            x.started(name, decision)

    def finished(self, result, decision):
        for x in self.listeners:
            x.finished(result, decision)

    def commands_running(self):
        for x in self.listeners:
            said = getattr(x, "commands_running", None)  # (a listener that holds rows back: JobRecorder)
            if said is not None:
                said()

    def message(self, text):
        for x in self.listeners:
            x.message(text)
