"""The `pipe` command line. Thin: parse flags, call `pipeline`, render with `report`,
map errors to exit codes (0 ok, 1 a step failed, 2 bad usage or Pipefile, 130 interrupted).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import click

from . import __version__, mlflow_log, report
from .errors import INTERRUPTED, OK, STEP_FAILED, PipefileError, PipefileErrors
from .digest import PathDigest
from .loader import find_pipefile
from .pipeline import Pipeline, check_forced_names, load_graph, parse_force
from .store import Workspace

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _State:
    debug = False


def _fail(e: BaseException) -> None:
    if isinstance(e, BrokenPipeError):  # `pipe jobs | head`: the reader has what it wanted
        try:
            sys.stdout = open(os.devnull, "w")
        finally:
            sys.exit(OK)
    if isinstance(e, PipefileError):
        plain = e.loc is not None or isinstance(e, PipefileErrors)  # lines that start with file:line
        click.echo(e.render() if plain else f"error: {e.render()}", err=True)
        sys.exit(e.exit_code)
    if isinstance(e, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)
    if _State.debug:
        traceback.print_exc()
    else:
        click.echo(f"internal error: {e!r} (run with --debug for the traceback)", err=True)
    sys.exit(70)


def _guard(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemExit:
            raise
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except BaseException as e:  # noqa: BLE001 - mapped to exit codes here, once
            if _State.debug and not isinstance(e, (PipefileError, KeyboardInterrupt)):
                traceback.print_exc()
                sys.exit(70)
            _fail(e)

    return wrapper


def _sigterm(signum, frame):
    raise KeyboardInterrupt


file_option = click.option("-f", "--file", "pipefile", type=click.Path(dir_okay=False),
                           help="The Pipefile (default: ./Pipefile).")
param_option = click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
                            help="Set a pipeline param (repeatable).")


# Commands that live in other modules, imported only when one of them is asked for (or for
# --help): `pipe run` and `pipe status` should not pay for loading the rest of the CLI.
LAZY_COMMANDS = {
    "jobs": "cli_jobs", "logs": "cli_jobs",
    "artifacts": "cli_artifacts", "asset": "cli_artifacts", "lineage": "cli_artifacts",
    "metrics": "cli_metrics", "params": "cli_metrics",
    "clone": "cli_store", "gc": "cli_store", "verify": "cli_store",
    "envs": "cli_envs",
    "publish": "cli_serve", "endpoints": "cli_serve", "serve": "cli_serve", "invoke": "cli_serve",
    "token": "cli_serve",
}


class CommandGroup(click.Group):
    """The `pipe` group: the commands of LAZY_COMMANDS are registered on first use."""

    def get_command(self, ctx, name):
        module = LAZY_COMMANDS.get(name)
        if name not in self.commands and module:
            import importlib

            importlib.import_module(f"{__package__}.{module}").register(self, _guard, CONTEXT, file_option)
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        return sorted(set(self.commands) | set(LAZY_COMMANDS))


@click.group(cls=CommandGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="pipe")
@click.option("-C", "--directory", type=click.Path(file_okay=False, exists=True),
              help="Run as if started in this folder.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(directory, debug):
    """pipe: a make-like pipeline runner for ML that decides by content, not timestamps."""
    _State.debug = debug
    if directory:
        os.chdir(directory)
    signal.signal(signal.SIGTERM, _sigterm)


@main.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Steps to run at once (default: the number of CPUs).")
@param_option
@click.option("--force", "force", is_flag=False, flag_value="*", multiple=True, metavar="[STEP]",
              help="Run even if up to date: every selected step, or the one named (repeatable).")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would run; run nothing.")
@click.option("-k", "--keep-going", is_flag=True, help="After a failure, go on with steps that do not need it.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--explain", is_flag=True, help="Say why each step runs or is restored.")
@click.option("-e", "--experiment", help="Record the job under this experiment (default: the Pipefile's name).")
@click.option("--mlflow", "to_mlflow", is_flag=True,
              help="Log the job as an MLflow run (also done whenever MLFLOW_TRACKING_URI is set).")
@click.option("--gpus", "gpus", metavar="IDS",
              help="The GPUs steps may be given, e.g. 0,1 (or none); default: PIPE_GPUS, else the detected ones.")
@_guard
def run(targets, pipefile, jobs, params, force, dry_run, keep_going, as_json, explain, experiment, to_mlflow, gpus):
    """Bring TARGETS (steps or output paths; default: all) up to date.

    Runs only the steps whose inputs, params, code or command changed since
    their outputs were built, restores outputs built before from the store,
    and runs independent steps in parallel.
    """
    graph = load_graph(pipefile, params)
    forced = parse_force(force)
    check_forced_names(graph, forced)
    if to_mlflow and not dry_run:
        mlflow_log.check_installed()  # before the run, not after hours of training
    pipe = Pipeline(graph, writable=not dry_run)
    pipe.gpu_override = gpus
    reporter = None
    try:
        if not dry_run:
            pipe.lock(on_wait=lambda m: click.echo(m, err=True))
        pipe.prepare_run(targets, say=lambda m: click.echo(m, err=True), fetch=not dry_run)
        plan = pipe.planner(forced).plan(targets)
        reporter = report.RunReporter(len(plan.decisions), quiet=False, explain=explain or dry_run)
        summary = pipe.run(targets, forced, jobs or 0, keep_going, dry_run, reporter, plan=plan,
                           experiment=experiment, argv=sys.argv[1:])
    finally:
        if reporter:
            reporter.close()
        pipe.close()
    report.render_summary(summary, graph.pipefile.root)
    for warning in getattr(getattr(pipe, "recorder", None), "warnings", []):
        click.echo(f"warning: {warning}", err=True)
    job = getattr(pipe, "job", None)
    if job is not None:
        click.echo(f"job {job.id} ({job.uid}): `pipe jobs show {job.id}`", err=True)
    if job is not None and mlflow_log.wanted(to_mlflow):
        _log_to_mlflow(graph.pipefile.root, job.id)
    if as_json:
        out = report.run_json(summary)
        if job is not None:
            out["job"] = job.id
        report.dump_json(out)
    if summary.interrupted:
        sys.exit(INTERRUPTED)
    sys.exit(STEP_FAILED if summary.failed else OK)


def _log_to_mlflow(root: str, job_id: int) -> None:
    """Log a finished job as an MLflow run; a failure is a warning, the job stands."""
    ws = Workspace(root, create=False)
    try:
        run_id = mlflow_log.log_job(ws, job_id)
        click.echo(f"logged job {job_id} to MLflow: run {run_id}", err=True)
    except PipefileError as e:
        click.echo(f"warning: {e.render()}", err=True)
    finally:
        ws.close()


@main.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--gpus", "gpus", metavar="IDS",
              help="The GPUs to plan for, as with `pipe run --gpus` (matters for key_includes: [gpu_model]).")
@_guard
def status(targets, pipefile, params, as_json, gpus):
    """Say, per step, whether it is fresh, must run (and why), will be restored, or waits."""
    graph = load_graph(pipefile, params)
    pipe = Pipeline(graph, writable=False)
    pipe.gpu_override = gpus
    try:
        plan = pipe.status(targets)
    finally:
        pipe.close()
    if as_json:
        report.dump_json(report.status_json(plan))
    else:
        report.render_status(plan)


@main.command(context_settings=CONTEXT)
@file_option
@param_option
@_guard
def validate(pipefile, params):
    """Check the Pipefile and report every problem at once (exit 2 if any)."""
    graph = load_graph(pipefile, params)
    pf = graph.pipefile
    counts = ", ".join(_plural(n, what) for n, what in
                       ((len(graph.nodes), "step"), (len(pf.params), "param"), (len(pf.assets), "asset")))
    click.echo(f"{pf.display_path}: ok ({counts})")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@main.command(context_settings=CONTEXT)
@file_option
@param_option
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text", show_default=True)
@_guard
def dag(pipefile, params, fmt):
    """Draw the pipeline's graph."""
    graph = load_graph(pipefile, params)
    click.echo(report.render_dag(graph, fmt), nl=False)


