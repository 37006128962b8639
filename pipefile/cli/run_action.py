"""What `pipe run` does once its flags are parsed: the flags become a session.RunRequest; the
session runs it (and pushes what was built with --push, logs to MLflow with --mlflow); its
RunRecord is rendered here: progress, summary, JSON, the CI summary, the exit code. No click
here: the click command (cli/run.py) and entry.py's fast path (cli/fast.py) both call
`run_command`."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Optional

from ..errors import PipefileError, did_you_mean, raise_all
from ..executors.choice import choose
from ..load import overridden_params
from ..remote import config as remotes_mod
from ..report import run as run_report
from ..report.text import check_text_file, dump_json, unbroken_output, write_json_file
from ..session import RunRequest, Session, load
from .console import UsageProblem, echo
from .remote_choice import chosen_remote, echo_notes


def run_command(
    targets=(),
    pipefile=None,
    jobs=None,
    params=(),
    force=(),
    dry_run=False,
    keep_going=False,
    as_json=False,
    explain=False,
    quiet=False,
    verbose=False,
    experiment=None,
    to_mlflow=False,
    remote_name=None,
    no_remote=False,
    push_after=False,
    ci=False,
    summary_path=None,
    gpus=None,
    executor=None,
    address=None,
    store=None,
):
    """`pipe run TARGETS`, its options as keywords (the dests of cli/flags.py and cli/run.py)."""
    unbroken_output()  # (`pipe run | head`: the run goes on to its end, its output nowhere)
    if gpus is not None:  # (read where a step asks for GPUs: a typo was taken silently elsewhere)
        from ..envs.gpus import parse as parse_gpus

        parse_gpus(gpus, "--gpus")
    # A map's tasks known up to date need no node, unless a task is named or forced.
    settle = not force and not ci and summary_path is None and not any("[" in t for t in targets)
    graph = load(pipefile, params, keep=not dry_run, settle=settle)
    echo_notes(graph.pipefile.warnings, "warning")
    echo_notes(overridden_params(params), "warning")
    forced = parse_force(force)
    if forced is not True and graph.groups:
        # --force STEP of a matrix, sweep or foreach forces each of its tasks.
        forced = frozenset(t for n in forced for t in (graph.groups[n].tasks if n in graph.groups else (n,)))
    check_forced_names(graph, forced)
    if not targets:
        _warn_force_took_a_word(sys.argv[1:], forced)
    root = graph.pipefile.root
    if quiet and verbose:
        raise UsageProblem("-q/--quiet and -v/--verbose cannot go together: pick one")
    if no_remote and (remote_name is not None or push_after):
        raise UsageProblem("--no-remote cannot go with --remote or --push")
    spec = chosen_remote(graph, remote_name, no_remote, required=push_after)
    if push_after and spec is None:
        raise remotes_mod.RemoteConfigError(
            "--push needs a remote, and none is set",
            hint="pass --remote NAME, or set one: pipe remote add NAME URL --default",
        )
    if push_after and dry_run:
        raise UsageProblem("--push cannot go with --dry-run")
    if ci and summary_path is None:
        summary_path = os.path.join(root, run_report.CI_SUMMARY_FILE)
    if summary_path:  # (said now, not once the whole run is over)
        check_text_file(summary_path, "the summary")
    if to_mlflow and not dry_run:
        from .. import mlflow_log

        mlflow_log.check_installed()  # before the run (and before .pipe/ is made), not after hours of training
    if jobs:
        _say_when_files_limit_jobs(jobs, len(graph.nodes))
    choice = choose(graph.pipefile.executor, executor, address, store)
    request = RunRequest(
        tuple(targets),
        forced,
        jobs or 0,
        keep_going,
        dry_run,
        experiment,
        tuple(_scrubbed_argv(sys.argv[1:])),
        push=push_after,
        mlflow=to_mlflow,
        executor=choice,
    )

    def remote_failed(e) -> None:
        from ..printable import printable_lines  # (as guard.py prints an error: no terminal escape)

        echo(
            f"warning: {printable_lines(e.render())}\n  working locally: steps the remote may have will run here",
            err=True,
        )

    session = Session(graph, writable=not dry_run, remote=spec, gpus=gpus, on_remote_error=remote_failed)
    reporter = None
    try:
        plan = session.start(request, on_wait=lambda m: echo(m, err=True), say=lambda m: echo(m, err=True))
        shown = run_report.OUTPUT_NONE if quiet else run_report.OUTPUT_FULL if verbose else run_report.OUTPUT_AUTO
        reporter = run_report.RunReporter(
            len(plan.decisions), quiet=False, explain=explain or dry_run or ci, plain=ci, step_output=shown
        )
        record = session.run(reporter)
        reporter.close()
        progress = None
        if push_after:
            from ..report import remote as report_remote

            progress = report_remote.TransferProgress(session.remote.name, plain=ci)
        session.finish(record, progress, say=lambda m: echo(m, err=True))
        # Rendered before the workspace is let go: the no-op record (noop_record.py), written
        # as it is, keeps this text.
        _render(record, root, as_json, summary_path, dry_run)
    finally:
        if reporter:
            reporter.close()
        session.close()
    if graph.groups and not dry_run and record.exit_code in (0, 1):
        # A sweep's objective is read from each trial's metrics: one that lacks it is a
        # mistake in the Pipefile, said now rather than when someone looks for the best
        # (also when the run failed for it: the task that picks the best trial fails on it).
        from ..sweeps import objective_errors

        done = ("ran", "restored", "fresh")
        built = {n for n, r in record.summary.results.items() if r.outcome.value in done}
        raise_all(objective_errors(graph, built))
    sys.exit(record.exit_code)


def _render(record, root: str, as_json: bool, summary_path: Optional[str], dry_run: bool = False) -> None:
    """The run's record, on stderr (the summary, transfers, warnings, the job) and as JSON."""
    summary, job, fetched, pushed = record.summary, record.job, record.downloaded, record.pushed
    run_report.render_summary(summary, root, dry_run=dry_run)
    if fetched is not None or pushed is not None:
        from ..report import remote as report_remote
    if fetched is not None and fetched.moved:
        echo(f"downloaded {report_remote.size_line(fetched)} from '{record.remote_name}'", err=True)
    if pushed is not None:
        report_remote.render_sync(pushed)
    for warning in record.warnings:
        echo(f"warning: {warning}", err=True)
    if job is not None:
        echo(f"job {job.id} ({job.uid}): `pipe jobs show {job.id}`", err=True)
    if record.mlflow_run is not None:
        echo(f"logged job {job.id} to MLflow: run {record.mlflow_run}", err=True)
        if record.mlflow_store is not None:
            shown = os.path.relpath(record.mlflow_store)
            echo(
                f"  in pipe's own MLflow store {shown}/ (no MLFLOW_TRACKING_URI set); browse it: "
                f"mlflow ui --backend-store-uri sqlite:///{record.mlflow_store}/mlflow.db",
                err=True,
            )
    if record.mlflow_error is not None:
        echo(f"warning: {record.mlflow_error.render()}", err=True)
    if as_json:
        out = run_report.run_json(summary)
        if job is not None:
            out["job"] = job.id
        dump_json(out)
    if summary_path:
        remote_info = None
        if record.remote_name is not None:
            problems = record.remote_problems
            remote_info = {
                "name": record.remote_name,
                "url": record.remote_url,
                "error": problems[0].message if problems else None,
                "downloaded_objects": len(fetched.moved) if fetched else 0,
                "downloaded_bytes": fetched.nbytes if fetched else 0,
            }
        doc = run_report.ci_summary(
            summary,
            record.exit_code,
            job.id if job is not None else None,
            remote_info,
            pushed.to_json() if pushed is not None else None,
        )
        write_json_file(summary_path, doc)
        echo(f"summary: {os.path.relpath(summary_path)}", err=True)


