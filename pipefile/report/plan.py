"""Renders a plan: `pipe status` as lines (rich on a terminal) and as JSON. The JSON is also
what `pipe serve` answers for a pipeline's status.

Reads Decisions and their Reasons; decides nothing."""

from __future__ import annotations

import sys

from ..outcomes import Outcome
from ..planner import Plan
from ..printable import printable
from ..rebuilder import Decision, Verdict
from .reasons import reason_json, reason_text
from .text import console, is_terminal

# The colour of each verdict (status) and outcome (run progress) on a terminal.
STATE_STYLE = {
    "fresh": "green",
    "run": "yellow",
    "restore": "cyan",
    "pending": "magenta",
    "stopped": "dim",
    Outcome.RAN: "yellow",
    Outcome.RESTORED: "cyan",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "dim",
    Outcome.WOULD_RUN: "yellow",
    Outcome.WOULD_RESTORE: "cyan",
    Outcome.LEFT_ON_REMOTE: "cyan",
}


def status_json(plan: Plan, stays_on_remote=frozenset(), groups=None) -> dict:
    """`stays_on_remote`: restorable steps a run would leave on the remote (not downloaded).
    `groups`: the expanded steps (matrix, sweep, foreach), listed with their tasks' counts."""
    extra = {}
    if groups:
        extra["groups"] = [
            {
                "name": g.name,
                "kind": g.kind,
                "tasks": 0 if _empty_map(g) else len(g.tasks),
                "states": _task_counts(plan, g),
                **({"items_after": g.after} if g.after and (g.pending or _stale(plan, g.after)) else {}),
            }
            for g in groups.values()
            if any(t in plan.decisions for t in g.tasks)
        ]
    return {
        **extra,
        "up_to_date": plan.up_to_date,
        "steps": [
            {
                "name": d.step,
                "state": d.verdict.value,
                "key": d.key.digest if d.key else None,
                **({"remote": d.remote} if d.remote else {}),
                **({"stays_on_remote": True} if d.step in stays_on_remote else {}),
                "reasons": [reason_json(r) for r in d.reasons],
            }
            for d in plan.decisions.values()
        ],
    }


def _status_messages(d: Decision, stays_on_remote) -> list:
    msgs = [reason_text(r) for r in d.reasons]
    if d.step in stays_on_remote:
        msgs.append("nothing asked for here reads it: stays on the remote, not downloaded")
    return msgs


# A group's state: that of its most urgent task (a trial that stays stopped is as quiet as a
# fresh one; its count comes after theirs).
_WORST = ("run", "pending", "restore", "fresh", "stopped")


def _task_counts(plan: Plan, group) -> dict:
    counts: dict = {}
    for t in group.tasks:
        d = plan.decisions.get(t)
        if d is not None:
            counts[d.verdict.value] = counts.get(d.verdict.value, 0) + 1
    if group.settled and f"{group.name}[{group.probe}]" in plan.decisions:
        counts["fresh"] = counts.get("fresh", 0) + len(group.settled)  # up to date by its map record
    return {v: counts[v] for v in ("fresh", "stopped", "restore", "pending", "run") if v in counts}


def _rows(plan: Plan, stays_on_remote, groups, tasks: bool) -> list:
    """(state, name, messages) per line: the tasks of an expanded step as one line with their
    counts (unless `tasks`), and a wait on many tasks of one step said once."""
    task_group = {t: g for g in (groups or {}).values() for t in g.tasks}
    rows, shown = [], set()
    for d in plan.decisions.values():
        g = task_group.get(d.step)
        if g is not None and not tasks:
            if g.name in shown:
                continue
            shown.add(g.name)
            counts = _task_counts(plan, g)
            state = next(v for v in _WORST if v in counts)
            n = sum(counts.values())
            said = ", ".join(f"{k} {v}" for v, k in counts.items())
            if g.pending:  # a map over a folder another step has not made yet
                rows.append(("pending", g.name, [f"items known after {g.after} runs"]))
                continue
            if _empty_map(g):  # one node makes its gathered folders empty
                rows.append((state, g.name, ["no items: an empty map, its gathered folders empty"]))
                continue
            if getattr(g, "after", "") and _stale(plan, g.after):
                said += f" (items known after {g.after} runs)"
            # a pipeline step's inner steps are steps, unless some are tasks of a matrix, sweep or foreach
            noun = "step" if g.kind == "pipeline" and not any(t.endswith("]") for t in g.tasks) else "task"
            rows.append((state, g.name, [f"{n} {noun}{'s' if n != 1 else ''}: {said}"]))
            continue
        msgs = _status_messages(d, stays_on_remote)
        if task_group and not tasks:
            msgs = _collapse_waits(d, msgs, task_group)
        rows.append((d.verdict.value, d.step, msgs))
    return rows


