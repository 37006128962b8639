"""Renders plans, decisions, progress and failures: rich on a terminal, plain lines otherwise.

Everything here reads the data objects of the lower layers (Decision, Reason,
StepResult) and writes text; nothing here decides anything. Progress and
diagnostics go to stderr, answers (status tables, JSON) to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Optional

from .executor import (FAILED, FRESH, LEFT_ON_REMOTE, RAN, RESTORED, SKIPPED, WOULD_RESTORE, WOULD_RUN,
                       StepResult, format_seconds)
from .graph import IN_PATH, Graph
from .planner import Plan
from .rebuilder import Decision, Verdict
from .scheduler import RunSummary

LOG_TAIL_LINES = 20
LOG_LINE_MAX = 400

_STATE_STYLE = {
    "fresh": "green",
    "run": "yellow",
    "restore": "cyan",
    "pending": "magenta",
    RAN: "yellow",
    RESTORED: "cyan",
    FAILED: "bold red",
    SKIPPED: "dim",
    WOULD_RUN: "yellow",
    WOULD_RESTORE: "cyan",
    LEFT_ON_REMOTE: "cyan",
}


def is_terminal(stream) -> bool:
    if os.environ.get("PIPE_PLAIN") or os.environ.get("CI"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _console(stream):
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=True)


# --- status ----------------------------------------------------------------------------
def status_json(plan: Plan, stays_on_remote=frozenset()) -> dict:
    """`stays_on_remote`: restorable steps a run would leave on the remote (not downloaded)."""
    return {
        "up_to_date": plan.up_to_date,
        "steps": [
            {
                "name": d.step,
                "state": d.verdict.value,
                "key": d.key.digest if d.key else None,
                **({"remote": d.remote} if d.remote else {}),
                **({"stays_on_remote": True} if d.step in stays_on_remote else {}),
                "reasons": [r.to_json() for r in d.reasons],
            }
            for d in plan.decisions.values()
        ],
    }


def _status_messages(d: Decision, stays_on_remote) -> list:
    msgs = [r.message() for r in d.reasons]
    if d.step in stays_on_remote:
        msgs.append("nothing asked for here reads it: stays on the remote, not downloaded")
    return msgs


def render_status(plan: Plan, stream=None, stays_on_remote=frozenset()) -> None:
    stream = stream or sys.stdout
    width = max((len(n) for n in plan.decisions), default=4)
    if is_terminal(stream):
        from rich.markup import escape

        con = _console(stream)
        for d in plan.decisions.values():
            style = _STATE_STYLE[d.verdict.value]
            con.print(f"[{style}]{d.verdict.value:<8}[/] {escape(d.step)}")
            for m in _status_messages(d, stays_on_remote):
                con.print(f"           [dim]{escape(m)}[/]")
        con.print(_plan_summary(plan))
        return
    for d in plan.decisions.values():
        msgs = _status_messages(d, stays_on_remote)
        if msgs:
            stream.write(f"{d.verdict.value:<8} {d.step:<{width}}  {msgs[0]}\n")
        else:
            stream.write(f"{d.verdict.value:<8} {d.step}\n")
        for m in msgs[1:]:
            stream.write(f"{'':<8} {'':<{width}}  {m}\n")
    stream.write(_plan_summary(plan) + "\n")


def _plan_summary(plan: Plan) -> str:
    if plan.up_to_date:
        return f"all {len(plan.decisions)} step(s) up to date"
    parts = [f"{plan.count(v)} {v.value}" for v in (Verdict.RUN, Verdict.PENDING, Verdict.RESTORE, Verdict.FRESH)
             if plan.count(v)]
    return ", ".join(parts)


# --- run progress ----------------------------------------------------------------------
class RunReporter:
    """Scheduler events -> progress lines; a live view of running steps on a terminal."""

    def __init__(self, total: int, stream=None, quiet: bool = False, explain: bool = False, plain: bool = False):
        """plain: lines only, never the live view, even on a terminal (`pipe run --ci`)."""
        self.stream = stream or sys.stderr
        self.total = total
        self.quiet = quiet
        self.explain = explain
        self.tty = is_terminal(self.stream) and not quiet and not plain
        self.running: dict = {}
        self.done = 0
        self.lock = threading.Lock()
        self.live = None
        if self.tty:
            from rich.live import Live

            self.console = _console(self.stream)
            self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True,
                             get_renderable=self._render)
            self.live.start()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _render(self):
        from rich.markup import escape
        from rich.spinner import Spinner
        from rich.table import Table

        t = Table.grid(padding=(0, 1))
        now = time.monotonic()
        for name, (verb, t0) in list(self.running.items()):
            t.add_row(Spinner("dots"), f"{verb} {escape(name)}", f"[dim]{format_seconds(now - t0)}[/]")
        t.add_row("", f"[dim]{self.done}/{self.total} steps done[/]", "")
        return t

    def _line(self, text: str, style: str = "") -> None:
        if self.quiet:
            return
        if self.tty:
            from rich.markup import escape

            self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        self._line(text, "bold")

    def started(self, name: str, decision: Decision) -> None:
        verb = "restore" if decision.verdict == Verdict.RESTORE else "run"
        with self.lock:
            self.running[name] = (verb, time.monotonic())
        if not self.tty:
            self._line(f"{verb:<8} {name}")
        if self.explain:
            for r in decision.reasons:
                self._line(f"         {name}: {r.message()}", "dim")

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            self.done += 1
        for note in result.notes:
            self._line(f"note: {result.name}: {note}", "yellow")
        o = result.outcome
        if o == FRESH and not (decision and decision.record):
            return
        label = {RAN: "ok", RESTORED: "restored", FRESH: "fresh", FAILED: "FAILED", SKIPPED: "skipped",
                 WOULD_RUN: "would run", WOULD_RESTORE: "would restore", LEFT_ON_REMOTE: "remote"}[o]
        gpus = f", GPU {','.join(result.gpus)}" if result.gpus else ""
        extra = f" ({format_seconds(result.seconds)}{gpus})" if o in (RAN, RESTORED, FAILED) else ""
        if o == SKIPPED and result.error:
            extra = f" ({result.error})"
        if o == WOULD_RUN and result.command:
            extra = f": {result.command}"
        self._line(f"{label:<8} {result.name}{extra}", _STATE_STYLE.get(o, ""))


def log_tail(root: str, log_rel: Optional[str], lines: int = LOG_TAIL_LINES) -> list:
    if not log_rel:
        return []
    try:
        with open(os.path.join(root, log_rel), "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln if len(ln) <= LOG_LINE_MAX else ln[:LOG_LINE_MAX] + " [...]" for ln in data.splitlines()[-lines:]]


def failure_text(result: StepResult, root: str) -> str:
    took = format_seconds(result.seconds)
    err = result.error or "failed"
    where = []
    if result.environment:
        where.append(f"env {result.environment}")
    if result.gpus:
        where.append(f"GPU {','.join(result.gpus)}")
    took += f" ({', '.join(where)})" if where else ""
    if err.startswith(("exited with", "was killed", "interrupted")):
        head = f"step '{result.name}' {err} after {took}"
    else:
        head = f"step '{result.name}' failed after {took}: {err}"
    out = [head]
    if result.command:
        out.append(f"  command: {result.command}")
    tail = log_tail(root, result.log)
    if result.log:
        out.append(f"  log: {result.log}" + (f" (last {len(tail)} lines below)" if tail else " (empty)"))
    out += [f"    {line}" for line in tail]
    return "\n".join(out)


def render_summary(summary: RunSummary, root: str, stream=None) -> None:
    stream = stream or sys.stderr
    for r in summary.failed:
        stream.write(failure_text(r, root) + "\n")
    counts: dict = {}
    for r in summary.results.values():
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    order = (RAN, RESTORED, LEFT_ON_REMOTE, FRESH, FAILED, SKIPPED, WOULD_RUN, WOULD_RESTORE)
    parts = [f"{counts[o]} {o}" for o in order if counts.get(o)]
    status = summary.status
    stream.write(f"{status}: {', '.join(parts) or 'nothing to do'} in {format_seconds(summary.seconds)}\n")
    stream.flush()


def run_json(summary: RunSummary) -> dict:
    return {
        "status": summary.status,
        "steps": [
            {
                "name": r.name,
                "outcome": r.outcome,
                "seconds": round(r.seconds, 3),
                **({"error": r.error} if r.error else {}),
                **({"log": r.log} if r.log else {}),
                **({"environment": r.environment} if r.environment else {}),
                **({"gpus": list(r.gpus), "gpu_model": r.gpu_model} if r.gpus else {}),
            }
            for r in summary.results.values()
        ],
    }


CI_SUMMARY_FILE = "pipe-summary.json"
CI_SUMMARY_VERSION = 1


def ci_summary(summary: RunSummary, exit_code: int, job: Optional[int], remote: Optional[dict],
               push: Optional[dict]) -> dict:
    """The JSON summary of `pipe run --ci` / `--summary FILE` (layout in docs/ci.md)."""
    counts: dict = {}
    for r in summary.results.values():
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    steps = []
    for r in summary.results.values():
        d = summary.decisions.get(r.name)
        steps.append({
            "name": r.name, "outcome": r.outcome, "seconds": round(r.seconds, 3),
            "key": d.key.digest if d is not None and d.key is not None else None,
            "reasons": [x.to_json() for x in d.reasons] if d is not None else [],
            **({"remote": d.remote} if d is not None and d.remote else {}),
            **({"error": r.error} if r.error else {}),
            **({"log": r.log} if r.log else {}),
            **({"notes": list(r.notes)} if r.notes else {}),
        })
    return {"version": CI_SUMMARY_VERSION, "status": summary.status, "exit_code": exit_code, "job": job,
            "seconds": round(summary.seconds, 3), "counts": counts, "remote": remote, "push": push, "steps": steps}


def write_json_file(path: str, obj) -> None:
    """Write JSON whole or not at all (temp file + rename), for CI systems that read it."""
    import tempfile

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tmp-summary-")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def dump_json(obj, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(obj, indent=2) + "\n")
    stream.flush()


# --- dag -------------------------------------------------------------------------------
def _dag_edges(graph: Graph):
    """(source, target, label) edges, with assets and plain source paths as sources."""
    edges = []
    sources = {}
    for node in graph.nodes.values():
        for inp in node.inputs.values():
            if inp.kind != IN_PATH:
                continue
            prod = graph.producers.get(inp.path)
            if prod:
                edges.append((prod[0], node.name, inp.path))
        for dep in node.deps:
            if not any(e[0] == dep and e[1] == node.name for e in edges):
                edges.append((dep, node.name, ""))
        for p in node.read_paths():
            if p not in graph.producers and not any(p.startswith(o + "/") or o.startswith(p + "/")
                                                     for o in graph.producers):
                sources.setdefault(p, []).append(node.name)
    return edges, sources


def render_dag(graph: Graph, fmt: str = "text") -> str:
    edges, sources = _dag_edges(graph)
    asset_names = {a.path: a.name for a in graph.pipefile.assets.values()}
    if fmt == "mermaid":
        ids = {n: f"s{i}" for i, n in enumerate(graph.nodes)}
        lines = ["graph TD"]
        for n, i in ids.items():
            lines.append(f'  {i}["{n}"]')
        for j, (p, users) in enumerate(sorted(sources.items())):
            label = asset_names.get(p, p)
            lines.append(f'  d{j}[("{label}")]')
            for u in users:
                lines.append(f"  d{j} --> {ids[u]}")
        for a, b, label in edges:
            lines.append(f"  {ids[a]} -->|{label}| {ids[b]}" if label else f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines) + "\n"
    if fmt == "dot":
        def q(text: str) -> str:
            return json.dumps(text, ensure_ascii=False)  # Graphviz reads UTF-8, not \u escapes

        lines = ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"]
        for n in graph.nodes:
            lines.append(f"  {q(n)};")
        for p, users in sorted(sources.items()):
            label = asset_names.get(p, p)
            lines.append(f"  {q('path:' + p)} [shape=ellipse, label={q(label)}];")
            for u in users:
                lines.append(f"  {q('path:' + p)} -> {q(u)};")
        for a, b, label in edges:
            lines.append(f"  {q(a)} -> {q(b)}" + (f" [label={q(label)}]" if label else "") + ";")
        lines.append("}")
        return "\n".join(lines) + "\n"
    out = []
    for node in graph.nodes.values():
        deps = ", ".join(node.deps)
        srcs = [asset_names.get(p, p) for p, users in sources.items() if node.name in users]
        left = " <- " + ", ".join(filter(None, [deps, ", ".join(srcs)])) if (deps or srcs) else ""
        out.append(f"{node.name}{left}")
        for o in node.outputs.values():
            out.append(f"    -> {o.path}")
    return "\n".join(out) + "\n"
