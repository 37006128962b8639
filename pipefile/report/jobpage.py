"""The job page of `pipe report` as data: one job read from the job database with what its
page shows (its steps and the graph between them, metrics, streamed series, the tails of
failed steps' logs) and the change against the previous job of its experiment.

Rendering is elsewhere: `jobpage_svg` draws the graph, `jobpage_render` writes HTML or
Markdown. The comparisons reuse `report.metrics.diff_rows`, as `pipe params diff` and
`pipe metrics diff` do, so a report and those commands never disagree.
"""

from __future__ import annotations

import bisect
import os
import shlex
from dataclasses import field
from typing import Optional

from ..filehash import open_regular
from ..filenames import log_file, name_of
from ..jobdb.records import Job
from ..lazyclass import dataclass
from ..outcomes import Outcome
from ..printable import printable
from . import metrics as report_metrics

TAIL_LINES = 40
TAIL_BYTES = 64 * 1024  # a log can be gigabytes: only its end is read
# The outcomes whose log tail the page shows: the steps that went wrong.
FAILED = (Outcome.FAILED, Outcome.RESTORE_FAILED)


@dataclass
class LogTail:
    step: str
    lines: list  # the last lines, each made printable (control characters escaped)
    cut: bool  # earlier lines were left out
    path: str  # where the whole log is, relative to the workspace


@dataclass
class Change:
    """What differs from the previous job of the same experiment."""

    previous: Job
    params: list  # diff_rows of the params that differ
    steps: list  # (step, outcome before or None, outcome now or None) where they differ
    metrics: list  # diff_rows of the metrics that differ
    same_metrics: int  # how many metrics are equal in both


@dataclass
class JobPage:
    job: Job
    steps: list  # JobStep rows, in the order they finished
    edges: list  # (from step, to step)
    metrics: dict  # {"STEP.NAME": value}
    series: dict  # {"STEP.NAME": [(x, value, time)]}
    tails: list  # LogTail of each failed step
    change: Optional[Change] = None
    notes: list = field(default_factory=list)  # what the page could not show, and why
    azureml: bool = False  # an Azure ML pipeline's job without metrics: its nodes log them to MLflow

    @property
    def command(self) -> str:
        """The command line the job was started with."""
        if self.job.endpoint:
            return f"invoked through endpoint {self.job.endpoint}"
        return "pipe " + shlex.join(str(a) for a in self.job.argv) if self.job.argv else "pipe run"

    @property
    def step_seconds(self) -> float:
        return sum(s.seconds or 0.0 for s in self.steps)


def gather(ws, ref: str) -> JobPage:
    """The page of job `ref` (an id, a uid prefix, last, last~N) of workspace `ws`."""
    job = ws.jobs.resolve(ref)
    steps = ws.jobs.steps(job.id)
    page = JobPage(
        job=job,
        steps=steps,
        edges=[],
        metrics=ws.jobs.metrics(job.id),
        series=_series(ws, job),
        tails=[t for t in (_tail(ws, job, s) for s in steps if s.outcome in FAILED) if t is not None],
    )
    page.edges = job_edges(ws, job, steps, page.notes)
    page.change = _change(ws, job, steps, page.metrics)
    page.azureml = not page.metrics and report_metrics.is_azureml_job(ws, job)
    return page


def _series(ws, job: Job) -> dict:
    """The job's streamed series, and what the steps it recorded none of streamed (their
    stream files: the database has a step's points once it ends well): a running step's so
    far, and one that failed or was interrupted until then (as `pipe metrics curve`)."""
    series = ws.jobs.series(job.id)
    folder = ws.job_dir(job.id)
    if not os.path.isdir(folder):
        return series
    from .. import tracking

    recorded = {step for pairs in ws.jobs.series_names(job.id).values() for step, _ in pairs}
    for entry in sorted(os.listdir(folder)):
        if entry.endswith(".metrics.jsonl"):
            step = name_of(folder, entry[: -len(".metrics.jsonl")])
            if step in recorded:
                continue  # (the file holds the points recorded)
            for name, points in tracking.read_stream(os.path.join(folder, entry))[0].items():
                series.setdefault(f"{step}.{name}", points)
    return series


# --- the graph ---------------------------------------------------------------------------
def _norm(path: str) -> str:
    return path.rstrip("/") or path


