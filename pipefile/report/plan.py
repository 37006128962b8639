"""Renders a plan: `pipe status` as lines (rich on a terminal) and as JSON. The JSON is also
what `pipe serve` answers for a pipeline's status.

Reads Decisions and their Reasons; decides nothing."""

from __future__ import annotations

import sys

from ..outcomes import Outcome
from ..planner import Plan
from ..rebuilder import Decision, Verdict
from .reasons import reason_json, reason_text
from .text import console, is_terminal

# The colour of each verdict (status) and outcome (run progress) on a terminal.
STATE_STYLE = {
    "fresh": "green",
    "run": "yellow",
    "restore": "cyan",
    "pending": "magenta",
    Outcome.RAN: "yellow",
    Outcome.RESTORED: "cyan",
    Outcome.FAILED: "bold red",
    Outcome.SKIPPED: "dim",
    Outcome.WOULD_RUN: "yellow",
    Outcome.WOULD_RESTORE: "cyan",
    Outcome.LEFT_ON_REMOTE: "cyan",
}


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


def render_status(plan: Plan, stream=None, stays_on_remote=frozenset()) -> None:
    stream = stream or sys.stdout
    width = max((len(n) for n in plan.decisions), default=4)
    if is_terminal(stream):
        from rich.markup import escape

        con = console(stream)
        for d in plan.decisions.values():
            style = STATE_STYLE[d.verdict.value]
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
    parts = [
        f"{plan.count(v)} {v.value}"
        for v in (Verdict.RUN, Verdict.PENDING, Verdict.RESTORE, Verdict.FRESH)
        if plan.count(v)
    ]
    return ", ".join(parts)
