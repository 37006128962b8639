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
    from ..sweeps import trial_ends, view, view_json

    graph = load(pipefile, params)
    v = view(graph, step, *trial_ends(graph, step))
    if as_json:
        dump_json(view_json(v))
    else:
        report_sweep.render(v)