@main.command(context_settings=CONTEXT)
@click.argument("digest", required=False)
@file_option
@click.option("-o", "--output", type=click.Path(), help="Where to write it (default: recovered-DIGEST).")
@_guard
def recover(digest, pipefile, output):
    """Get back content pipe saved before replacing it (a hand-edited output).

    Without DIGEST, lists what was saved; with DIGEST (or a unique prefix of it),
    writes that file or folder to -o PATH, which must not exist yet.
    """
    path = pipefile or find_pipefile(".")
    ws = Workspace(os.path.dirname(os.path.abspath(path)), create=False)
    try:
        saved = ws.saved()
        if not digest:
            if not saved:
                click.echo("nothing was saved in this workspace")
            for when, rel, kind, d in saved:
                click.echo(f"{when}  {d[:12]}  {kind:<4}  {rel}")
            return
        hits = {(kind, d) for _, _, kind, d in saved if d.startswith(digest)}
        if len(hits) != 1:
            raise PipefileError(f"{'no' if not hits else 'more than one'} saved content matches '{digest}'",
                                hint="run `pipe recover` to list what was saved")
        (kind, d), = hits
        dest = output or f"recovered-{d[:12]}"
        if os.path.lexists(dest):
            raise PipefileError(f"'{dest}' already exists", hint="choose another path with -o")
        content = PathDigest(kind, d, 0)
        if not ws.store.complete(content):
            raise PipefileError(f"the saved content {d[:12]} is no longer complete in the store at {ws.store_root}")
        scratch = os.path.dirname(os.path.abspath(dest))
        ws.store.materialize(content, os.path.abspath(dest), scratch)
        click.echo(f"wrote {kind} {d[:12]} to {dest}")
    finally:
        ws.close()


if __name__ == "__main__":  # pragma: no cover
    main()
