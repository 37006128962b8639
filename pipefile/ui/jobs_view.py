"""Jobs as the designer shows them: the list and one job as `pipe jobs --json` and `pipe
jobs show --json` print them, plus the job's graph coloured by its steps' outcomes (drawn
from the job's own Pipefile snapshot, so a job run before an edit shows what it ran), and
the two live views: the job's step events and a step's log, followed as they grow.

Every read of the job database goes through the JobStore of the calling thread's
workspace (`homes()`); the followers ask for it anew on each round, since a server
thread pool may run each round on another thread."""

from __future__ import annotations

import os
import time
from typing import Callable, Iterator, Optional

from .. import filenames
from ..errors import PipefileError
from ..outcomes import JobStatus
from .errors_view import Refusal
from .pipeline_view import dumps, gc_paused, graph_json, keepable, label_of

POLL = 0.2  # seconds between two looks at the database or a log file
# What a follower sends of the log already written when it starts: its last FOLLOW_BYTES, at
# most FOLLOW_LINES lines (a 50 MB log sent whole, one event a line, took a minute and froze
# the page). The rest is named in a first line; GET .../log (no follow) or the file has it.
FOLLOW_BYTES = 1 << 20
FOLLOW_LINES = 10_000
LINE_MAX = 64 * 1024  # a longer line is sent in pieces (a log with no newline is never held whole)
# A group's or job graph's state: that of its most urgent member.
_OUTCOME_ORDER = ("failed", "running", "pending", "ran", "restored", "fresh", "stopped", "skipped")


def list_jobs(jobs, experiment: Optional[str], status: Optional[str], limit: int) -> dict:
    """Every job, no-op ones too (each says `noop`), newest first, as `pipe jobs --all --json`."""
    limit = max(0, limit)
    found = jobs.jobs(experiment or None, status or None, limit + 1 if limit else 0)
    more = bool(limit) and len(found) > limit  # (one more asked for: is the list cut?)
    return {
        "jobs": [dict(j.to_json(), steps=jobs.outcome_counts(j.id)) for j in found[: limit or None]],
        "hidden": 0,
        # the words a job's status can be: the page's status filter offers these
        "statuses": [str(s.value) for s in JobStatus],
        # older jobs match too (the list is the newest `limit`); every experiment, for the filter
        "more": more,
        "experiments": jobs.experiments(),
    }


def resolve(ws, ref) -> object:
    try:
        return ws.jobs.resolve(str(ref))
    except PipefileError as e:
        raise Refusal(404, e.message, e.hint) from None


def step_json(s) -> dict:
    """A step record as `pipe jobs show --json` has it, plus when it started."""
    return dict(s.to_json(), started=round(s.finished - s.seconds, 3) if s.finished else None)


# (job, step) -> when this server first saw the step's log: a log's mtime is its last
# write, so a running step's start is taken once, at first sight (exact once it is recorded).
_FIRST_SEEN: dict = {}


def running_steps(ws, job, recorded: set) -> list:
    """Steps of a running job that have a log but no record yet: running now. Their
    `started` is approximate (when the log was first seen written) until they end."""
    if job.status != JobStatus.RUNNING:
        return []
    folder = ws.job_dir(job.id)
    out = []
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            if f.endswith(".log"):
                name = filenames.name_of(
                    folder, os.path.relpath(os.path.join(dirpath, f[:-4]), folder).replace(os.sep, "/")
                )
                if name not in recorded:
                    started = _FIRST_SEEN.get((job.id, name))
                    if started is None:
                        try:
                            started = os.stat(os.path.join(dirpath, f)).st_mtime
                        except FileNotFoundError:
                            continue
                        if len(_FIRST_SEEN) > 100_000:  # a long-lived server: forget old jobs' steps
                            _FIRST_SEEN.clear()
                        _FIRST_SEEN[(job.id, name)] = started
                    out.append({"step": name, "outcome": "running", "status": "running", "started": started})
    return out


def show_job(ws, ref) -> dict:
    with gc_paused():  # (a job of thousands of tasks: many objects made, none of them cycles)
        return _show_job(ws, ref)


