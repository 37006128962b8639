"""`pipe envs`, `pipe envs prune`: the environments steps run in, and their builds."""

from __future__ import annotations

import os

import click

from .. import inventory
from ..report import envs as report_envs
from ..report.text import dump_json
from ..session import Session, load
from .guard import guard
from .options import CONTEXT, file_option, hand_down


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
@guard
def envs(ctx, pipefile, as_json):
    """List the Pipefile's environments: identity, built or not, size, the steps that use them;
    and the unused builds in the store."""
    if ctx.invoked_subcommand:
        hand_down(ctx, pipefile=pipefile, as_json=as_json)
        return
    pipe = Session(load(pipefile), writable=False)
    try:
        notes: list = []
        rows = inventory.declared(pipe)
        builds = inventory.builds(pipe, notes)
    finally:
        pipe.close()
    if as_json:
        dump_json(
            {"environments": [r.to_json() for r in rows], "builds": [b.to_json() for b in builds], "notes": notes}
        )
    else:
        report_envs.render_envs(rows, builds, notes)


@envs.command(context_settings=CONTEXT)
@file_option
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def prune(pipefile, dry_run, as_json):
    """Remove environment builds (venvs, conda prefixes, images pipe built) that no environment
    uses: neither this Pipefile's, nor those recorded by other workspaces sharing the store."""
    pipe = Session(load(pipefile), writable=False)
    try:
        if not dry_run and os.path.isdir(pipe.ws.dir):
            # A run of this workspace (of any Pipefile) uses its environments until it ends.
            pipe.ws.lock.acquire(on_wait=lambda m: click.echo(m, err=True))
        removed, notes = inventory.prune(pipe, dry_run)
    finally:
        pipe.close()
    if as_json:
        dump_json({"dry_run": dry_run, "removed": [b.to_json() for b in removed], "notes": notes})
    else:
        report_envs.render_pruned(removed, notes, dry_run)
