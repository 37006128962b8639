"""The words and rows the job database's stores share: job statuses, the lifecycle states
of a served job, and a job or step row read back as a dataclass.

jobs.py (JobStore) and serving.py (ServeStore) both build on this module and never
import each other: a ServeStore is handed the JobStore whose database it shares.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import field
from typing import Optional

from ..errors import PipefileError
from ..lazyclass import dataclass
from ..outcomes import JobState, JobStatus
from ..pids import alive

# The words are outcomes.JobStatus (a job's `status`, what `pipe jobs` shows) and
# outcomes.JobState (a served job's lifecycle, its `state`).
STATUSES = tuple(JobStatus)
STATES = tuple(JobState)
ACTIVE = (JobState.PREPARING, JobState.RUNNING, JobState.FINALIZING)
TERMINAL = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELED, JobState.INTERRUPTED)
# The `status` column for each final state.
STATUS_OF = {
    JobState.COMPLETED: JobStatus.SUCCEEDED,
    JobState.FAILED: JobStatus.FAILED,
    JobState.CANCELED: JobStatus.CANCELED,
    JobState.INTERRUPTED: JobStatus.INTERRUPTED,
}


@dataclass
class Job:
    id: int
    uid: str
    experiment: str
    status: str
    started: float
    ended: Optional[float]
    user: str
    pid: int
    git_commit: Optional[str]
    git_dirty: Optional[bool]
    pipefile: str
    pipefile_digest: str
    code: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)
    argv: list = field(default_factory=list)
    cloned_from: Optional[int] = None
    state: Optional[str] = None  # served jobs: queued, preparing, running, finalizing, completed, ...
    endpoint: Optional[str] = None
    deployment: Optional[int] = None
    deployment_digest: Optional[str] = None
    token_id: Optional[str] = None
    request: dict = field(default_factory=dict)
    request_digest: Optional[str] = None
    idempotency_key: Optional[str] = None
    error: Optional[str] = None
    queued: Optional[float] = None
    noop: bool = False  # nothing ran, was restored or failed in it (jobdb/schema.py: noop_jobs)
    damaged: list = field(default_factory=list)  # read leniently: what of its record could not be read

    def to_json(self) -> dict:
        out = {
            "id": self.id,
            "uid": self.uid,
            "experiment": self.experiment,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "user": self.user,
            "git": {"commit": self.git_commit, "dirty": self.git_dirty} if self.git_commit else None,
            "pipefile": self.pipefile,
            "pipefile_digest": self.pipefile_digest,
            "code": self.code,
            "params": self.params,
            "targets": self.targets,
            "argv": self.argv,
            "cloned_from": self.cloned_from,
            "noop": self.noop,
        }
        if self.damaged:  # (only a listing reads a damaged record: what of it could not be read)
            out["damaged"] = list(self.damaged)
        if self.endpoint:
            out.update(
                endpoint=self.endpoint,
                deployment=self.deployment,
                deployment_digest=self.deployment_digest,
                token=self.token_id,
                state=self.state,
                error=self.error,
            )
        return out


@dataclass
class JobStep:
    job_id: int
    step: str
    outcome: str
    key: Optional[str]
    env: Optional[str]
    command: Optional[str]
    inputs: dict
    outputs: dict
    seconds: float
    exit_code: Optional[int]
    log: Optional[str]
    error: Optional[str]
    finished: float
    environment: Optional[str] = None  # the environment's name (None: the calling shell)
    gpus: list = field(default_factory=list)  # device ids leased to the step
    gpu_model: Optional[str] = None
    worker: Optional[dict] = None  # where it ran: {"executor": "ray", "node", "host"} or {"executor": "local"}

    def to_json(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "step",
                "outcome",
                "key",
                "env",
                "environment",
                "gpus",
                "gpu_model",
                "worker",
                "command",
                "inputs",
                "outputs",
                "seconds",
                "exit_code",
                "log",
                "error",
                "finished",
            )
        }


def _decoded(text, kind: type, column: str, where: tuple, problems: Optional[list]):
    """The JSON `column` holds (`text`), which must be a `kind`. A value cut short or edited by
    hand (not JSON, or JSON of another shape) was an internal error wherever it was read: it is
    an error naming the record, the column and the fix; or, with `problems` (a listing that
    shows what it can), `kind`'s empty value, the problem added to `problems`."""
    if not text:
        return kind()
    try:
        value = json.loads(text)
        why = "" if isinstance(value, kind) else f"is JSON, but not {'a mapping' if kind is dict else 'a list'}"
    except (ValueError, RecursionError) as e:  # (a JSONDecodeError is a ValueError)
        value, why = None, f"is not JSON ({e})"
    if not why:
        return value
    db, table, who, condition = where
    problem = PipefileError(
        f"{db}: the record of {who} is damaged: its `{column}` {why}",
        hint="the row was cut short or edited by hand: write its value back, or clear it (read as none from "
        f"then on): sqlite3 {shlex.quote(db)} {_shell_text(f'UPDATE {table} SET {column}=NULL WHERE {condition}')}",
    )
    if problems is None:
        raise problem
    problems.append(problem)
    return kind()


