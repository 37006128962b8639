"""`pipe jobs`, `pipe jobs show`, `pipe logs`: the history of runs in this workspace."""

from __future__ import annotations

import os
import sys
import time

import click
from click.core import ParameterSource

from ..filenames import log_file, name_of
from ..outcomes import JobStatus
from ..printable import printable
from ..report import jobs as report_jobs
from ..report.text import dump_json
from ..workspace import Workspace
from .guard import guard
from .metrics import CompareGroup
from .options import CONTEXT, file_option, hand_down, open_workspace


@click.group(cls=CompareGroup, context_settings=CONTEXT, invoke_without_command=True)
@file_option
@click.option("-e", "--experiment", help="Only jobs of this experiment.")
@click.option("-s", "--status", type=click.Choice([s.value for s in JobStatus]), help="Only jobs with this status.")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=20, show_default=True, help="How many (0: all).")
@click.option("--all", "show_all", is_flag=True, help="Also the jobs in which nothing ran or was restored.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
@guard
def jobs(ctx, pipefile, experiment, status, limit, show_all, as_json):
    """List recent jobs (every `pipe run` is one), newest first; jobs in which nothing ran
    or was restored (every step fresh) are hidden unless --all."""
    if ctx.invoked_subcommand:
        # -e, -s, -n and --all choose which jobs the list shows: before a subcommand they
        # were dropped without a word (`pipe jobs -e X show last` showed the last job of any).
        listing = [p for p in ctx.command.params if p.name in ("experiment", "status", "limit", "show_all")]
        given = [p.opts[0] for p in listing if ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
        if given:
            many = len(given) > 1
            raise click.UsageError(
                f"{', '.join(given)} {'choose' if many else 'chooses'} which jobs `pipe jobs` lists; "
                f"`pipe jobs {ctx.invoked_subcommand}` takes no such option: drop {'them' if many else 'it'}"
            )
        hand_down(ctx, pipefile=pipefile, as_json=as_json)
        return
    ws = open_workspace(pipefile)
    damaged: list = []  # (a record cut short or edited by hand: listed as far as it reads, then said)
    try:
        found = ws.jobs.jobs(experiment, status, limit, work_only=not show_all, problems=damaged)
        hidden = 0 if show_all else ws.jobs.count_noop(experiment, status)
        counts = {j.id: ws.jobs.outcome_counts(j.id) for j in found}
    finally:
        ws.close()
    if as_json:
        dump_json({"jobs": [dict(j.to_json(), steps=counts[j.id]) for j in found], "hidden": hidden})
    else:
        report_jobs.render_jobs(found, counts, filtered=bool(experiment or status), hidden=hidden)
    if damaged:
        raise report_jobs.damaged_error(damaged)


@jobs.command(context_settings=CONTEXT)
@click.argument("job")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def show(job, pipefile, as_json):
    """One job: what it ran with, and each step's outcome. JOB: an id, a unique uid prefix, or last."""
    ws = open_workspace(pipefile)
    try:
        j = ws.jobs.resolve(job)
        steps = ws.jobs.steps(j.id)
        metrics = ws.jobs.metrics(j.id) if as_json else None  # (the text shows none: not read)
        unfinished = _unfinished(ws, j, steps)
    finally:
        ws.close()
    if as_json:
        extra = {"unfinished": unfinished} if unfinished else {}
        dump_json(dict(j.to_json(), steps=[s.to_json() for s in steps], metrics=metrics, **extra))
    else:
        report_jobs.render_job(j, steps, unfinished=unfinished)


def _unfinished(ws: Workspace, job, steps: list) -> list:
    """[{step, log}] of the steps of a running or interrupted job that started (each has its
    log) and have no record: a step is recorded as it ends, so the one still running, or the
    one a kill -9 cut off, was nowhere in `pipe jobs show`."""
    if job.status not in (JobStatus.RUNNING, JobStatus.INTERRUPTED):
        return []
    log_dir = ws.job_dir(job.id)
    recorded = {s.step for s in steps}
    found = []
    for d, _, files in os.walk(log_dir):  # (a nested step's log is in a folder: STEP/INNER.log)
        for f in sorted(files):
            if f.endswith(".log") and not f.startswith("."):  # (.ahead-*: a log made ahead of its step)
                rel = os.path.relpath(os.path.join(d, f), log_dir)[:-4].replace(os.sep, "/")
                step = name_of(log_dir, rel)
                if step not in recorded:
                    found.append({"step": step, "log": os.path.relpath(os.path.join(d, f), ws.root)})
    return sorted(found, key=lambda u: u["step"])


@click.command(context_settings=CONTEXT)
@click.argument("job")
@click.argument("step", required=False)
@file_option
@click.option("--follow", is_flag=True, help="Keep printing as the job writes, until it ends.")
@click.option("--json", "as_json", is_flag=True, help="Print {step: log text} as JSON.")
@click.option("--url", help="Read a job of this `pipe serve` server (JOB: its number, or last).")
@click.option("--token", envvar="PIPE_TOKEN", help="With --url: the token (or set PIPE_TOKEN).")
@guard
def logs(job, step, pipefile, follow, as_json, url, token):
    """Print the logs of a job's steps (or of one STEP)."""
    if url is not None:
        _served_logs(url, token, job, step, follow, as_json)
        return
    ws = open_workspace(pipefile)
    try:
        j = _with_logs(ws, ws.jobs.resolve(job), job, step)
        steps = [s.step for s in ws.jobs.steps(j.id)]
        log_dir = ws.job_dir(j.id)
        if step is not None and step not in steps and not _log_in(log_dir, step):
            from ..errors import PipefileError, did_you_mean

            raise PipefileError(f"job {j.id} has no step '{printable(step)}'", hint=did_you_mean(step, steps, "step"))
        if as_json:
            names = [step] if step else steps
            dump_json({n: _read(os.path.join(log_dir, log_file(n))) for n in names})
            return
        if follow:
            _follow(ws, j.id, log_dir, step)
            return
        names = [step] if step else steps
        for n in names:
            if step is None:  # (a task's name holds its values: an escape or a newline among them)
                click.echo(f"==> {printable(n)} <==")
            ended = _print_log(os.path.join(log_dir, log_file(n)))
            if step is None and not ended:
                click.echo()
    finally:
        ws.close()


def _log_in(log_dir: str, step: str) -> bool:
    """Whether the job's log folder holds a log for `step` (a step not recorded in its job: a
    nested step's, STEP/INNER.log). Only inside it: `pipe logs 1 /tmp/x` printed /tmp/x.log."""
    path = os.path.realpath(os.path.join(log_dir, log_file(step)))
    return path.startswith(os.path.realpath(log_dir) + os.sep) and os.path.exists(path)


def _with_logs(ws: Workspace, j, ref: str, step):
    """The job whose logs to print. A no-op job wrote no log (every step was fresh): `last`
    then means the last job that ran something, and is said to on stderr; a no-op named by
    its id is printed as it is, with a note pointing at the job before it that ran something."""
    if not j.noop:
        return j
    # Of the same Pipefile: another one's (-f) job has other steps, and its logs answer nothing asked.
    worked = ws.jobs.last_with_work(before=j.id, pipefile=j.pipefile)
    where = f"job {worked.id} is the last before it that ran something" if worked else "no job before it ran anything"
    if ref.strip() == "last" and worked is not None:
        click.echo(
            f"note: the last job ({j.id}) ran nothing (every step was fresh); showing job {worked.id}, "
            f"the last that ran something (`pipe logs {j.id}` for the no-op itself)",
            err=True,
        )
        return worked
    if step is None or ref.strip() == "last":  # (else `pipe logs last STEP` printed nothing, silently)
        hint = f": `pipe logs {worked.id}`" if worked else ""
        click.echo(
            f"note: job {j.id} ran nothing (every step was fresh), so no step wrote a log; {where}{hint}", err=True
        )
    return j


def _served_logs(url, token, job, step, follow, as_json) -> None:
    from ..serve.client import Client
    from ..serve.remote_logs import show_logs

    client = Client(url, token, warn=lambda m: click.echo(m, err=True))
    try:
        got = show_logs(client, url, job, step, follow and not as_json, None if as_json else click.echo)
    finally:
        client.close()
    if as_json:
        dump_json(got)


def _read(path: str) -> str:
    from ..filehash import NotARegularFile, open_regular

    try:
        with open_regular(path) as f:  # (a FIFO or a link to /dev/zero there: no log, never read)
            return f.read().decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):
        return ""


_PIECE = 1 << 20  # a log can be gigabytes: it is printed a megabyte at a time


def _print_log(path: str) -> bool:
    """Print the log at `path` as it reads (never whole in memory); whether what was printed
    ended a line (also when nothing was: an empty or missing log)."""
    import codecs

    from ..filehash import NotARegularFile, open_regular

    try:
        f = open_regular(path)  # (a FIFO or a link to /dev/zero there: no log, never read)
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("replace")  # (a character cut between pieces stays whole)
    ended = True
    rest = b""
    with f:
        while True:
            piece = f.read(_PIECE)
            data = rest + piece
            # whole lines where there are some: a colour code is never cut between two echoes
            cut = data.rfind(b"\n") + 1 if piece else len(data)
            data, rest = (data[:cut], data[cut:]) if cut else (data, b"")
            text = decoder.decode(data, final=not piece)
            if text:
                click.echo(text, nl=False)
                ended = text.endswith("\n")
            if not piece:
                return ended


def _follow(ws: Workspace, job_id: int, log_dir: str, step) -> None:
    """Print new log lines as they come, until the job is over and nothing more arrives."""
    import codecs

    from ..filehash import NotARegularFile, open_regular

    offsets: dict = {}
    decoders: dict = {}
    current = None
    while True:
        running = ws.jobs.get(job_id).status == JobStatus.RUNNING
        names = (
            [step]
            if step
            else sorted(  # (a nested step's log is in a folder: STEP/INNER.log; a shortened one's note names it)
                name_of(log_dir, os.path.relpath(os.path.join(d, f), log_dir)[:-4].replace(os.sep, "/"))
                for d, _, files in os.walk(log_dir)
                for f in files
                if f.endswith(".log")
            )
            if os.path.isdir(log_dir)
            else []
        )
        wrote = False
        for n in names:
            path = os.path.join(log_dir, log_file(n))
            try:
                f = open_regular(path)
            except (FileNotFoundError, NotADirectoryError, NotARegularFile):
                continue
            with f:
                f.seek(offsets.get(n, 0))
                while True:  # what is new, a piece at a time (the first look may find gigabytes)
                    data = f.read(_PIECE)
                    if not data:
                        break
                    if step is None and current != n:
                        sys.stdout.write(f"==> {printable(n)} <==\n")
                        current = n
                    if n not in decoders:  # (a character the writer has not finished waits for its end)
                        decoders[n] = codecs.getincrementaldecoder("utf-8")("replace")
                    sys.stdout.write(decoders[n].decode(data))
                    sys.stdout.flush()
                    offsets[n] = offsets.get(n, 0) + len(data)
                    wrote = True
        if not running and not wrote:
            return
        time.sleep(0.2)
