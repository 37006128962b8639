"""`pipe init`: start a project from a template, or refresh pipe's block of .gitignore."""

from __future__ import annotations

import os
import shlex

import click

from .. import scaffold
from ..errors import PipefileError
from ..load import DEFAULT_NAMES
from .guard import guard
from .options import CONTEXT


@click.command(context_settings=CONTEXT)
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "-t", "--template", "template_name", metavar="NAME", help=f"The template (default: {scaffold.DEFAULT_TEMPLATE})."
)
@click.option("--list", "list_templates", is_flag=True, help="List the templates and exit.")
@click.option("--force", is_flag=True, help="Replace files of the template that exist already.")
@guard
def init(directory, template_name, list_templates, force):
    """Write a runnable project into DIRECTORY (default: here): a Pipefile, its code and data,
    a .gitignore block for pipe's outputs and state, and a pre-commit config. In a folder that
    has a Pipefile and no --template, refresh the .gitignore block from its outputs only."""
    if list_templates:
        listed = scaffold.templates()
        width = max(len(t.name) for t in listed)
        for t in listed:
            click.echo(f"{t.name:<{width}}  {t.description}")
        return
    has_pipefile = any(os.path.isfile(os.path.join(directory, n)) for n in DEFAULT_NAMES)
    if has_pipefile and not template_name:
        said = scaffold.refresh_gitignore(directory)
        click.echo(f".gitignore {said}: pipe's block lists .pipe/ and the Pipefile's outputs")
        return
    if not directory:
        raise PipefileError("pipe init was given an empty folder name", hint="e.g. pipe init my-project")
    try:
        os.makedirs(directory, exist_ok=True)
        written = scaffold.init(directory, template_name or scaffold.DEFAULT_TEMPLATE, force=force)
    except OSError as e:  # (a file on its way, /proc, no permission: the user's to fix, not a bug)
        # (a file replaced whole fails at its rename, whose second name is the file's own: the
        # first is a hidden temporary the user never made)
        where = next((f for f in (e.filename2, e.filename) if isinstance(f, str)), directory)
        raise PipefileError(
            f"cannot write the project into {directory!r} ({where}: {e.strerror or e})",
            hint="give a folder pipe can make or write, e.g. pipe init my-project",
        ) from None
    where = "" if os.path.abspath(directory) == os.getcwd() else f" in {directory}"
    click.echo(f"wrote{where} ({written.template.name} template):")
    for rel in written.files:
        click.echo(f"  {rel}")
    click.echo(f"  .gitignore ({written.gitignore}: .pipe/ and the outputs)")
    missing = written.template.missing_packages()
    if missing:
        click.echo(f"this template's steps need {', '.join(missing)}: pip install {' '.join(missing)}")
    if written.nested_in:
        click.echo(
            f"note: pre-commit reads .pre-commit-config.yaml at the top of the repository ({written.nested_in}): "
            "move the hooks written here into it (they run pipe -C on this folder)"
        )
    outer = _workspace_above(directory)
    if outer:
        # Commands find the nearest Pipefile: from here on this one hides the outer one
        # (say it, rather than let `pipe run` here later run another pipeline unannounced).
        here = os.path.relpath(os.path.abspath(directory))
        here = "this folder" if here == "." else here
        shown = os.path.relpath(outer)
        click.echo(
            f"warning: {here} is inside the workspace of {shown}: pipe commands run in {here} or below now use "
            f"the Pipefile written here, not {shown}; reach that one with "
            f"pipe -C {shlex.quote(os.path.dirname(shown) or '.')}, or remove this folder's Pipefile to go back",
            err=True,
        )
    # Quoted, so that the line can be pasted into a shell as it is (a name with a space, `!`, `$`).
    folder = directory if not directory.startswith("-") else os.path.join(".", directory)
    go = "" if not where else f"cd {shlex.quote(folder)} && "
    click.echo(f"next: {go}pipe run")


def _workspace_above(directory: str) -> str:
    """The Pipefile that commands run in `directory` found before `pipe init` wrote one there
    (the nearest above, as load.find_pipefile looks); "" if none, or if `directory` is the
    top of a git repository (what is above it is another project)."""
    from ..load import find_pipefile

    target = os.path.abspath(directory)
    if os.path.lexists(os.path.join(target, ".git")):
        return ""
    try:
        found = find_pipefile(os.path.dirname(target))
    except PipefileError:
        return ""
    return found if os.path.isfile(found) else ""
