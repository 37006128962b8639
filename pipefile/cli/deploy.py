"""`pipe deploy`, `pipe deployments`: real-time deployments of a model, scored by
`pipe serve` at POST /v1/online/NAME/score (docs/endpoints.md)."""

from __future__ import annotations

import time

import click

from ..jobdb.online import OnlineStore
from ..report import text as report  # report.dump_json
from .guard import guard
from .options import CONTEXT, NUMBER, file_option, hand_down, open_workspace


def _when(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--model",
    "model",
    required=True,
    metavar="ARTIFACT[:VERSION]",
    help="The model folder to serve: an artifact version (default: the newest), e.g. model:3.",
)
@file_option
@click.option("--description", default="", help="What this deployment is (shown by pipe deployments show).")
@click.option("--set-default", is_flag=True, help="Make this version the one POST /v1/online/NAME/score gets.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def deploy(name, model, pipefile, description, set_default, as_json):
    """Deploy a model folder for real-time scoring as NAME.

    The deployment pins the content of the artifact version, so it always serves the
    same model. A new --model version is a new version of NAME; the default moves only
    with --set-default (the first version is the default).
    """
    from ..deploy import deploy as do_deploy

    ws = open_workspace(pipefile)
    try:
        dep, new = do_deploy(ws, name, model, description, set_default)
        default = OnlineStore(ws.jobs).default_of(name)
    finally:
        ws.close()
    if as_json:
        report.dump_json(dict(dep.to_json(default), new=new, default_version=default))
        return
    if new:
        click.echo(f"deployed {dep.model_ref} as '{name}' version {dep.version} ({dep.digest[:12]})")
    else:
        click.echo(f"'{name}' version {dep.version} already serves {dep.model_ref} ({dep.digest[:12]}); nothing new")
    click.echo(
        f"default version: {default}"
        + (
            ""
            if default == dep.version
            else f" (make this one the default: pipe deployments set-default {name} {dep.version})"
        )
    )


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
@guard
def deployments(ctx, pipefile, as_json):
    """List the real-time deployments of this workspace (pipe deploy)."""
    if ctx.invoked_subcommand:
        hand_down(ctx, pipefile=pipefile, as_json=as_json)
        return
    ws = open_workspace(pipefile)
    try:
        s = OnlineStore(ws.jobs)
        defaults = dict(s.names())
        deps = s.deployments()
    finally:
        ws.close()
    if as_json:
        report.dump_json({"deployments": [d.to_json(defaults.get(d.name)) for d in deps]})
        return
    if not deps:
        click.echo("no deployment yet: deploy a model with `pipe deploy NAME --model ARTIFACT[:VERSION]`")
        return
    click.echo(f"{'NAME':<24} {'VERSION':>7}  {'MODEL':<20} {'DIGEST':<12}  {'DEFAULT':<7}  CREATED")
    for d in deps:
        flag = "yes" if defaults.get(d.name) == d.version else ("disabled" if d.disabled else "")
        click.echo(f"{d.name:<24} {d.version:>7}  {d.model_ref:<20} {d.digest[:12]:<12}  {flag:<7}  {_when(d.created)}")


@deployments.command("show", context_settings=CONTEXT)
@click.argument("name")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def deployments_show(name, pipefile, as_json):
    """NAME's versions, its default, and the columns its default's model takes."""
    ws = open_workspace(pipefile)
    try:
        s = OnlineStore(ws.jobs)
        default = s.default_of(name)
        deps = s.deployments(name)
    finally:
        ws.close()
    if as_json:
        report.dump_json({"name": name, "default_version": default, "deployments": [d.to_json(default) for d in deps]})
        return
    click.echo(f"online deployment {name}: POST /v1/online/{name}/score")
    click.echo(f"default version: {default or 'none'}")
    click.echo("versions:")
    for d in deps:
        flags = (" (default)" if d.version == default else "") + (" (disabled)" if d.disabled else "")
        click.echo(f"  {d.version:>3}  {_when(d.created)}  {d.model_ref}  {d.digest[:12]}{flags}  {d.description}")
    current = next((d for d in deps if d.version == default), None)
    if current is not None:
        m = current.model
        click.echo(
            f"model of version {current.version}: {m.get('estimator')} ({m.get('task')}, label {m.get('label')})"
        )
        click.echo(f"  columns: {', '.join(m.get('feature_columns', []))}")


@deployments.command("set-default", context_settings=CONTEXT)
@click.argument("name")
@click.argument("version", type=NUMBER)
@file_option
@guard
def deployments_set_default(name, version, pipefile):
    """Make VERSION the one POST /v1/online/NAME/score gets."""
    ws = open_workspace(pipefile)
    try:
        OnlineStore(ws.jobs).set_default(name, version)
    finally:
        ws.close()
    click.echo(f"online deployment '{name}': default version is now {version}")


@deployments.command("disable", context_settings=CONTEXT)
@click.argument("name")
@click.argument("version", type=NUMBER)
@file_option
@guard
def deployments_disable(name, version, pipefile):
    """Stop serving VERSION (a request for it is refused); if it was the default, the newest enabled one is."""
    ws = open_workspace(pipefile)
    try:
        s = OnlineStore(ws.jobs)
        s.disable(name, version)
        default = s.default_of(name)
    finally:
        ws.close()
    click.echo(f"online deployment '{name}': version {version} disabled; default version: {default or 'none'}")
