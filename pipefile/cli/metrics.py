"""`pipe metrics show/diff/history`, `pipe params diff`: comparing jobs."""

from __future__ import annotations

import difflib

import click

from ..errors import PipefileError, did_you_mean
from ..printable import printable
from ..report import metrics as report_metrics
from ..report.text import dump_json
from .guard import guard
from .options import CONTEXT, file_option, open_workspace

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


class CompareGroup(click.Group):
    """A group whose `compare` or `diff` (what comparing two jobs is looked for as, and is
    not) names the commands that do it, instead of click's bare "No such command"."""

    def resolve_command(self, ctx, args):
        if args and args[0] in ("compare", "diff") and args[0] not in self.commands:
            raise click.UsageError(
                f"No such command '{args[0]}': two jobs are compared by `pipe metrics diff JOB_A JOB_B` "
                "(their metrics) and `pipe params diff JOB_A JOB_B` (their params)",
                ctx,
            )
        return super().resolve_command(ctx, args)


@click.group(cls=CompareGroup, context_settings=CONTEXT)
def metrics():
    """The metrics that steps recorded (`metrics: [FILE]`), per job and across jobs."""


@metrics.command(context_settings=CONTEXT)
@click.argument("jobs", nargs=-1)
@file_option
@json_option
@guard
def show(jobs, pipefile, as_json):
    """The metrics of each JOB (default: last), one column per job.

    JOB: an id, a unique uid prefix, last, or last~N.
    """
    ws = open_workspace(pipefile)
    try:
        found = _unique([ws.jobs.resolve(ref) for ref in (jobs or ("last",))])
        values = {j.id: ws.jobs.metrics(j.id) for j in found}
        how = "" if as_json or any(values.values()) else report_metrics.recording_hint(ws, found)
    finally:
        ws.close()
    if as_json:
        dump_json(report_metrics.show_json(found, values))
    else:
        report_metrics.render_show(found, values, how=how)


@metrics.command(context_settings=CONTEXT)
@click.argument("job_a")
@click.argument("job_b")
@file_option
@json_option
@guard
def diff(job_a, job_b, pipefile, as_json):
    """Each metric of JOB_A and JOB_B side by side, and the change from A to B.

    JOB_A, JOB_B: an id, a unique uid prefix, last, or last~N.
    """
    _compare(pipefile, job_a, job_b, "metric", lambda ws, job: ws.jobs.metrics(job.id), as_json)


@metrics.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-e", "--experiment", help="The experiment (default: the one of the last job).")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=0, help="Only the newest N jobs (0: all).")
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also save the chart as a PNG (needs pipefile[plots]).",
)
@file_option
@json_option
@guard
def history(name, experiment, limit, png, pipefile, as_json):
    """One metric across the jobs of an experiment: a table and a chart, oldest job first.

    NAME is a metric as `pipe metrics show` lists it (`train.acc`), or its unique ending
    (`acc`).
    """
    ws = open_workspace(pipefile)
    damaged: list = []
    try:
        if experiment is None:
            experiment = ws.jobs.resolve("last").experiment
        # (a no-op job repeats a point: not one of its own; a damaged record is shown as far as
        # it reads, then said, as `pipe jobs` does)
        jobs = ws.jobs.jobs(experiment, work_only=True, problems=damaged)
        if not jobs:
            known = ws.jobs.experiments()  # (their names only: not every job read whole)
            if experiment in known:  # (it said "no job in experiment 'X'", and then listed X as known)
                raise PipefileError(
                    f"no job in experiment '{experiment}' ran or restored a step: each found every step fresh, "
                    "and a no-op job repeats the values before it, no point of its own",
                    hint="name an experiment whose jobs ran steps with -e (`pipe jobs --all` lists them)",
                )
            raise PipefileError(
                f"no job in experiment '{experiment}'", hint=did_you_mean(experiment, known, "experiment")
            )
        # One metric's values, looked up: not every value of every job (unbounded memory);
        # every name read only when NAME is none of them (an ending, or a mistake).
        ids = [j.id for j in jobs]
        found, full = ws.jobs.metric_of_jobs(ids, name), name
        if not found:
            names = ws.jobs.metric_names(ids)
            how = "" if names else report_metrics.recording_hint(ws, jobs[:1])
            full = _metric_name(name, experiment, names, how)
            found = ws.jobs.metric_of_jobs(ids, full)
        values = {j: {full: v} for j, v in found.items()}
    finally:
        ws.close()
    points = report_metrics.history_points([j for j in jobs if j.id in values], values, full)
    if limit:
        points = points[-limit:]
    if png:
        report_metrics.write_png(png, experiment, full, points)
    if as_json:
        dump_json(dict(report_metrics.history_json(experiment, full, points), png=png))
    else:
        report_metrics.render_history(experiment, full, points)
        if png:
            click.echo(f"wrote {png}", err=True)
    if damaged:
        from ..report.jobs import damaged_error

        raise damaged_error(damaged)