def _show_job(ws, ref) -> dict:
    job = resolve(ws, ref)
    steps = ws.jobs.steps(job.id)
    doc = dict(job.to_json(), steps=[step_json(s) for s in steps], metrics=ws.jobs.metrics(job.id))
    recorded = {s.step for s in steps}
    running = running_steps(ws, job, recorded)
    doc["running"] = running
    doc["graph"] = job_graph(ws, job, steps, running)
    return doc


def _job_pipefile_graph(ws, job):
    """The graph of the job's Pipefile snapshot with its params, or None if it cannot be
    built now (snapshot gone, or it reads what no longer exists)."""
    global _kept_job_graph
    from .. import artifacts
    from .. import graph as graph_mod
    from .. import load as loader
    from ..load.pymodule import is_module_ref
    from ..speccache import sources_unchanged

    if not job.pipefile_digest or not ws.store.has(job.pipefile_digest):
        return None
    try:
        data = ws.store.read(job.pipefile_digest)
        pf, errors = loader.load_lenient(os.path.join(ws.root, job.pipefile), data)
        values = loader.resolve_params(pf, dict(job.params), errors)
        bound = artifacts.resolve_artifacts(pf, errors)
        if errors:
            return None
        made_of = repr(sorted(values.items())), repr(sorted(map(repr, bound.items())))
        key = (ws.root, job.pipefile, job.pipefile_digest, made_of)
        kept_key, kept = _kept_job_graph
        if kept_key == key and sources_unchanged(kept.pipefile):
            return kept
        graph = graph_mod.build(pf, values, check_exists=False, artifacts=bound)
        # (a Python pipeline's graph depends on modules it imports, which no source lists: never kept)
        kept_too = keepable(graph) and not is_module_ref(job.pipefile)
        _kept_job_graph = (key, graph) if kept_too else (None, None)
        return graph
    except (PipefileError, OSError, ValueError):
        return None


# The last job graph built, by what built it: a running job's page reloads as its steps end,
# and a job of thousands of tasks took about half a second of the server's time each time.
# Kept as the pipeline's graph is (pipeline_view.GraphCache): while the files it read hold
# what they held, never for one that binds artifact versions or maps a folder. Replaced
# whole (requests run on threads).
_kept_job_graph: tuple = (None, None)


def job_graph(ws, job, steps: list, running: list) -> dict:
    """Nodes and edges as /api/pipeline's, `state` each step's outcome in this job:
    ran, restored, fresh, failed, skipped, running, or pending (not reached yet)."""
    outcome = {s.step: s for s in steps}
    live = {r["step"]: r for r in running}
    graph = _job_pipefile_graph(ws, job)
    if graph is not None and job.pipefile.endswith(".py"):
        from ..clone import ran_otherwise

        if ran_otherwise(graph.nodes, steps):  # (its modules, as they are today, build other commands)
            graph = None
    doc = graph_json(graph) if graph is not None else None
    if doc is not None and not outcome.keys() <= {n["name"] for n in doc["nodes"]}:
        # (built now, it lacks a step the job ran: a Python pipeline's module is run as it is
        # today, a foreach maps the folder as it is today): the records are what the job did
        doc = None
    if doc is None:  # the steps it recorded, linked where one read a path another wrote
        doc = {"nodes": [], "edges": _record_edges(steps)}
        for s in steps:
            doc["nodes"].append(
                {
                    "name": s.step,
                    "kind": "step",
                    "label": label_of(s.step),
                    "component": None,
                    "description": None,
                    "inputs": [
                        {"name": k, "type": v.get("kind"), "optional": False, "binding": v.get("path")}
                        for k, v in s.inputs.items()
                        if not k.startswith("code:")
                    ],
                    "outputs": [
                        {"name": k, "type": v.get("kind"), "path": v.get("path")} for k, v in s.outputs.items()
                    ],
                    "params": {},
                    "environment": s.environment,
                    "resources": {},
                    "state": "unknown",
                    "reasons": [],
                    "tasks": None,
                    "children": None,
                    "group": None,
                    "line": None,
                }
            )
    by_name = {n["name"]: n for n in doc["nodes"]}
    for n in doc["nodes"]:
        if n["kind"] != "step":
            continue
        s = outcome.get(n["name"])
        if s is not None:
            n.update(state=s.outcome, seconds=s.seconds, started=round(s.finished - s.seconds, 3), reasons=[])
            if s.error:
                n["reasons"] = [s.error]
        elif n["name"] in live:
            n.update(state="running", seconds=None, started=live[n["name"]]["started"], reasons=[])
        else:
            n.update(state="pending", seconds=None, started=None, reasons=[])
    for n in doc["nodes"]:
        if n["kind"] in ("group", "pipeline") and n.get("children"):
            kids = [by_name[c] for c in n["children"] if c in by_name]
            counts: dict = {}
            for k in kids:
                counts[k["state"]] = counts.get(k["state"], 0) + 1
            n["state"] = next((o for o in _OUTCOME_ORDER if o in counts), "pending")
            n["reasons"] = []
            if n["kind"] == "group":
                n["tasks"] = {"count": len(kids), "states": counts}
            done = [k for k in kids if k.get("started") is not None]
            n["started"] = min((k["started"] for k in done), default=None)
            n["seconds"] = sum(k.get("seconds") or 0 for k in kids) if done else None
    return doc


