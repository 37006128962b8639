"""Renders a sweep's trials (`pipe sweep show`): one row per trial, best first."""

from __future__ import annotations

import sys

from ..printable import printable
from ..template import format_value
from .metrics import fmt_number


def render(v, stream=None) -> None:
    stream = stream or sys.stdout
    names = list(dict.fromkeys(n for t in v.trials for n in t.inputs))  # (a trial not proposed yet has none)
    head = ["trial"] + [printable(n) for n in names] + ([printable(f"{v.metric} ({v.goal})")] if v.metric else [])
    rows = []
    for t in v.trials:
        # (a choice may be any string: an escape or a line break would redraw or forge a row)
        row = [t.label] + [printable(format_value(t.inputs[n])) if n in t.inputs else "-" for n in names]
        if v.metric:
            # (a trial whose file gives no finite number (NaN, inf, text) is built: not "-", as if to run)
            missing = _stopped(t) if t.stopped else "failed" if t.failed else "no number" if t.problem else "-"
            row.append(missing if t.value is None else fmt_number(t.value))
        rows.append(row)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        stream.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    if v.best is not None:
        stream.write(f"best: {v.best.task}\n")
    elif v.metric and v.trials and all(t.failed or t.stopped for t in v.trials):
        # (running the sweep again is no fix: each one ended, without a result)
        stream.write("best: none (every trial failed or was stopped early, as said below)\n")
    elif v.metric and v.trials and all(t.failed or t.stopped or t.problem for t in v.trials):
        # (each wrote its file, but none a finite objective (NaN, inf): "run the sweep" was no fix)
        stream.write(
            printable(
                f"best: none (no trial gives '{v.metric}' as a finite number, as said below)"
                if all(t.problem for t in v.trials)
                else f"best: none (each trial failed, was stopped early or gives no finite '{v.metric}', as said below)"
            )
            + "\n"
        )
    elif v.metric and any(t.problem for t in v.trials):
        stream.write(
            printable(
                f"best: not known yet (no trial built so far gives '{v.metric}' as a finite number, as said below; "
                "the others have not run): run the sweep"
            )
            + "\n"
        )
    elif v.metric:
        stream.write("best: not known yet (no trial has written its objective): run the sweep\n")
    for t in v.trials:
        if t.problem:
            stream.write(printable(f"warning: {t.task}: {t.problem}") + "\n")
    for t in v.trials:
        if t.stopped and t.value is None:
            stream.write(printable(f"{t.task}: {t.stopped}") + "\n")
        elif t.failed:
            stream.write(printable(f"{t.task}: {t.failed}") + "\n")


def _stopped(t) -> str:
    """`stopped`, with the step it was judged at and its running average there when kept."""
    stop = t.stop or {}
    if isinstance(stop.get("step"), int) and isinstance(stop.get("value"), (int, float)):
        return f"stopped at step {stop['step']} ({stop['value']:g})"
    return "stopped"