@metrics.command(context_settings=CONTEXT)
@click.argument("job")
@click.argument("name")
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also save the curve as a PNG (needs pipefile[plots]).",
)
@file_option
@json_option
@guard
def curve(job, name, png, pipefile, as_json):
    """The series STEP.NAME that a step of JOB streamed while it ran (`pipefile.log_metric`):
    one value per training step. Works on a running job too.

    JOB: an id, a unique uid prefix, last, or last~N. NAME: STEP.NAME, or its unique ending.
    """
    import os

    from .. import tracking
    from ..filenames import name_of

    ws = open_workspace(pipefile)
    try:
        found = ws.jobs.resolve(job)
        # The names first, then the points of the one shown: not every point of every series
        # of the job (30 steps of 100,000 took 10 s and 600 MB to show one).
        recorded = ws.jobs.series_names(found.id)
        series: dict = dict.fromkeys(recorded)
        azureml = not series and report_metrics.is_azureml_job(ws, found)
        # What a step streamed and the job did not record, from its file: a running step's so
        # far, and one that failed or was interrupted (Ctrl-C, kill -9) until then: the curve
        # wanted most (a loss that diverged) was there while it ran and gone once it ended.
        folder = ws.job_dir(found.id)
        unrecorded: set = set()
        recorded_steps = {step for pairs in recorded.values() for step, _ in pairs}
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if entry.endswith(".metrics.jsonl"):
                step = name_of(folder, entry[: -len(".metrics.jsonl")])
                if step in recorded_steps:
                    continue  # (recorded as it ended: the file holds the same points)
                for metric, points in tracking.read_stream(os.path.join(folder, entry))[0].items():
                    if series.setdefault(f"{step}.{metric}", points) is points:
                        unrecorded.add(f"{step}.{metric}")
        full = _series_name(name, found, series, azureml)
        points = ws.jobs.series_points(found.id, recorded[full]) if full in recorded else series[full]
    finally:
        ws.close()
    if full in unrecorded and found.status != "running":
        click.echo(
            f"note: job {found.id} ({found.status}) recorded no series of this step, which did not end "
            "well: these are the points it streamed until it ended",
            err=True,
        )
    if png:
        report_metrics.write_curve_png(png, found, full, points)
    if as_json:
        dump_json(report_metrics.curve_json(found, full, points, png))
        return
    report_metrics.render_curve(found, full, points)
    if png:
        click.echo(f"wrote {png}", err=True)