def _say_when_files_limit_jobs(jobs: int, steps: int) -> None:
    """-j above what the open-file limit lets run at once (leases.tasks_at_once) is taken as
    that many; said, so that a user who meant it knows what to raise."""
    from ..leases import tasks_at_once

    most = tasks_at_once()
    if jobs > most and steps > most:
        echo(
            f"note: -j {jobs}: at most {most} steps run at once here, as each running step holds files "
            "open and the open-file limit allows no more; raise it (ulimit -n) to run more",
            err=True,
        )


def parse_force(values: Iterable[str]):
    """--force given alone forces every selected step; --force STEP forces that step."""
    values = list(values)
    if not values:
        return frozenset()
    if "*" in values:
        return True
    return frozenset(values)


def _warn_force_took_a_word(argv: list, forced) -> None:
    """`pipe run --force train` forces train and runs every step; `pipe run train --force`
    forces train's whole target and runs only that. Both are documented; the first is easy
    to write meaning the second, so it is said, unless written `--force=train`."""
    if forced is True:
        return
    taken = [b for a, b in zip(argv, argv[1:]) if a == "--force" and b in forced]
    if taken:
        name = taken[0]
        echo(
            f"warning: --force {name} forces step '{name}' only, and runs every step that is not up to date; "
            f"to run only {name} and what it needs, all forced, write: pipe run {name} --force\n"
            f"  write --force={name} to mean what you wrote without this warning",
            err=True,
        )


def check_forced_names(graph, forced) -> None:
    if forced is True:
        return
    raise_all(
        [
            PipefileError(f"--force {n}: no step named '{n}'", hint=did_you_mean(n, graph.nodes, "step"))
            for n in forced
            if n not in graph.nodes
        ]
    )


def _scrubbed_argv(argv: list) -> list:
    """The command line as the job records it: a --remote URL without its password or query
    (job records are shown, exported and served; credentials must not be)."""
    out = list(argv)
    for i, a in enumerate(out):
        if a.startswith("--remote="):
            out[i] = "--remote=" + remotes_mod.scrub_url(a[len("--remote=") :])
        elif a == "--remote" and i + 1 < len(out):
            out[i + 1] = remotes_mod.scrub_url(out[i + 1])
    return out
