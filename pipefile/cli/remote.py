"""`pipe remote add/list/remove`, `pipe push`, `pipe pull`: sharing the store through remotes."""

from __future__ import annotations

import sys

import click

from .. import sync
from ..outcomes import ExitCode
from ..remote import config as remotes_mod
from ..remote.transport import MARKER, Remote
from ..report import remote as report_remote
from ..report.text import dump_json
from ..session import Session, load
from ..workspace import Workspace
from .guard import guard
from .options import CONTEXT, Count, file_option, workspace_root
from .remote_choice import check_state_folder

remote_option = click.option(
    "--remote",
    "remote_name",
    metavar="NAME",
    help="A remote's name, or a URL or path used as is (default: the default remote).",
)
# More transfers at once than this move nothing faster: each is a thread with its connection
# and files open (-j 100000 pushing 1,329 objects made 3,988 threads, 2.3x the memory, and was
# slower than -j 8).
MOST_TRANSFERS = 256


def _at_most(ctx, param, value: int) -> int:
    """-j N, taken as at most MOST_TRANSFERS, and no more than the open-file limit leaves
    room for (leases.tasks_at_once); said when N is lowered."""
    from ..leases import tasks_at_once

    most = min(MOST_TRANSFERS, tasks_at_once())
    if value > most:
        click.echo(f"note: -j {value}: at most {most} transfers run at once", err=True)
        return most
    return value


jobs_option = click.option(
    "-j",
    "--jobs",
    "transfers",
    type=Count("transfers"),
    default=8,
    show_default=True,
    callback=_at_most,
    help=f"Transfers at once (at most {MOST_TRANSFERS}).",
)


def _root(pipefile) -> str:
    """The workspace's folder; a file where its .pipe/ goes said as such (exit 2), as every
    other reader says it, not as ".pipe/remotes.yaml cannot be read ... fix or delete the file"."""
    root = workspace_root(pipefile)
    check_state_folder(root)
    return root


def open_remote(root: str, name, transfers: int = 8) -> Remote:
    check_state_folder(root)
    spec = remotes_mod.resolve(root, name)
    if spec is None:
        raise remotes_mod.RemoteConfigError(
            "no remote given and no default remote is set",
            hint="pass --remote NAME, or set one: pipe remote add NAME URL --default",
        )
    return Remote(spec, transfers)


@click.group(context_settings=CONTEXT)
def remote():
    """Manage remotes: stores shared between machines (s3, sftp, gs, az, a path, http read-only).

    Remotes live in .pipe-remotes.yaml beside the Pipefile (commit it), or in
    .pipe/remotes.yaml for this workspace only (--local). Never credentials: those
    come from the environment, ~/.aws, the ssh agent or ~/.ssh.
    """


@remote.command("add", context_settings=CONTEXT)
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option(
    "--local/--shared",
    default=None,
    help=(
        "--local: only for this workspace (.pipe/remotes.yaml), not committed; --shared: in the committed "
        ".pipe-remotes.yaml. Default: shared, or local when an option names a path on this machine (key_filename)."
    ),
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An fsspec storage option, e.g. endpoint_url=http://host:9000 or key_filename=~/.ssh/ci (repeatable).",
)
@click.option("--force", is_flag=True, help="Replace a remote of the same name.")
@file_option
@guard
def remote_add(name, url, make_default, local, options, force, pipefile):
    """Add remote NAME at URL (a path, s3://bucket/prefix, sftp://user@host/path, ...)."""
    root = _root(pipefile)
    parsed = remotes_mod.parse_options(options)
    machine = remotes_mod.machine_local_options(parsed)
    spec = remotes_mod.add(root, name, url, parsed, make_default, bool(machine) if local is None else local, force)
    click.echo(f"added {spec.describe()} to {spec.source}" + (" as the default" if make_default else ""))
    overruled = remotes_mod.default_overruled(root, name) if make_default else None
    if overruled is not None:  # (was: "as the default", while pushes went on to the other one)
        click.echo(f"warning: {overruled.render()}", err=True)
    if machine and local is None:
        names = ", ".join(machine)
        click.echo(
            f"  not to the committed .pipe-remotes.yaml: {names} names a path on this machine; "
            f"to share it with the team anyway, add it with --shared",
            err=True,
        )
    elif machine and local is False:
        click.echo(
            f"warning: {', '.join(machine)} of remote '{name}' names a path on this machine, now in the "
            f"committed {spec.source}: teammates and CI need the same path",
            err=True,
        )
    try:
        remotes_mod.check_scheme(spec)
    except remotes_mod.RemoteConfigError as e:
        click.echo(f"warning: {e.render()}", err=True)


@remote.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@file_option
@guard
def remote_list(as_json, pipefile):
    """List the remotes (* marks the default)."""
    cfg = remotes_mod.load(_root(pipefile))
    if as_json:
        dump_json(report_remote.remotes_json(cfg))
    else:
        report_remote.render_remotes(cfg)


@remote.command("remove", context_settings=CONTEXT)
@click.argument("name")
@file_option
@guard
def remote_remove(name, pipefile):
    """Forget remote NAME (its content stays where it is)."""
    files = remotes_mod.remove(_root(pipefile), name)
    click.echo(f"removed remote '{name}' from {', '.join(files)}")