def _series_name(name: str, job, series: dict, azureml: bool = False) -> str:
    """azureml: the job ran an Azure ML pipeline (its nodes log to MLflow, read as they end)."""
    if name in series:
        return name
    ends = [k for k in series if k.endswith("." + name)]
    if len(ends) == 1:
        return ends[0]
    if not series and azureml:
        raise PipefileError(
            f"job {job.id} has no streamed metrics",
            hint=f"what a node of an Azure ML pipeline logs to MLflow is read when it ends, as the last value of "
            f"each metric: `pipe metrics show {job.id} -f {job.pipefile}`; a curve is what a script streams with "
            "pipefile.log_metric(name, value, step=N) (`pipe help metrics`)",
        )
    if not series:
        raise PipefileError(
            f"job {job.id} has no streamed metrics",
            hint="a step streams them with pipefile.log_metric(name, value, step=N) (`pipe help metrics`)",
        )
    # (a series' name is whatever the step wrote: a newline in one must not forge a line of the hint)
    if ends:
        raise PipefileError(
            f"'{printable(name)}' is ambiguous in job {job.id}",
            hint=f"one of: {', '.join(printable(e) for e in sorted(ends))}",
        )
    raise PipefileError(
        f"job {job.id} has no streamed metric '{printable(name)}'",
        hint=printable(did_you_mean(name, list(series), "series") or f"its series: {', '.join(sorted(series))}"),
    )


@click.group(context_settings=CONTEXT)
def params():
    """The params that jobs ran with."""


@params.command("diff", context_settings=CONTEXT)
@click.argument("job_a")
@click.argument("job_b")
@file_option
@json_option
@guard
def params_diff(job_a, job_b, pipefile, as_json):
    """Each param of JOB_A and JOB_B side by side, and what changed.

    JOB_A, JOB_B: an id, a unique uid prefix, last, or last~N.
    """
    _compare(pipefile, job_a, job_b, "param", lambda ws, job: dict(sorted(job.params.items())), as_json)


def _compare(pipefile, job_a: str, job_b: str, what: str, values, as_json: bool) -> None:
    """`pipe metrics diff` and `pipe params diff`: `values(ws, job)` gives {name: value} of a job."""
    ws = open_workspace(pipefile)
    try:
        a, b = ws.jobs.resolve(job_a), ws.jobs.resolve(job_b)
        rows = report_metrics.diff_rows(values(ws, a), values(ws, b))
    finally:
        ws.close()
    if as_json:
        dump_json(report_metrics.diff_json(a, b, rows))
    else:
        report_metrics.render_diff(what, a, b, rows)


def _unique(jobs: list) -> list:
    seen, out = set(), []
    for j in jobs:
        if j.id not in seen:
            seen.add(j.id)
            out.append(j)
    return out


def _metric_name(name: str, experiment: str, names: set, how: str = "") -> str:
    """The full name of a metric of this experiment (`names`: every one its jobs recorded):
    exact, or the one name ending in `.NAME`. how: how its steps record metrics
    (`recording_hint`), the hint when none did."""
    known = sorted(names)
    if name in known:
        return name
    ends = [n for n in known if n.endswith("." + name)]
    if len(ends) == 1:
        return ends[0]
    if len(ends) > 1:
        raise PipefileError(
            f"metric '{name}' is ambiguous in experiment '{experiment}': " + ", ".join(printable(n) for n in ends[:8]),
            hint="give the full name, with its step",
        )
    if not known:
        raise PipefileError(
            f"no job of experiment '{experiment}' recorded any metric",
            hint=how or f"{report_metrics.PIPEFILE_METRICS} (one of its outputs)",
        )
    inside = [n for n in known if f".{name}." in f".{n}."]  # 'loss' -> train.loss.train, train.loss.val
    if inside:
        raise PipefileError(
            f"no metric '{name}' in experiment '{experiment}'",
            hint="did you mean one of " + ", ".join(f"'{printable(n)}'" for n in inside[:8]) + "?",
        )
    # compare with the endings too, so that 'accc' finds 'train.acc'
    endings = {n.rsplit(".", 1)[-1]: n for n in reversed(known)}
    close = difflib.get_close_matches(name, list(endings), n=1, cutoff=0.6)
    # Names a step's metrics file chose: escaped (a newline in one would forge a line of the hint).
    hint = (
        f"did you mean '{printable(endings[close[0]])}'?"
        if close
        else did_you_mean(name, [printable(n) for n in known], "metric")
    )
    raise PipefileError(f"no metric '{name}' in experiment '{experiment}'", hint=hint)
