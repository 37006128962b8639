"""`pipe run` as a click command: its options (those of cli/flags.py's table built from it) and
`run_action.run_command`, which does the work (entry.py's fast path calls it too)."""

from __future__ import annotations

import click

from ..report import run as run_report
from . import flags
from .guard import guard
from .options import CONTEXT, azureml_options, file_option, no_remote_flag, param_option, remote_flag, table_option
from .run_action import run_command


@click.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@azureml_options
@table_option(flags.JOBS)
@param_option
@click.option(
    "--force",
    "force",
    is_flag=False,
    flag_value="*",
    multiple=True,
    metavar="[STEP]",
    help="Run even if up to date: every selected step, or the one named (repeatable).",
)
@table_option(flags.DRY_RUN)
@table_option(flags.KEEP_GOING)
@table_option(flags.RUN_JSON)
@table_option(flags.EXPLAIN)
@table_option(flags.QUIET)
@table_option(flags.VERBOSE)
@table_option(flags.EXPERIMENT)
@table_option(flags.MLFLOW)
@remote_flag
@no_remote_flag
@click.option("--push", "push_after", is_flag=True, help="Afterwards, upload what was built to the remote.")
@table_option(flags.CI)
@table_option(flags.SUMMARY, help=flags.SUMMARY.help.format(ci_summary_file=run_report.CI_SUMMARY_FILE))
@table_option(flags.RUN_GPUS)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="What runs the steps that must run: local (default) or ray (a Ray cluster); "
    "default: PIPE_EXECUTOR, else the Pipefile's settings: executor.",
)
@click.option(
    "--address",
    metavar="ADDR",
    default=None,
    help="With --executor ray: the cluster (default: RAY_ADDRESS, else one running on this machine, "
    "else a local Ray instance started for the run).",
)
@click.option(
    "--store",
    "store",
    metavar="NAME|URL",
    default=None,
    help="With --executor ray: the shared store the workers read inputs from and write outputs to "
    "(a remote's name, a URL or a path all nodes see; default: PIPE_RAY_STORE, the settings, the "
    "default remote; needed for a cluster of several machines).",
)
@guard
def run(**options):
    """Bring TARGETS (steps or output paths; default: all) up to date.

    Runs only the steps whose inputs, params, code or command changed since
    their outputs were built, restores outputs built before from the store
    (or from a remote's run cache: the default remote, or --remote), and runs
    independent steps in parallel.
    """
    run_command(**options)
