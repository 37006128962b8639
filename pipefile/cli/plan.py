"""`pipe status`, `pipe validate`, `pipe dag`: the pipeline as declared and as it would run,
without running anything, and without writing anything in the workspace (status is a
read-only session: it plans as `pipe run` would)."""

from __future__ import annotations

import re

import click

from ..report.dag import render_dag
from ..report.text import plural
from ..session import load
from . import flags
from .guard import guard
from .options import (
    CONTEXT,
    azureml_options,
    echo_notes,
    file_option,
    no_remote_flag,
    param_option,
    remote_flag,
    table_option,
)
from .status_action import status_command


@click.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@azureml_options
@param_option
@table_option(flags.STATUS_JSON)
@remote_flag
@no_remote_flag
@table_option(flags.CHECK)
@table_option(flags.STATUS_GPUS)
@table_option(flags.TASKS)
@guard
def status(**options):
    """Say, per step, whether it is fresh, must run (and why), will be restored, or waits.

    As `pipe run` decides: with a default remote (or --remote), steps the remote's run cache
    has show as restore (from that remote); nothing is downloaded. --no-remote: the local
    plan only, as `pipe run --no-remote` would follow it."""
    status_command(**options)


@click.command(context_settings=CONTEXT)
@file_option
@azureml_options
@param_option
@guard
def validate(pipefile, params):
    """Check the Pipefile and report every problem at once (exit 2 if any)."""
    graph = load(pipefile, params)
    pf = graph.pipefile
    echo_notes(pf.warnings, "warning")
    from ..load import overridden_params, quoted_placeholders

    echo_notes(overridden_params(params), "warning")

    echo_notes(quoted_placeholders(pf), "info")
    # the steps the file declares; the tasks they expand into as well when there are more (a
    # matrix's, a sweep's and its .best, a pipeline step's inner steps: they were counted as
    # "steps", 1 step of 3 tasks said "3 steps"). A task is named after its step: STEP[..],
    # STEP.best, STEP/INNER (a step's own name holds none of [ . /).
    steps = len({re.split(r"[\[./]", name, maxsplit=1)[0] for name in pf.steps})
    tasks = [(len(graph.nodes), "task")] if len(graph.nodes) != steps else []
    counts = ", ".join(
        plural(n, what) for n, what in [(steps, "step"), *tasks, (len(pf.params), "param"), (len(pf.assets), "asset")]
    )
    click.echo(f"{pf.display_path}: ok ({counts})")


@click.command(context_settings=CONTEXT)
@file_option
@azureml_options
@param_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
    help="How to draw it: text (each step with what it reads and writes), a Mermaid flowchart or a Graphviz graph.",
)
@click.option("--expand", is_flag=True, help="Draw the inner steps of pipeline steps (else one box each).")
@guard
def dag(pipefile, params, fmt, expand):
    """Draw the pipeline's graph."""
    graph = load(pipefile, params)
    click.echo(render_dag(graph, fmt, expand), nl=False)
