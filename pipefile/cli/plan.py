"""`pipe status`, `pipe validate`, `pipe dag`: the pipeline as declared and as it would run,
without running anything, and without writing anything in the workspace (status is a
read-only session: it plans as `pipe run` would)."""

from __future__ import annotations

import sys

import click

from ..outcomes import ExitCode
from ..report.dag import render_dag
from ..report.plan import render_status, status_json
from ..report.text import dump_json, plural
from ..session import Session, load
from .guard import guard
from .options import (
    CONTEXT,
    azureml_options,
    chosen_remote,
    echo_notes,
    file_option,
    no_remote_flag,
    param_option,
    remote_flag,
)


@click.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@azureml_options
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@remote_flag
@no_remote_flag
@click.option("--check", is_flag=True, help="Exit 1 unless every step is fresh (the committed outputs are up to date).")
@click.option(
    "--gpus",
    "gpus",
    metavar="IDS",
    help="The GPUs to plan for, as with `pipe run --gpus` (matters for key_includes: [gpu_model]).",
)
@click.option("--tasks", "tasks", is_flag=True, help="List each task of a matrix, sweep or foreach on its own line.")
@guard
def status(targets, pipefile, params, as_json, remote_name, no_remote, check, gpus, tasks):
    """Say, per step, whether it is fresh, must run (and why), will be restored, or waits.

    As `pipe run` decides: with a default remote (or --remote), steps the remote's run cache
    has show as restore (from that remote); nothing is downloaded. --no-remote: the local
    plan only, as `pipe run --no-remote` would follow it."""
    graph = load(pipefile, params, settle=not (tasks or as_json) and not any("[" in t for t in targets))
    spec = chosen_remote(graph, remote_name, no_remote)

    def remote_failed(e) -> None:
        click.echo(f"warning: {e.render()}\n  showing the local plan", err=True)

    from ..outpaths import per_task_records

    session = Session(graph, writable=False, remote=spec, gpus=gpus, on_remote_error=remote_failed)
    try:
        plan = session.plan(targets)
        stays = session.stays_on_remote(plan, targets)
        records = per_task_records(session.ws, session.graph.groups)  # (read while the state is open)
    finally:
        session.close()
    graph = session.graph  # (with every task of a map, when its settled ones had to be planned)
    # Entries of tasks that are gone (a matrix value or a mapped item removed): `pipe run`
    # removes them first, and what reads the gathered folder then runs.
    stale = []
    if graph.groups:
        from ..expand import stale_entries

        stale = stale_entries(graph.pipefile.root, graph.groups, records)
    if as_json:
        doc = status_json(plan, stays, graph.groups)
        if stale:
            doc["stale_entries"] = stale
        dump_json(doc)
    else:
        render_status(plan, stays_on_remote=stays, groups=graph.groups, tasks=tasks)
        if stale:
            shown = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
            click.echo(
                f"pipe run will remove {len(stale)} gathered entr{'y' if len(stale) == 1 else 'ies'} "
                f"of tasks that are gone ({shown}); what reads them then runs"
            )
    if check and (stale or not plan.up_to_date):
        sys.exit(ExitCode.STEP_FAILED)


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
    from ..load import quoted_placeholders

    echo_notes(quoted_placeholders(pf), "info")
    counts = ", ".join(
        plural(n, what)
        for n, what in ((len(graph.nodes), "step"), (len(pf.params), "param"), (len(pf.assets), "asset"))
    )
    click.echo(f"{pf.display_path}: ok ({counts})")


@click.command(context_settings=CONTEXT)
@file_option
@azureml_options
@param_option
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text", show_default=True)
@click.option("--expand", is_flag=True, help="Draw the inner steps of pipeline steps (else one box each).")
@guard
def dag(pipefile, params, fmt, expand):
    """Draw the pipeline's graph."""
    graph = load(pipefile, params)
    click.echo(render_dag(graph, fmt, expand), nl=False)