def _empty_map(g) -> bool:
    return g.kind == "foreach" and not g.pending and not getattr(g, "labels", ())


def _stale(plan: Plan, step: str) -> bool:
    d = plan.decisions.get(step)
    return d is not None and d.verdict != Verdict.FRESH


def _collapse_waits(d: Decision, msgs: list, task_group: dict) -> list:
    from ..rebuilder import UPSTREAM

    out, seen = [], set()
    for r, m in zip(d.reasons, msgs):
        g = task_group.get(r.subject) if r.kind == UPSTREAM else None
        if g is None:
            out.append(m)
        elif g.name not in seen:
            seen.add(g.name)
            n = sum(1 for x in d.reasons if x.kind == UPSTREAM and task_group.get(x.subject) is g)
            out.append(f"waits for {n} task{'s' if n != 1 else ''} of '{g.name}' to finish first")
    return out + msgs[len(d.reasons) :]


def render_status(plan: Plan, stream=None, stays_on_remote=frozenset(), groups=None, tasks: bool = False) -> None:
    """`groups`: the expanded steps; their tasks show as one line each unless `tasks`."""
    stream = stream or sys.stdout
    # A task's name and a reason may quote a matrix value or a param: one line each, no
    # control character of theirs reaches the terminal (ordinary names print as they are).
    rows = [(s, printable(n), [printable(m) for m in ms]) for s, n, ms in _rows(plan, stays_on_remote, groups, tasks)]
    width = max((len(n) for _, n, _ in rows), default=4)
    if is_terminal(stream):
        from rich.markup import escape

        con = console(stream)
        for state, name, msgs in rows:
            style = STATE_STYLE[state]
            con.print(f"[{style}]{state:<8}[/] {escape(name)}")
            for m in msgs:
                con.print(f"           [dim]{escape(m)}[/]")
        con.print(_plan_summary(plan, groups))
        return
    for state, name, msgs in rows:
        if msgs:
            stream.write(f"{state:<8} {name:<{width}}  {msgs[0]}\n")
        else:
            stream.write(f"{state:<8} {name}\n")
        for m in msgs[1:]:
            stream.write(f"{'':<8} {'':<{width}}  {m}\n")
    stream.write(_plan_summary(plan, groups) + "\n")


def _plan_summary(plan: Plan, groups=None) -> str:
    stopped = plan.count(Verdict.STOPPED)
    if plan.up_to_date:
        # A plan is of tasks: say so where a step stands for many (docs/concepts.md), counting a
        # map's items settled by its record as its status line does.
        expanded = [g for g in (groups or {}).values() if any(t.endswith("]") and t in plan.decisions for t in g.tasks)]
        settled = sum(len(g.settled) for g in expanded if g.settled and f"{g.name}[{g.probe}]" in plan.decisions)
        n = len(plan.decisions) + settled
        noun = "task" if expanded else "step"
        said = f"1 {noun} up to date" if n == 1 else f"all {n} {noun}s up to date"  # (not "1 step(s)")
        return said + (f" ({stopped} stopped early)" if stopped else "")
    parts = [
        f"{plan.count(v)} {v.value}"
        for v in (Verdict.RUN, Verdict.PENDING, Verdict.RESTORE, Verdict.FRESH, Verdict.STOPPED)
        if plan.count(v)
    ]
    return ", ".join(parts)