def _record_edges(steps: list) -> list:
    writers = {}
    for s in steps:
        for oname, o in s.outputs.items():
            if o.get("path"):
                writers[o["path"].rstrip("/")] = (s.step, oname)
    edges = []
    for s in steps:
        for iname, i in s.inputs.items():
            w = writers.get(str(i.get("path") or "").rstrip("/"))
            if w is not None and w[0] != s.step:
                edges.append({"from": w[0], "from_port": w[1], "to": s.step, "to_port": iname})
    return edges


# --- following a job -----------------------------------------------------------------------------
def sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()


def follow_events(homes: Callable, job_id: int, stop_after: float = 24 * 3600.0):
    """`event: step` each time a step starts running or ends, then `event: end` with the
    job's status. A finished job gives its steps at once, then the end."""
    sent: dict = {}
    deadline = time.monotonic() + stop_after
    while True:
        ws = homes()
        job = ws.jobs.get(job_id)
        steps = ws.jobs.steps(job_id)
        recorded = {s.step for s in steps}
        for r in running_steps(ws, job, recorded):
            if sent.get(r["step"]) != "running":
                sent[r["step"]] = "running"
                yield sse("step", r)
        for s in steps:
            if sent.get(s.step) != s.outcome:
                sent[s.step] = s.outcome
                yield sse("step", dict(step_json(s), status="done"))
        if job.status != JobStatus.RUNNING or time.monotonic() > deadline:
            yield sse("end", {"job": job_id, "status": job.status})
            return
        yield b": waiting\n\n"  # a comment: keeps the connection (and a dead client) noticed
        time.sleep(POLL)


def log_path(ws, job, step: str) -> str:
    """The log of `step` in `job`; refused for a name that leaves the job's folder, and,
    once the job is over, for one that is no step of it (while it runs, a step that has
    not started yet has no log: following it waits for it)."""
    folder = os.path.realpath(ws.job_dir(job.id))
    recorded = {s.step for s in ws.jobs.steps(job.id)}
    # (a NUL is in no task's name, and no path may hold one: realpath raises ValueError)
    path = "" if "\0" in step else os.path.realpath(os.path.join(folder, filenames.log_file(step)))
    known = step in recorded or os.path.isfile(path) or job.status == JobStatus.RUNNING
    if not path.startswith(folder + os.sep) or not known:
        from ..errors import did_you_mean

        raise Refusal(404, f"job {job.id} has no task '{step}'", did_you_mean(step, recorded, "task"))
    return path


def read_log(path: str, limit: int = 4 * 2**20) -> str:
    """The log's text (its last `limit` bytes when longer)."""
    from ..filehash import NotARegularFile, open_regular

    try:
        with open_regular(path) as f:  # (a FIFO or a device there: no log, never read)
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                f.seek(size - limit)
            return f.read().decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):
        return ""


