"""Task outcomes: what became of one task in a run, as every layer above names it.

`StepResult` is what an executor returns for a task and what the scheduler, the job
record and the reports read. It is built by keyword only: it has many optional fields,
and a positional call silently shifts them when one is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

RAN = "ran"
RESTORED = "restored"
FRESH = "fresh"
FAILED = "failed"
SKIPPED = "skipped"
WOULD_RUN = "would-run"
WOULD_RESTORE = "would-restore"
# Restorable from a remote, but nothing in this run needs its outputs here: left there.
LEFT_ON_REMOTE = "on-remote"
# A restore that failed where running the task would do (a damaged cache, a remote that
# failed): never final, never shown; the scheduler runs the task instead.
RESTORE_FAILED = "restore-failed"


@dataclass(kw_only=True)
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
    # output path -> its stat signature right after it was put in place
    signatures: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome not in (FAILED, SKIPPED, RESTORE_FAILED)
