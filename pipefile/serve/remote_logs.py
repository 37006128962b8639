"""A served job's step logs, read from the client side: `pipe logs --url URL JOB [STEP]
[--follow]`, and the log tail `pipe invoke` prints when a job fails.

The server's text is never trusted: what is printed goes through `printable_lines` (no
terminal escapes), a whole log is read capped (the server caps it too: --max-log), and a
followed log is printed as it arrives."""

from __future__ import annotations

from typing import Callable, Optional
from urllib.parse import quote

from ..errors import PipefileError, StepFailed, did_you_mean
from ..printable import printable, printable_lines
from .answers import MAX_ANSWER, body_chunks
from .client import Client

TAIL_LINES = 20  # what `pipe invoke` shows of a failed step's log
TAIL_LINE_MAX = 500  # characters of one line shown


def logs_command(url: str, job_id: int, step: Optional[str] = None) -> str:
    """The command that prints a served job's logs (hints say it in CLI terms)."""
    return f"pipe logs --url {url.rstrip('/')} {job_id}" + (f" {step}" if step else "")


def job_failed(job: dict, url: str) -> Optional[StepFailed]:
    if job["state"] == "completed":
        return None
    failed = [s.get("step") for s in job.get("steps") or [] if isinstance(s, dict) and s.get("outcome") == "failed"]
    step = failed[0] if len(failed) == 1 and isinstance(failed[0], str) else None
    return StepFailed(
        f"job {job['id']} ended {printable(job['state'])}"
        + (f": {printable(job['error'])}" if job.get("error") else ""),
        hint=f"read its logs: {logs_command(url, job['id'], printable(step) if step else None)}",
    )


def step_names(job: dict) -> list:
    return [s["step"] for s in job.get("steps") or [] if isinstance(s, dict) and isinstance(s.get("step"), str)]


def failed_steps(job: dict) -> list:
    return [
        s["step"]
        for s in job.get("steps") or []
        if isinstance(s, dict) and isinstance(s.get("step"), str) and s.get("outcome") == "failed"
    ]


def _log_path(job_id: int, step: str) -> str:
    return f"/v1/jobs/{job_id}/logs/{quote(step, safe='')}"


def read_log(client: Client, job_id: int, step: str) -> str:
    r = client.request("GET", _log_path(job_id, step), f"the log of step '{printable(step)}' of job {job_id}")
    return r.body.decode("utf-8", "replace")


def follow_log(client: Client, job_id: int, step: str, write: Callable[[str], None]) -> None:
    """Print the step's log as the server sends it, until the job ends."""
    what = f"the log of step '{printable(step)}' of job {job_id}"
    url = client.resolve(_log_path(job_id, step) + "?follow=true", what)
    seen = 0
    with client.stream(url, what) as r:
        for piece in body_chunks(r, what):
            seen += len(piece)
            if seen > MAX_ANSWER * 64:  # far past any --max-log: not a pipe serve answer
                raise PipefileError(f"{what}: the server keeps sending; stopped after {seen} bytes")
            write(printable_lines(piece.decode("utf-8", "replace")))


def job(client: Client, job_id: int, url: str) -> dict:
    try:
        got = client.request_json("GET", f"/v1/jobs/{job_id}", f"job {job_id}")
    except PipefileError as e:
        if ": the server answered 404:" not in e.message:
            raise
        # The server's hint is in its API's terms; this is the CLI's.
        raise PipefileError(
            e.message, hint=f"the newest job this token may see: pipe logs --url {url.rstrip('/')} last"
        ) from None
    if not isinstance(got.get("steps", []), list):
        raise PipefileError(f"job {job_id}: the server's steps are of the wrong shape: {str(got)[:200]}")
    return got


def check_step(job_doc: dict, job_id: int, step: str, url: str) -> None:
    names = step_names(job_doc)
    if step not in names:
        raise PipefileError(
            f"served job {job_id} has no step '{printable(step)}'",
            hint=did_you_mean(step, names, "step") or f"its steps: {logs_command(url, job_id)}",
        )


def tail(text: str, lines: int = TAIL_LINES) -> list:
    out = []
    for line in text.splitlines()[-lines:]:
        line = printable(line)
        out.append(line if len(line) <= TAIL_LINE_MAX else line[:TAIL_LINE_MAX] + " [...]")
    return out


def failure_report(client: Client, job_doc: dict, url: str) -> list:
    """Lines for a failed served job: each failed step's log tail, and how to read it all.
    A log that cannot be read is said, never an error of its own (the job's failure is)."""
    out = []
    job_id = job_doc["id"]
    for step in failed_steps(job_doc):
        try:
            text = read_log(client, job_id, step)
        except PipefileError as e:
            out.append(f"  log of step '{printable(step)}': could not be read ({e.message})")
            continue
        lines = tail(text)
        if not lines:
            out.append(f"  log of step '{printable(step)}': empty")
            continue
        out.append(
            f"  log of step '{printable(step)}' (last {len(lines)} lines; all of it: "
            f"{logs_command(url, job_id, step)}):"
        )
        out += [f"    {line}" for line in lines]
    return out


def _job_id(client: Client, text: str) -> int:
    """A served job's id from JOB: a number, or `last` (the newest this token sees)."""
    if text == "last":
        got = client.request_json("GET", "/v1/jobs", "the served jobs", params={"limit": 1})
        jobs = got.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            raise PipefileError("the server has no job this token may see", hint="invoke one: pipe invoke ENDPOINT")
        if not isinstance(jobs[0], dict) or not isinstance(jobs[0].get("id"), int):
            raise PipefileError(f"the served jobs are of the wrong shape: {str(jobs[0])[:200]}")
        return jobs[0]["id"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise PipefileError(
            f"JOB {printable(text)!r}: a served job is named by its number (or last)",
            hint="pipe invoke prints it: `job 2 (queued): ...`",
        )
    return int(text)


def show_logs(client: Client, url: str, job_text: str, step: Optional[str], follow: bool, echo) -> Optional[dict]:
    """`pipe logs --url`: print a served job's logs (all steps, or STEP), or follow them.
    Returns {step: text} for --json instead of printing when `echo` is None."""
    job_id = _job_id(client, job_text)
    doc = job(client, job_id, url)
    if step is not None:
        check_step(doc, job_id, step, url)
    names = [step] if step else step_names(doc)
    if echo is None:
        return {n: read_log(client, job_id, n) for n in names}
    if follow:
        if step is None and len(names) != 1:
            # One followed stream per step: the server knows the steps only as they start.
            raise PipefileError(
                f"--follow of a served job needs the STEP ({len(names)} steps so far)",
                hint=f"name one: {logs_command(url, job_id, names[0] if names else 'STEP')} --follow",
            )
        follow_log(client, job_id, names[0], lambda text: echo(text, nl=False))
        return None
    for n in names:
        text = printable_lines(read_log(client, job_id, n))
        if step is None:
            echo(f"==> {n} <==")
        echo(text, nl=False)
        if step is None and text and not text.endswith("\n"):
            echo()
    return None
