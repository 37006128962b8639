"""`pipe gc`, `pipe verify`, `pipe recover`, `pipe clone`: store maintenance, getting back saved
content, and cloning jobs."""

from __future__ import annotations

import os
import shlex
import sys
import time

import click

from ..cache import gc as gc_mod
from ..clone import clone_job
from ..digest import PathDigest
from ..errors import PipefileError
from ..report.text import dump_json, plural, size
from ..workspace import Workspace
from .guard import guard
from .options import CONTEXT, file_option, open_workspace


def _wait(message: str) -> None:
    click.echo(message, err=True)


@click.command(context_settings=CONTEXT)
@file_option
@click.option(
    "--keep-last",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Keep only the last N jobs that did work, and the no-op jobs between them (older jobs' records and logs "
    "go; artifact versions stay).",
)
@click.option(
    "--uploads-older-than",
    "uploads_age",
    metavar="DURATION",
    help="Forget what `pipe serve` received more than DURATION ago (e.g. 30d, 12h): its content "
    "goes unless a kept job reads it (default: keep every upload).",
)
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def gc(pipefile, keep_last, uploads_age, dry_run, as_json):
    """Delete stored objects and run-cache entries that nothing kept needs.

    Kept: every job (or the last N with --keep-last), every artifact version, the
    current outputs of each workspace that uses this store, published deployments,
    uploads (or those newer than --uploads-older-than), and the run-cache entries
    they use. See `pipe help store`.
    """
    from .options import parse_duration

    uploads_before = None
    if uploads_age is not None:  # ('' was taken for no limit, and a bad one was not named by its flag)
        try:
            uploads_before = time.time() - parse_duration(uploads_age)
        except PipefileError as e:
            raise PipefileError(f"--uploads-older-than {e.message}", hint=e.hint) from None
    ws = open_workspace(pipefile)
    others: list = []
    try:
        if not os.path.isdir(ws.dir):
            if as_json:  # (--json prints JSON, whatever there is: nothing deleted, nothing kept)
                dump_json(dict(gc_mod.GcPlan().to_json(), dry_run=dry_run))
            else:
                click.echo("no .pipe/ here yet: nothing to collect")
            return
        others = gc_mod.lock_all(ws, lambda root: Workspace(root, create=False, register=False), _wait)
        plan = gc_mod.plan(ws, others, keep_last, uploads_before)
        if not dry_run:
            gc_mod.apply(ws, plan)
    finally:
        for o in others:
            o.close()
        ws.close()
    if as_json:
        dump_json(dict(plan.to_json(), dry_run=dry_run))
        return
    verb = "would delete" if dry_run else "deleted"
    parts = [
        f"{plural(len(plan.delete_objects), 'object')} ({size(plan.freed_bytes)})",
        plural(len(plan.prune_entries), "run-cache entry", "run-cache entries"),
    ]
    if keep_last is not None:
        parts.append(plural(len(plan.drop_jobs), "job") + " (records and logs)")
        if plan.leftover_job_dirs:  # (an earlier gc stopped before it removed them)
            parts.append(plural(len(plan.leftover_job_dirs), "leftover job log folder"))
    if uploads_before is not None:
        parts.append(plural(len(plan.forget_uploads), "upload") + " (records)")
    click.echo(f"gc: {verb} {', '.join(parts)}; kept {plural(plan.kept_objects, 'object')} ({size(plan.kept_bytes)})")
    if len(plan.workspaces) > 1:
        click.echo(f"  the store is shared: kept what {len(plan.workspaces) - 1} other workspace(s) need too", err=True)
    for _reg, root in plan.forgotten:
        # Said, not silent: a workspace moved or on a disk not mounted loses what only it kept.
        click.echo(
            f"  {'would forget' if dry_run else 'forgot'} workspace {root}: it is no longer there, so what only it "
            "needed (content `pipe recover` would give back, its jobs' snapshots) is not kept; a workspace "
            "that was moved notes itself again at its next `pipe run`: run that before `pipe gc`",
            err=True,
        )


@click.command(context_settings=CONTEXT)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def verify(pipefile, as_json):
    """Rehash every stored object; quarantine any that no longer matches its digest.

    Exits 1 if any was corrupt. The steps that need a quarantined object run again
    on the next `pipe run` instead of being restored.
    """
    ws = open_workspace(pipefile)
    try:
        if not os.path.isdir(ws.store.objects):
            if as_json:  # (--json prints JSON, whatever there is: nothing checked)
                dump_json(gc_mod.VerifyReport().to_json())
            else:
                click.echo("no store here yet: nothing to verify")
            return

        def bad(digest, actual, where):
            if not as_json:
                # (`actual` is a digest, or what kept it from being read: "unreadable (...)", "not a regular file")
                why = f"its content hashes to {actual[:12]}" if len(actual) == 32 else f"it is {actual}"
                click.echo(
                    f"object {digest[:12]} is corrupt ({why}); moved it to {os.path.relpath(where)}",
                    err=True,
                )

        result = gc_mod.verify(ws.store, bad)
    finally:
        ws.close()
    if as_json:
        dump_json(result.to_json())
    elif result.corrupt:
        click.echo(
            f"verify: {plural(result.checked, 'object')} ({size(result.bytes)}) checked, "
            f"{len(result.corrupt)} corrupt and quarantined; the steps that need them will run again"
        )
    else:
        click.echo(f"verify: {plural(result.checked, 'object')} ({size(result.bytes)}) checked, all intact")
    if result.corrupt:
        sys.exit(1)


@click.command(context_settings=CONTEXT)
@click.argument("job")
@file_option
@click.option(
    "-o",
    "--output",
    "dest",
    type=click.Path(file_okay=False),
    help=(
        "The new folder (default: outside the repository, beside the git work tree or, outside git, "
        "the workspace: REPO-jobID); must not exist or be empty."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def clone(job, pipefile, dest, as_json):
    """Write JOB's Pipefile, params, code and source data out as a new workspace.

    JOB: an id, a unique uid prefix, or last. Running the clone unchanged restores
    every step from this workspace's store; its jobs record that they were cloned
    from JOB.
    """
    ws = open_workspace(pipefile)
    try:
        if os.path.isdir(ws.dir):
            ws.lock.acquire(on_wait=_wait)  # gc must not delete what is being copied
        result = clone_job(ws, job, dest)
    finally:
        ws.close()
    if as_json:
        dump_json(result.to_json())
    else:
        where = os.path.relpath(result.dest)
        click.echo(
            f"cloned job {result.job.id} ({result.job.uid}) into {where}: {result.pipefile}"
            + (f" (params {', '.join(result.params_set)} set as defaults)" if result.params_set else "")
            + (f", {plural(len(result.code), 'code path')}" if result.code else "")
            + (f", {plural(len(result.sources), 'data path')}" if result.sources else "")
        )
        if result.pinned:
            click.echo(f"  pinned to the versions job {result.job.id} read: {', '.join(result.pinned)}", err=True)
        click.echo(f"  run it: cd {shlex.quote(where)} && {result.run_command}", err=True)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)


@click.command(context_settings=CONTEXT)
@click.argument("digest", required=False)
@file_option
@click.option("-o", "--output", type=click.Path(), help="Where to write it (default: recovered-DIGEST).")
@guard
def recover(digest, pipefile, output):
    """Get back content pipe saved before replacing it (a hand-edited output).

    Without DIGEST, lists what was saved; with DIGEST (or a unique prefix of it),
    writes that file or folder to -o PATH, which must not exist yet.
    """
    ws = open_workspace(pipefile)
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
            raise PipefileError(
                f"{'no' if not hits else 'more than one'} saved content matches '{digest}'",
                hint="run `pipe recover` to list what was saved",
            )
        ((kind, d),) = hits
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
