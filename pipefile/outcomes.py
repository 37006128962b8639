"""The words every layer shares for how things ended, each its own type so that one word
cannot stand for another: a task's `Outcome`, a job's `JobStatus`, a served job's
`JobState`, and the process's `ExitCode` ("failed" is all four, and they differ).

The string types are `str` subclasses whose value is the word itself: they compare equal
to the plain strings read back from the job database and JSON, and are written as those
strings. (docs/concepts.md is the glossary.)

`StepResult` is what an executor returns for a task and what the scheduler, the job
record and the reports read. It is built by keyword only: it has many optional fields,
and a positional call silently shifts them when one is added.
"""

from __future__ import annotations

from dataclasses import field
from enum import Enum, IntEnum
from typing import Optional

from .lazyclass import dataclass


class _Word(str, Enum):
    """A closed set of words: formats and prints as the word (not `Class.NAME`)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Outcome(_Word):
    """What became of one task in a run."""

    RAN = "ran"
    RESTORED = "restored"
    FRESH = "fresh"
    FAILED = "failed"
    SKIPPED = "skipped"
    WOULD_RUN = "would-run"
    WOULD_RESTORE = "would-restore"
    # Restorable from a remote, but nothing in this run needs its outputs here: left there.
    LEFT_ON_REMOTE = "on-remote"
    # A sweep trial that early termination stopped: not a failure; nothing of it is kept.
    STOPPED = "stopped"
    # A restore that failed where running the task would do (a damaged cache, a remote that
    # failed): never final, never shown; the scheduler runs the task instead.
    RESTORE_FAILED = "restore-failed"


class JobStatus(_Word):
    """Where a job stands (the `status` that `pipe jobs` shows)."""

    QUEUED = "queued"  # served jobs only
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELED = "canceled"  # served jobs only


class JobState(_Word):
    """The lifecycle of a served job (its `state`, beside its status)."""

    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    INTERRUPTED = "interrupted"


class ExitCode(IntEnum):
    """What `pipe` returns."""

    OK = 0
    STEP_FAILED = 1  # a task failed (or, with --ci, a push)
    BAD_INPUT = 2  # bad usage, a bad Pipefile or other input, an environment that cannot be used
    INTERNAL_ERROR = 70  # a bug in pipe
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


@dataclass(kw_only=True)
class StepResult:
    name: str
    outcome: Outcome
    seconds: float = 0.0
    outputs: Optional[dict] = None  # output name -> PathDigest
    exit_code: Optional[int] = None
    log: Optional[str] = None  # workspace-relative
    error: Optional[str] = None
    command: Optional[str] = None
    # The command as it ran, when it differs (staging paths), and what each staging path
    # stands for: ((staging path, output path), ...); shown when the step fails
    ran: Optional[str] = None
    staged: tuple = ()
    notes: list = field(default_factory=list)
    environment: Optional[str] = None  # "NAME (identity)" of a step that ran in an environment
    gpus: tuple = ()  # the GPU ids it was leased
    gpu_model: Optional[str] = None
    # (start, end) in time.time_ns() of its command: tells which step wrote over another's output
    window: tuple = ()
    # output path -> its stat signature right after it was put in place
    signatures: dict = field(default_factory=dict)
    # where it ran: {"executor": "ray", "node": ..., "host": ...}; None: here (the local executor)
    worker: Optional[dict] = None
    # STOPPED by early termination as it ran: {"why", "detail", "policy", "evidence"} (stopping.py)
    stop: Optional[dict] = None
    # a failed task of a foreach step within its error_threshold: recorded as failed, but it
    # fails neither the step nor the job, and the steps that read its gathered folder go on
    tolerated: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.FAILED, Outcome.SKIPPED, Outcome.RESTORE_FAILED)


@dataclass
class RunSummary:
    results: dict  # name -> StepResult, in topological order
    decisions: dict  # name -> the final Decision
    interrupted: bool = False
    seconds: float = 0.0
    errors: list = field(default_factory=list)
    settled: tuple = ()  # tasks of maps up to date without a node (maps.py): fresh, not in `results`

    @property
    def failed(self) -> list:
        return [r for r in self.results.values() if r.outcome == Outcome.FAILED and not r.tolerated]

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failed else "succeeded"