def follow_log(homes: Callable, job_id: int, step: str, path: str):
    """`event: line` per line of the log as it grows, then `event: end` once the step is
    over (recorded, or the job ended) and nothing more came. A log already long when it is
    first seen, or one that grew more than FOLLOW_BYTES past what was sent, goes on from its
    tail (_tail_start) after a line that says what was left out. Each round's lines are sent
    as one write (one a line kept up with 10,000 lines a second: a chatty step's log fell
    minutes behind)."""
    from ..filehash import NotARegularFile, open_regular

    offset, partial, started = 0, b"", False  # started: the log was seen (its tail taken)
    while True:
        ws = homes()
        over = ws.jobs.get(job_id).status != JobStatus.RUNNING or ws.jobs.step_record(job_id, step) is not None
        data, out = b"", []
        try:
            with open_regular(path) as f:
                if not started or os.fstat(f.fileno()).st_size - offset > FOLLOW_BYTES:
                    started, start = True, _tail_start(f)
                    if start > offset:
                        shown = os.path.relpath(path, os.path.realpath(ws.root))
                        left = _size(start - offset + len(partial))
                        out.append(
                            sse("line", {"text": f"[pipe ui: {left} of this log not shown here: {shown} has it whole]"})
                        )
                        offset, partial = start, b""
                f.seek(offset)
                data = f.read(FOLLOW_BYTES)
        except (FileNotFoundError, NotADirectoryError, NotARegularFile):
            pass
        offset += len(data)
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        if not data and over and partial:
            lines.append(partial)
            partial = b""
        while len(partial) > LINE_MAX:  # (a line that long is sent in pieces, never held whole)
            cut = _char_start(partial, LINE_MAX)
            lines.append(partial[:cut])
            partial = partial[cut:]
        for line in lines:
            for piece in _pieces(line):
                out.append(sse("line", {"text": piece.decode("utf-8", "replace")}))
        if not data and over:
            out.append(sse("end", {"job": job_id, "step": step}))
            yield b"".join(out)
            return
        if out:
            yield b"".join(out)
        if not data:
            yield b": waiting\n\n"
            time.sleep(POLL)


def _tail_start(f) -> int:
    """Where following the open log `f` begins: 0, or for a log over FOLLOW_BYTES or
    FOLLOW_LINES lines the start of its last lines within both."""
    size = os.fstat(f.fileno()).st_size
    start = max(0, size - FOLLOW_BYTES)
    f.seek(start)
    tail = f.read(size - start)
    cut = 0
    if start:  # (the first line of the tail is a part of one: begin after it, if another follows)
        cut = tail.find(b"\n") + 1
        if cut in (0, len(tail)):  # (none does: the tail is the end of one long line, shown from within it)
            cut = _char_start(tail, 0, forward=True)
    ends = tail.count(b"\n", cut)
    if ends > FOLLOW_LINES:  # (after the newline FOLLOW_LINES + 1 from the end)
        pos = len(tail)
        for _ in range(FOLLOW_LINES + 1):
            pos = tail.rindex(b"\n", cut, pos)
        cut = pos + 1
    return start + cut


def _pieces(line: bytes) -> Iterator[bytes]:
    """`line` in pieces of at most LINE_MAX bytes, each cut between two UTF-8 characters."""
    at = 0
    while len(line) - at > LINE_MAX:
        cut = _char_start(line, at + LINE_MAX)
        yield line[at:cut]
        at = cut
    yield line[at:]


def _char_start(data: bytes, at: int, forward: bool = False) -> int:
    """`at`, or the start of the UTF-8 character it falls inside (up to 3 bytes before it, or
    after it if `forward`): a cut there splits no character (each half showed U+FFFD). Bytes
    that are not UTF-8 are cut at `at`."""
    for step in range(4):
        i = at + step if forward else at - step
        if not 0 <= i < len(data) or data[i] & 0xC0 != 0x80:  # (not inside a character)
            return max(0, min(i, len(data)))
    return at


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"
