"""`pipe artifacts`, `pipe asset add`, `pipe lineage`: versioned artifacts and where they came from."""

from __future__ import annotations

import os

import click

from ..artifacts import add_asset, get_artifact
from ..digest import Hasher
from ..errors import PipefileError, did_you_mean
from ..lineage import Lineage, action_manifest, looks_like_ref, parse_ref
from ..printable import printable
from ..report import artifacts as report_artifacts
from ..report.text import dump_json
from ..workspace import Workspace
from .guard import guard
from .options import CONTEXT, file_option, hand_down, open_workspace


def _workspace(pipefile, create: bool = False) -> Workspace:
    """`pipe artifacts -f FILE show ...` works too: a subcommand without -f takes the group's."""
    if pipefile is None:
        parent = click.get_current_context().parent
        pipefile = parent.params.get("pipefile") if parent is not None else None
    return open_workspace(pipefile, create)


def _numbers_shared(ws: Workspace) -> bool:
    """Whether version numbers are agreed through a remote here (a default remote is set, or
    a version was pushed): then a version not pushed yet is marked local. Without a remote,
    numbers are the workspace's and nothing is marked."""
    from ..remote import config as remotes_mod

    if ws.jobs.any_registered():
        return True
    try:
        return remotes_mod.resolve(ws.root, None) is not None
    except PipefileError:
        return True  # a default remote that cannot be used now is a remote all the same


def _with_local(ws: Workspace, versions: list) -> list:
    """The versions, each marked: .local is True for one whose number no remote holds yet."""
    shared = _numbers_shared(ws)
    for v in ws.jobs.with_registration(versions):
        v.local = shared and v.registered is None
    return versions


def _version_json(v) -> dict:
    return dict(v.to_json(), local=v.local, registered=v.registered)


def _version(ws: Workspace, ref: str):
    name, version = parse_ref(ref)
    return ws.jobs.artifact(name, version)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
@guard
def artifacts(ctx, pipefile, as_json):
    """List the versioned artifacts: outputs and assets with a `name:`, and `pipe asset add`."""
    if ctx.invoked_subcommand:
        hand_down(ctx, pipefile=pipefile, as_json=as_json)
        return
    ws = _workspace(pipefile)
    try:
        summary = ws.jobs.artifact_summary()
        _with_local(ws, [v for v, _ in summary])
    finally:
        ws.close()
    if as_json:
        dump_json(
            {
                "artifacts": [
                    {
                        "name": v.name,
                        "versions": n,
                        "latest": v.version,
                        "latest_local": v.local,
                        "kind": v.kind,
                        "size": v.size,
                        "digest": v.digest,
                        "job": v.job_id,
                        "step": v.step,
                        "created": v.created,
                    }
                    for v, n in summary
                ]
            }
        )
    else:
        report_artifacts.render_artifacts(summary)


@artifacts.command(context_settings=CONTEXT)
@click.argument("artifact", metavar="NAME[:VERSION]")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def show(artifact, pipefile, as_json):
    """Every version of an artifact, or one version (NAME:VERSION)."""
    ws = _workspace(pipefile)
    try:
        name, version = parse_ref(artifact)
        if version is None and ":" not in artifact:
            ws.jobs.artifact(name)  # an unknown name: the error, with did-you-mean
            versions = _with_local(ws, ws.jobs.artifacts(name))
            one = None
        else:
            one = _with_local(ws, [ws.jobs.artifact(name, version)])[0]
    finally:
        ws.close()
    if one is not None:
        if as_json:
            dump_json(_version_json(one))
        else:
            report_artifacts.render_version(one)
    elif as_json:
        dump_json({"name": name, "versions": [_version_json(v) for v in versions]})
    else:
        report_artifacts.render_versions(name, versions)


@artifacts.command(context_settings=CONTEXT)
@click.argument("artifact", metavar="NAME[:VERSION]")
@click.option(
    "-o",
    "--output",
    "dest",
    required=True,
    type=click.Path(),
    help="Where to write it: a path that does not exist yet.",
)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def get(artifact, dest, pipefile, as_json):
    """Write a version (default: the latest) to -o PATH, from the store; runs nothing."""
    ws = _workspace(pipefile)
    try:
        v = _version(ws, artifact)
        get_artifact(ws, v, dest)
    finally:
        ws.close()
    if as_json:
        dump_json(dict(v.to_json(), written=dest))
    else:
        click.echo(
            f"wrote {v.ref} ({report_artifacts.KIND_TEXT.get(v.kind, v.kind)}, "
            f"{report_artifacts.format_size(v.size)}) to {dest}"
        )


