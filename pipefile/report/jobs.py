"""Renders job history: the jobs table, one job's steps, logs. Rich tables on a
terminal, aligned plain text otherwise; JSON is built by the callers from to_json()."""

from __future__ import annotations

import sys
import time

from ..printable import printable, printable_lines
from .text import format_seconds, table, when

_STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "interrupted": "yellow", "running": "cyan"}
_OUTCOME_STYLE = {
    "ran": "yellow",
    "restored": "cyan",
    "fresh": "green",
    "failed": "bold red",
    "skipped": "dim",
    "running": "cyan",
    "interrupted": "yellow",
}


def duration(job) -> str:
    end = job.ended or (time.time() if job.status == "running" else None)
    return format_seconds(end - job.started) if end else "-"


def git_text(job) -> str:
    if not job.git_commit:
        return "-"
    return job.git_commit[:10] + ("*" if job.git_dirty else "")


def render_jobs(jobs: list, counts: dict, stream=None, filtered: bool = False, hidden: int = 0) -> None:
    """`hidden`: how many jobs in which nothing ran or was restored were left out (said on stderr)."""
    if hidden:
        sys.stderr.write(
            f"{hidden} job{'' if hidden == 1 else 's'} in which nothing ran or was restored "
            f"{'is' if hidden == 1 else 'are'} hidden: `pipe jobs --all` shows them\n"
        )
    if not jobs:
        if hidden:
            return
        (stream or sys.stdout).write("no jobs match\n" if filtered else "no jobs yet: `pipe run` records one per run\n")
        return
    rows, styles = [], []
    for j in jobs:
        c = counts.get(j.id, {})
        steps = ", ".join(f"{n} {o}" for o, n in sorted(c.items())) or "-"
        rows.append([j.id, j.uid, j.experiment, j.status, when(j.started), duration(j), steps, git_text(j), j.user])
        styles.append(_STATUS_STYLE.get(j.status))
    table(["id", "uid", "experiment", "status", "started", "took", "steps", "git", "user"], rows, styles, stream)


def damaged_error(problems: list):
    """One error for the damaged job records a listing met (each names its record and column;
    the first's hint says how to mend it): the first few, and how many more."""
    from ..errors import PipefileError

    if len(problems) == 1:
        return problems[0]
    shown = problems[:5]
    more = len(problems) - len(shown)
    return PipefileError(
        f"{len(problems)} job records are damaged (listed above with what could be read):\n  "
        + "\n  ".join(p.message for p in shown)
        + (f"\n  ... and {more} more" if more else ""),
        hint=f"{shown[0].hint}; and the same for the others",
    )


def param_value(v) -> str:
    """A param's value in `pipe jobs show`'s list: JSON as a Pipefile writes it (text quoted, so
    that a comma in it is not read as the next param; true, not Python's True); an unset one
    (an Azure ML input given no value) "(no value)", not Python's None."""
    import json

    return "(no value)" if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)


def worker_text(worker) -> str:
    """Where a step ran, for a table cell: ray HOST (NODE...), or local."""
    if not worker or worker.get("executor") == "local":
        return "local"
    node = str(worker.get("node") or "")[:12]
    return printable(f"{worker.get('executor')} {worker.get('host') or '?'}" + (f" ({node})" if node else ""))


def render_job(job, steps: list, stream=None, unfinished: list = ()) -> None:
    """`unfinished`: [{step, log}] of steps that started and have no record (cli/jobs.py):
    running, or cut off with their job (interrupted)."""
    stream = stream or sys.stdout

    def put(line: str) -> None:  # a job's record holds text others chose (served params, names): escaped
        stream.write(printable(line) + "\n")

    put(f"job {job.id} ({job.uid})  experiment {job.experiment}  {job.status}")
    put(f"  started {when(job.started)}, took {duration(job)}, by {job.user}")
    digest = f" ({job.pipefile_digest[:12]})" if job.pipefile_digest else ""  # (none kept: no "()")
    put(f"  pipefile {job.pipefile or '-'}{digest}  git {git_text(job)}")
    if job.cloned_from:
        put(f"  cloned from job {job.cloned_from}")
    if job.endpoint:
        stream.write(
            printable_lines(
                f"  endpoint {job.endpoint} deployment {job.deployment} "
                f"({(job.deployment_digest or '')[:12]}), token {job.token_id or '-'}, "
                f"state {job.state}" + (f": {job.error}" if job.error else "")
            )
            + "\n"
        )
    if job.params:
        put("  params: " + ", ".join(f"{k}={param_value(v)}" for k, v in sorted(job.params.items())))
    rows, styles = [], []
    with_env = any(s.environment for s in steps)
    with_gpus = any(s.gpus for s in steps)
    # Only when some step ran elsewhere: a local job's table stays as it was.
    with_worker = any(s.worker and s.worker.get("executor") != "local" for s in steps)
    for s in steps:
        row = [
            s.step,
            s.outcome,
            format_seconds(s.seconds),
            "-" if s.exit_code is None else s.exit_code,
            (s.key or "-")[:12],
        ]
        if with_env:
            row.append(s.environment or "local")
        if with_gpus:
            row.append(",".join(s.gpus) + (f" ({s.gpu_model})" if s.gpu_model else "") if s.gpus else "-")
        if with_worker:
            row.append(worker_text(s.worker))
        rows.append(row + [s.log or "-"])
        styles.append(_OUTCOME_STYLE.get(s.outcome))
    gone = "running" if job.status == "running" else "interrupted"  # (no record: it never ended)
    for u in unfinished:
        extra = int(with_env) + int(with_gpus) + int(with_worker)
        rows.append([u["step"], gone, "-", "-", "-"] + ["-"] * extra + [u["log"]])
        styles.append(_OUTCOME_STYLE.get(gone))
    headers = (
        ["step", "outcome", "took", "exit", "key"]
        + (["env"] if with_env else [])
        + (["gpus"] if with_gpus else [])
        + (["worker"] if with_worker else [])
        + ["log"]
    )
    table(headers, rows, styles, stream)
    for s in steps:
        if s.error:  # an error and its hint: lines on purpose, what they quote escaped
            stream.write(printable_lines(f"{s.step}: {s.error}") + "\n")