def _shell_text(text: str) -> str:
    """`text` as one word of a shell command: in double quotes where nothing in it is special
    there (an SQL statement quotes its text in single quotes), else shell-quoted."""
    return f'"{text}"' if not any(c in text for c in '"$`\\!') else shlex.quote(text)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def job_from_row(row, db: str = ".pipe/jobs.db", problems: Optional[list] = None) -> Job:
    """A `jobs` row (SELECT *) as a Job; one left running by a process that no longer
    exists reads as interrupted. A JSON column that cannot be read is an error naming it
    (database `db`), or with `problems` an empty value, the error added there (Job.damaged)."""
    (
        id_,
        uid,
        experiment,
        status,
        started,
        ended,
        user,
        pid,
        git_commit,
        git_dirty,
        pipefile,
        pipefile_digest,
        code,
        params,
        targets,
        argv,
        cloned_from,
        state,
        endpoint,
        deployment,
        deployment_digest,
        token_id,
        request,
        request_digest,
        idempotency_key,
        error,
        queued,
    ) = row[:27]  # (columns a newer revision appends are not this pipe's to read)
    if status == JobStatus.RUNNING and not alive(pid):
        status = JobStatus.INTERRUPTED
        if state is not None:
            state = JobState.INTERRUPTED
    where = (db, "jobs", f"job {id_}", f"id={id_}")
    found: list = []

    def read(text, kind: type, column: str):
        return _decoded(text, kind, column, where, found if problems is not None else None)

    job = Job(
        id_,
        uid,
        experiment or "",
        status,
        started,
        ended,
        user or "",
        pid,
        git_commit,
        None if git_dirty is None else bool(git_dirty),
        pipefile or "",
        pipefile_digest or "",
        read(code, dict, "code"),
        read(params, dict, "params"),
        read(targets, list, "targets"),
        read(argv, list, "argv"),
        cloned_from,
        state,
        endpoint,
        deployment,
        deployment_digest,
        token_id,
        read(request, dict, "request"),
        request_digest,
        idempotency_key,
        error,
        queued,
    )
    if problems is not None and found:
        job.damaged = [p.message for p in found]
        problems.extend(found)
    return job


def step_from_row(r, db: str = ".pipe/jobs.db") -> JobStep:
    """A `job_steps` row (SELECT *) as a JobStep (a row without the newer columns reads None);
    a JSON column that cannot be read is an error naming it (database `db`)."""
    extra = tuple(r[13:17]) + (None,) * (17 - len(r))
    where = (db, "job_steps", f"step '{r[1]}' of job {r[0]}", f"job_id={r[0]} AND step={_sql_text(str(r[1]))}")
    return JobStep(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        _decoded(r[6], dict, "inputs", where, None),
        _decoded(r[7], dict, "outputs", where, None),
        r[8] or 0.0,
        r[9],
        r[10],
        r[11],
        r[12],
        extra[0],
        _decoded(extra[1], list, "gpus", where, None),
        extra[2],
        _decoded(extra[3], dict, "worker", where, None) or None,
    )
