"""`pipe run`: bring targets up to date, then report (progress, summary, JSON, the CI
summary), push what was built (--push) and log to MLflow (--mlflow)."""

from __future__ import annotations

import os
import sys

import click

from .. import mlflow_log
from ..errors import INTERRUPTED, OK, STEP_FAILED, PipefileError
from ..outcomes import FRESH, RAN, RESTORED
from ..pipeline import Pipeline, check_forced_names, load_graph, parse_force
from ..report import run as run_report
from ..report.text import dump_json, write_json_file
from ..store import Workspace
from ..store import remotes as remotes_mod
from .guard import guard
from .options import CONTEXT, file_option, param_option, remote_flag, resolve_remote


@click.command(context_settings=CONTEXT)
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
@remote_flag
@click.option("--no-remote", is_flag=True, help="Work locally, even if a default remote is set.")
@click.option("--push", "push_after", is_flag=True, help="Afterwards, upload what was built to the remote.")
@click.option("--ci", is_flag=True,
              help="For CI: no live view, plain logs with reasons, a JSON summary written to --summary, "
                   "exit 1 on any failure (a failed --push included).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help=f"Write the JSON summary to FILE (with --ci the default is {run_report.CI_SUMMARY_FILE} in the "
                   "workspace root).")
@click.option("--gpus", "gpus", metavar="IDS",
              help="The GPUs steps may be given, e.g. 0,1 (or none); default: PIPE_GPUS, else the detected ones.")
@guard
def run(targets, pipefile, jobs, params, force, dry_run, keep_going, as_json, explain, experiment, to_mlflow,
        remote_name, no_remote, push_after, ci, summary_path, gpus):
    """Bring TARGETS (steps or output paths; default: all) up to date.

    Runs only the steps whose inputs, params, code or command changed since
    their outputs were built, restores outputs built before from the store
    (or from a remote's run cache: the default remote, or --remote), and runs
    independent steps in parallel.
    """
    graph = load_graph(pipefile, params)
    forced = parse_force(force)
    check_forced_names(graph, forced)
    root = graph.pipefile.root
    if no_remote and (remote_name is not None or push_after):
        raise click.UsageError("--no-remote cannot go with --remote or --push")
    try:
        spec = None if no_remote else resolve_remote(graph, remote_name)
    except remotes_mod.MissingExtra as e:
        if remote_name is not None or push_after:
            raise
        # The committed default remote is an optimisation: a teammate without its package
        # still works, locally, and is told how to get the cache.
        click.echo(f"warning: {e.render()}\n  working locally (--no-remote hides this)", err=True)
        spec = None
    if push_after and spec is None:
        raise remotes_mod.RemoteConfigError("--push needs a remote, and none is set",
                                            hint="pass --remote NAME, or set one: pipe remote add NAME URL --default")
    if push_after and dry_run:
        raise click.UsageError("--push cannot go with --dry-run")
    if ci and summary_path is None:
        summary_path = os.path.join(root, run_report.CI_SUMMARY_FILE)
    if to_mlflow and not dry_run:
        mlflow_log.check_installed()  # before the run, not after hours of training
    remote_problems: list = []

    def remote_failed(e) -> None:
        remote_problems.append(e)
        click.echo(f"warning: {e.render()}\n  working locally: steps the remote may have will run here", err=True)

    pipe = Pipeline(graph, writable=not dry_run, remote=spec, on_remote_error=remote_failed)
    pipe.gpu_override = gpus
    reporter = None
    pushed = None
    try:
        if not dry_run:
            pipe.lock(on_wait=lambda m: click.echo(m, err=True))
        pipe.prepare_run(targets, say=lambda m: click.echo(m, err=True), fetch=not dry_run)
        plan = pipe.planner(forced).plan(targets)
        reporter = run_report.RunReporter(len(plan.decisions), quiet=False, explain=explain or dry_run or ci, plain=ci)
        summary = pipe.run(targets, forced, jobs or 0, keep_going, dry_run, reporter, plan=plan,
                           experiment=experiment, argv=_scrubbed_argv(sys.argv[1:]))
        reporter.close()
        if push_after and not summary.interrupted:
            pushed = _push_built(pipe, summary, plain=ci)
    finally:
        if reporter:
            reporter.close()
        pipe.close()
    run_report.render_summary(summary, root)
    fetched = pipe.fetcher.total if pipe.fetcher is not None else None
    if fetched is not None or pushed is not None:
        from ..report import remote as report_remote
    if fetched is not None and fetched.moved:
        click.echo(f"downloaded {report_remote.size_line(fetched)} from '{pipe.remote.name}'", err=True)
    if pushed is not None:
        report_remote.render_sync(pushed)
    for warning in getattr(getattr(pipe, "recorder", None), "warnings", []):
        click.echo(f"warning: {warning}", err=True)
    job = getattr(pipe, "job", None)
    if job is not None:
        click.echo(f"job {job.id} ({job.uid}): `pipe jobs show {job.id}`", err=True)
    if job is not None and mlflow_log.wanted(to_mlflow):
        _log_to_mlflow(root, job.id)
    code = INTERRUPTED if summary.interrupted else STEP_FAILED if summary.failed else OK
    if code == OK and pushed is not None and not pushed.ok:
        code = STEP_FAILED
    if as_json:
        out = run_report.run_json(summary)
        if job is not None:
            out["job"] = job.id
        dump_json(out)
    if summary_path:
        remote_info = None
        if pipe.remote is not None:
            remote_info = {"name": pipe.remote.name, "url": pipe.remote.spec.shown,
                           "error": remote_problems[0].message if remote_problems else None,
                           "downloaded_objects": len(fetched.moved) if fetched else 0,
                           "downloaded_bytes": fetched.nbytes if fetched else 0}
        doc = run_report.ci_summary(summary, code, job.id if job is not None else None, remote_info,
                                pushed.to_json() if pushed is not None else None)
        write_json_file(summary_path, doc)
        click.echo(f"summary: {os.path.relpath(summary_path)}", err=True)
    sys.exit(code)



def _scrubbed_argv(argv: list) -> list:
    """The command line as the job records it: a --remote URL without its password or query
    (job records are shown, exported and served; credentials must not be)."""
    out = list(argv)
    for i, a in enumerate(out):
        if a.startswith("--remote="):
            out[i] = "--remote=" + remotes_mod.scrub_url(a[len("--remote="):])
        elif a == "--remote" and i + 1 < len(out):
            out[i + 1] = remotes_mod.scrub_url(out[i + 1])
    return out


def _push_built(pipe, summary, plain: bool = False):
    """Upload the entries of the steps this run built, restored or found fresh (what the
    remote already has is skipped). A failure is reported, not raised: the run stands."""
    from .. import sync
    from ..report import remote as report_remote

    keys = [summary.decisions[n].key.digest for n, r in summary.results.items()
            if r.outcome in (RAN, RESTORED, FRESH) and summary.decisions.get(n) is not None
            and summary.decisions[n].key is not None]
    r = sync.SyncReport("push", pipe.remote.name)
    try:
        sync.push(pipe.ws, pipe.remote, keys, (), report_remote.TransferProgress(pipe.remote.name, plain=plain), r)
    except PipefileError as e:
        r.errors.append(e)
    return r


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
