"""The `pipe` command line. Thin: parse flags, call `pipeline`, render with `report`,
map errors to exit codes (0 ok, 1 a step failed, 2 bad usage or Pipefile, 130 interrupted).
"""

from __future__ import annotations

import os
import signal
import sys

import click

from . import __version__, mlflow_log, report
from .errors import INTERRUPTED, OK, STEP_FAILED, PipefileError, PipefileErrors
from .digest import PathDigest
from .executor import FRESH, RAN, RESTORED
from .loader import find_pipefile
from .pipeline import Pipeline, check_forced_names, load_graph, parse_force
from .store import Workspace
from .store import remotes as remotes_mod
from .store.lock import disk_error, is_disk_error

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
        import traceback

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
            if is_disk_error(e):  # pipe's own files could not be written: the user's to fix, not a bug
                e = disk_error(e)
            if _State.debug and not isinstance(e, (PipefileError, KeyboardInterrupt)):
                import traceback

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
    "remote": "cli_remote", "push": "cli_remote", "pull": "cli_remote",
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


remote_flag = click.option(
    "--remote", "remote_name", is_flag=False, flag_value="", default=None, metavar="[NAME]",
    help="Consult this remote's run cache before running anything (a name, or a URL; alone: the default "
         "remote). Write --remote=NAME before step names.")


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
@remote_flag
@click.option("--no-remote", is_flag=True, help="Work locally, even if a default remote is set.")
@click.option("--push", "push_after", is_flag=True, help="Afterwards, upload what was built to the remote.")
@click.option("--ci", is_flag=True,
              help="For CI: no live view, plain logs with reasons, a JSON summary written to --summary, "
                   "exit 1 on any failure (a failed --push included).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help=f"Write the JSON summary to FILE (with --ci the default is {report.CI_SUMMARY_FILE} in the "
                   "workspace root).")
@click.option("--gpus", "gpus", metavar="IDS",
              help="The GPUs steps may be given, e.g. 0,1 (or none); default: PIPE_GPUS, else the detected ones.")
@_guard
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
        spec = None if no_remote else _resolve_remote(graph, remote_name)
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
        summary_path = os.path.join(root, report.CI_SUMMARY_FILE)
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
        reporter = report.RunReporter(len(plan.decisions), quiet=False, explain=explain or dry_run or ci, plain=ci)
        summary = pipe.run(targets, forced, jobs or 0, keep_going, dry_run, reporter, plan=plan,
                           experiment=experiment, argv=_scrubbed_argv(sys.argv[1:]))
        reporter.close()
        if push_after and not summary.interrupted:
            pushed = _push_built(pipe, summary, plain=ci)
    finally:
        if reporter:
            reporter.close()
        pipe.close()
    report.render_summary(summary, root)
    fetched = pipe.fetcher.total if pipe.fetcher is not None else None
    if fetched is not None or pushed is not None:
        from . import report_remote
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
        out = report.run_json(summary)
        if job is not None:
            out["job"] = job.id
        report.dump_json(out)
    if summary_path:
        remote_info = None
        if pipe.remote is not None:
            remote_info = {"name": pipe.remote.name, "url": pipe.remote.spec.shown,
                           "error": remote_problems[0].message if remote_problems else None,
                           "downloaded_objects": len(fetched.moved) if fetched else 0,
                           "downloaded_bytes": fetched.nbytes if fetched else 0}
        doc = report.ci_summary(summary, code, job.id if job is not None else None, remote_info,
                                pushed.to_json() if pushed is not None else None)
        report.write_json_file(summary_path, doc)
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


def _resolve_remote(graph, name):
    """The remote to consult; `--remote STEP` (the step taken as the remote's name) says how
    to write it instead."""
    try:
        return remotes_mod.resolve(graph.pipefile.root, name)
    except remotes_mod.RemoteConfigError as e:
        if name and name in graph.nodes:
            raise remotes_mod.RemoteConfigError(
                f"no remote '{name}' ('{name}' is a step: --remote takes an optional remote name)",
                hint=f"for the default remote, put --remote after the steps (... {name} --remote), or name the "
                     f"remote with = (--remote=NAME {name})") from e
        raise


def _push_built(pipe, summary, plain: bool = False):
    """Upload the entries of the steps this run built, restored or found fresh (what the
    remote already has is skipped). A failure is reported, not raised: the run stands."""
    from . import report_remote, sync

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


@main.command(context_settings=CONTEXT)
@click.argument("targets", nargs=-1)
@file_option
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@remote_flag
@click.option("--check", is_flag=True, help="Exit 1 unless every step is fresh (the committed outputs are up to date).")
@click.option("--gpus", "gpus", metavar="IDS",
              help="The GPUs to plan for, as with `pipe run --gpus` (matters for key_includes: [gpu_model]).")
@_guard
def status(targets, pipefile, params, as_json, remote_name, check, gpus):
    """Say, per step, whether it is fresh, must run (and why), will be restored, or waits.

    With --remote, steps the remote's run cache has show as restore (from that remote):
    the plan `pipe run --remote` would follow; nothing is downloaded."""
    graph = load_graph(pipefile, params)
    spec = _resolve_remote(graph, remote_name) if remote_name is not None else None

    def remote_failed(e) -> None:
        click.echo(f"warning: {e.render()}\n  showing the local plan", err=True)

    pipe = Pipeline(graph, writable=False, remote=spec, on_remote_error=remote_failed)
    pipe.gpu_override = gpus
    try:
        plan = pipe.status(targets)
        stays = pipe.stays_on_remote(plan, targets)
    finally:
        pipe.close()
    if as_json:
        report.dump_json(report.status_json(plan, stays))
    else:
        report.render_status(plan, stays_on_remote=stays)
    if check and not plan.up_to_date:
        sys.exit(STEP_FAILED)


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