def recorded_edges(steps: list) -> list:
    """(producer, reader) from what the job recorded: a step that read a path another step of
    the job wrote (the same path, a file inside an output folder, or a gathered folder that
    holds other tasks' outputs)."""
    producers: dict = {}
    for s in steps:
        for out in s.outputs.values():
            if isinstance(out, dict) and out.get("path"):
                producers.setdefault(_norm(out["path"]), s.step)
    ordered = sorted(producers)
    edges: dict = {}
    for s in steps:
        for inp in s.inputs.values():
            path = inp.get("path") if isinstance(inp, dict) else None
            if not path or inp.get("kind") == "std":
                continue
            p = _norm(path)
            found = [producers[p]] if p in producers else []
            parts = p.split("/")
            # the output folders this path is inside
            found += [producers[a] for a in ("/".join(parts[:i]) for i in range(1, len(parts))) if a in producers]
            # the outputs inside this path (a gathered folder), found by their sorted prefix
            i = bisect.bisect_left(ordered, p + "/")
            while i < len(ordered) and ordered[i].startswith(p + "/"):
                found.append(producers[ordered[i]])
                i += 1
            for src in found:
                if src != s.step:
                    edges[(src, s.step)] = None
    return list(edges)


def job_edges(ws, job: Job, steps: list, notes: list) -> list:
    """The job's graph. What each step read is recorded once it was keyed; a step that never
    was (skipped after a failure) recorded no inputs, so its edges come from the job's snapshot
    of the Pipefile, when that still loads."""
    edges = recorded_edges(steps)
    if not any(s.key is None and s.outcome != Outcome.FRESH for s in steps):
        return edges
    names = {s.step for s in steps}
    snapshot = _snapshot_edges(ws, job)
    if snapshot is None:
        notes.append("the edges of steps that never started are left out: the job's Pipefile snapshot does not load")
        return edges
    known = set(edges)
    return edges + [e for e in snapshot if e not in known and e[0] in names and e[1] in names]


def _snapshot_edges(ws, job: Job) -> Optional[list]:
    if not job.pipefile_digest or job.endpoint:
        return None
    from .. import graph as graph_mod
    from ..load import document

    try:
        data = ws.store.read(job.pipefile_digest)
        pf, errors = document.load_lenient(os.path.join(ws.root, job.pipefile), data)
        if errors:
            return None
        built = graph_mod.build(pf, job.params, check_exists=False)
    except Exception:  # noqa: BLE001 - best effort: the recorded edges stand alone
        return None
    return [(dep, node.name) for node in built.nodes.values() for dep in node.deps]


# --- logs --------------------------------------------------------------------------------
def _tail(ws, job: Job, step) -> Optional[LogTail]:
    rel = step.log or os.path.relpath(os.path.join(ws.job_dir(job.id), log_file(step.step)), ws.root)
    path = os.path.join(ws.root, rel)
    try:
        with open_regular(path) as f:  # (OSError for a FIFO: never read)
            f.seek(0, os.SEEK_END)
            end = f.tell()
            f.seek(max(0, end - TAIL_BYTES))
            data = f.read()
    except OSError:
        return LogTail(step.step, [], False, rel) if step.error else None
    lines = data.decode("utf-8", "replace").splitlines()
    cut = end > TAIL_BYTES
    if cut and len(lines) > 1:
        lines = lines[1:]  # the first line read may start mid-line
    elif cut and lines:  # one line longer than all that is read: its end is where the error is
        lines = ["…" + lines[0]]
    if len(lines) > TAIL_LINES:
        lines, cut = lines[-TAIL_LINES:], True
    return LogTail(step.step, [printable(line) for line in lines], cut, rel)


# --- the change against the previous job --------------------------------------------------
def previous_job(ws, job: Job) -> Optional[Job]:
    """The newest earlier job of the same experiment that did work (a no-op repeats the one
    before it, as `pipe metrics history` counts them)."""
    found = ws.jobs.jobs(job.experiment, limit=1, work_only=True, before=job.id)
    return found[0] if found else None


def _change(ws, job: Job, steps: list, metrics: dict) -> Optional[Change]:
    prev = previous_job(ws, job)
    if prev is None:
        return None
    params = [r for r in report_metrics.diff_rows(prev.params, job.params) if r["a"] != r["b"]]
    before = {s.step: s.outcome for s in ws.jobs.steps(prev.id)}
    now = {s.step: s.outcome for s in steps}
    moved = [(n, before.get(n), now.get(n)) for n in list(now) + [n for n in before if n not in now]]
    rows = report_metrics.diff_rows(ws.jobs.metrics(prev.id), metrics)
    changed = [r for r in rows if r["a"] != r["b"]]
    return Change(prev, params, [m for m in moved if m[1] != m[2]], changed, len(rows) - len(changed))


def default_name(job: Job, fmt: str) -> str:
    return f"report-{job.id}.{'md' if fmt == 'markdown' else 'html'}"
