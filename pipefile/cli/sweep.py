"""`pipe sweep show STEP`: a sweep's trials with their inputs and objective, best first."""

from __future__ import annotations

import click

from ..report import sweep as report_sweep
from ..report.text import dump_json
from ..session import load
from .guard import guard
from .options import CONTEXT, file_option, param_option


@click.group(context_settings=CONTEXT)
def sweep():
    """The trials of a step with `sweep:`."""


@sweep.command(context_settings=CONTEXT)
@click.argument("step")
@file_option
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def show(step, pipefile, params, as_json):
    """The trials of sweep STEP: each one's inputs and objective, best first.

    The objective is read from each trial's metrics file in the workspace (what the last
    run left); a trial not built yet shows '-'."""
    from ..sweeps import view, view_json

    graph = load(pipefile, params)
    group = graph.groups.get(step)
    v = view(graph, step, _stopped(pipefile, set(group.tasks)) if group is not None else {})
    if as_json:
        dump_json(view_json(v))
    else:
        report_sweep.render(v)


def _stopped(pipefile, tasks: set) -> dict:
    """task -> why early termination stopped it, for the trials whose last job that ran them
    (newest first, the last 50 jobs with work) stopped them."""
    import os

    from .options import open_workspace, workspace_root

    if not os.path.isdir(os.path.join(workspace_root(pipefile), ".pipe")):
        return {}
    ws = open_workspace(pipefile)
    try:
        last: dict = {}
        for job in ws.jobs.jobs(limit=50, work_only=True):
            for s in ws.jobs.steps(job.id):
                if s.step in tasks and s.step not in last and s.outcome in ("ran", "restored", "stopped", "failed"):
                    last[s.step] = s
            if len(last) == len(tasks):
                break
    finally:
        ws.close()
    return {t: s.error or "stopped early" for t, s in last.items() if s.outcome == "stopped"}