@click.command(context_settings=CONTEXT)
@click.argument("steps", nargs=-1)
@remote_option
@click.option("--all-jobs", is_flag=True, help="Every step any job ran or restored here, and every artifact version.")
@click.option(
    "--repair",
    is_flag=True,
    help="Also check the objects of entries the remote already holds (one stat each) and upload "
    "those it lacks or holds damaged (another size, not a file).",
)
@jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@file_option
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a pipeline param.")
@guard
def push(steps, remote_name, all_jobs, repair, transfers, as_json, pipefile, params):
    """Upload the outputs and run-cache entries of STEPS (default: every step built
    here) that the remote lacks. Only missing objects move; rerun an interrupted push
    to finish it."""
    if steps and all_jobs:
        raise click.UsageError("give STEP names or --all-jobs, not both")
    graph = load(pipefile, params)
    root = graph.pipefile.root
    rem = open_remote(root, remote_name, transfers)
    ws = Workspace(root, create=False)
    gate = None
    try:
        gate = _hold_off_gc(ws)
        r = sync.SyncReport("push", rem.name)
        keys = sync.step_keys(ws, steps, r, graph.nodes)
        versions = []
        if all_jobs:
            keys = list(dict.fromkeys(keys + ws.jobs.step_keys()))
            versions = ws.jobs.artifacts()
        progress = report_remote.TransferProgress(rem.name, quiet=as_json)
        sync.push(ws, rem, keys, versions, progress, r, repair=repair)
    finally:
        if gate is not None:
            gate.close()
        rem.close()
        ws.close()
    _finish(r, as_json)


@click.command(context_settings=CONTEXT)
@click.argument("steps", nargs=-1)
@remote_option
@click.option(
    "--all-jobs", is_flag=True, help="Everything the remote holds: every run-cache entry and artifact version."
)
@jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@file_option
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Set a pipeline param.")
@guard
def pull(steps, remote_name, all_jobs, transfers, as_json, pipefile, params):
    """Download into the store what the remote has for STEPS (default: every step) as
    they are now: decided against the remote's run cache first, then only the missing
    objects move, each verified. `pipe run` then restores them."""
    if steps and all_jobs:
        raise click.UsageError("give STEP names or --all-jobs, not both")
    if all_jobs:
        root = _root(pipefile)
        rem = open_remote(root, remote_name, transfers)
        ws = Workspace(root, create=True)
        try:
            ws.lock.acquire(on_wait=lambda m: click.echo(m, err=True))
            rem.check()
            r = sync.pull_all(ws, rem, report_remote.TransferProgress(rem.name, quiet=as_json))
            _note_empty(rem)
        finally:
            rem.close()
            ws.close()
        _finish(r, as_json)
        return
    graph = load(pipefile, params)
    check_state_folder(graph.pipefile.root)
    spec = remotes_mod.resolve(graph.pipefile.root, remote_name)
    if spec is None:
        open_remote(graph.pipefile.root, None)  # raises: no remote
    session = Session(graph, writable=True, remote=spec)
    session.remote.transfers = transfers
    try:
        session.lock(on_wait=lambda m: click.echo(m, err=True))
        session.remote.check()  # a bad URL or credentials: say so, do not plan as if it were empty
        plan = session.plan(steps)
        if session.remote_problems:
            raise session.remote_problems[0]
        progress = report_remote.TransferProgress(session.remote.name, quiet=as_json)
        r = sync.pull_plan(session.ws, session.remote, plan, progress, planned=session.remote_cache.entry)
        _note_empty(session.remote)
    finally:
        session.close()
    _finish(r, as_json)


def _hold_off_gc(ws: Workspace):
    """A push holds no workspace lock (it only reads, and may go on beside a run), so a `pipe gc`
    meanwhile (--keep-last, or --all-jobs's older builds) deleted what it was sending: the push
    failed halfway and those builds were lost to the team. It enters as the store's writers do
    (workspace/lock.py ServeGate): gc waits for it, and it waits for a gc under way. None where
    the gate cannot be made (a read-only workspace: no gc runs from it either)."""
    try:
        gate = ws.serve_gate.writer(wait=False)
        if gate is None:
            click.echo("waiting for pipe gc to finish (it may delete what this push sends)...", err=True)
            gate = ws.serve_gate.writer()
    except OSError:
        return None
    return gate


def _note_empty(rem: Remote) -> None:
    if rem.empty:
        click.echo(
            f"note: {rem.spec.describe()} holds nothing pushed by pipe (no {MARKER}): "
            f"nothing was pushed there yet, or its URL is wrong",
            err=True,
        )


def _finish(r, as_json: bool) -> None:
    if as_json:
        dump_json(r.to_json())
        for e in r.errors:
            click.echo(f"error: {e.render()}", err=True)
        for line in report_remote.renumbered_lines(r):
            click.echo(line, err=True)
    else:
        report_remote.render_sync(r)
    sys.exit(ExitCode.OK if r.ok else ExitCode.STEP_FAILED)