@click.group(context_settings=CONTEXT)
def asset():
    """Register external data as versioned assets."""


@asset.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path())
@click.option("--name", "name", required=True, help="The artifact name: NAME:1, NAME:2, ...")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def add(path, name, pipefile, as_json):
    """Store PATH (a file or folder) as a new version of asset NAME when its content is new."""
    ws = _workspace(pipefile, create=True)
    try:
        # Held while the content goes into the store: a `pipe gc` meanwhile would see
        # objects that no version names yet, and delete them.
        ws.lock.acquire(on_wait=lambda m: click.echo(m, err=True))
        v, new = add_asset(ws, path, name)
    finally:
        ws.close()
    if as_json:
        dump_json(dict(v.to_json(), new=new))
    elif new:
        click.echo(
            f"added {v.ref} ({report_artifacts.KIND_TEXT.get(v.kind, v.kind)}, "
            f"{report_artifacts.format_size(v.size)}, {v.digest[:12]}) from {path}"
        )
    else:
        click.echo(f"{v.ref} already holds this content ({v.digest[:12]}); no new version")


@click.command(context_settings=CONTEXT)
@click.argument("target", metavar="NAME[:VERSION] | OUTPUT_PATH")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print the lineage tree as JSON.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
    help="How to draw it.",
)
@guard
def lineage(target, pipefile, as_json, fmt):
    """Show what produced an artifact version or an output: each step's job, command,
    params, environment and code, and each input's version or digest, down to the sources."""
    ws = _workspace(pipefile)
    try:
        tree = _lineage(ws, target)
    finally:
        ws.close()
    if as_json:
        dump_json(report_artifacts.lineage_json(tree))
    else:
        click.echo(report_artifacts.render_lineage(tree, fmt), nl=False)


def _lineage(ws: Workspace, target: str) -> dict:
    builder = Lineage(ws.jobs, action_manifest(ws.actions))
    if looks_like_ref(ws.jobs, target) and not (":" in target and os.path.lexists(target)):
        return builder.of_version(_version(ws, target))
    ap = os.path.abspath(target)
    rel = os.path.relpath(ap, ws.root).replace(os.sep, "/")
    if rel == ".." or rel.startswith("../"):
        raise PipefileError(
            f"'{target}' lies outside the workspace {ws.root}",
            hint="give an output path of this workspace, or an artifact NAME[:VERSION]",
        )
    # No step writes these, and reading them to say so hashed the whole workspace or store
    # (`pipe lineage .pipe`: 10 s over a long history; `''` read as '.').
    if not target or rel == "." or rel == ".pipe" or rel.startswith(".pipe/"):
        what = (
            "is empty" if not target else "is the workspace itself" if rel == "." else "is in .pipe/, pipe's own folder"
        )
        raise PipefileError(
            f"'{printable(target)}' {what}: no step writes there",
            hint="give an output path of this workspace, or an artifact NAME[:VERSION]",
        )
    if not os.path.lexists(ap) and "/" not in target and ws.jobs.newest_step_with_output(path=rel) is None:
        choices = ws.jobs.artifact_names() + ws.jobs.output_paths()
        raise PipefileError(
            f"no artifact or output '{target}'",
            hint=did_you_mean(target, choices, "artifact and output")
            if choices
            else "nothing has been recorded yet: run `pipe run` first",
        )
    content = None
    if os.path.lexists(ap):
        # (a FIFO waited for a writer for ever, a link to /dev/zero was read for ever)
        d = Hasher(ws.root, ws.state.stat_cache()).digest(rel, data_only=True)
        if d is None and os.path.exists(ap):
            raise PipefileError(
                f"'{printable(target)}' is not a file or folder (a FIFO, socket or device): no step writes one",
                hint="give an output path of this workspace, or an artifact NAME[:VERSION]",
            )
        if d is not None:
            content = {"kind": d.kind, "digest": d.digest, "size": d.size}
    return builder.of_output(rel, content)
