"""`pipe help [TOPIC]`: the documentation pages shipped with pipe, read in the terminal."""

from __future__ import annotations

import sys

import click

from .. import docpages
from ..errors import PipefileError
from .guard import guard
from .options import CONTEXT


@click.command(context_settings=CONTEXT)
@click.argument("topic", required=False)
@click.pass_context
@guard
def help(ctx, topic):  # noqa: A001 - the command is called help
    """Print the documentation page TOPIC (e.g. `pipe help pipefile`); alone: list the topics.
    A command's name shows its --help where no page has that name."""
    if not topic:
        click.echo("Topics (pipe help TOPIC):")
        listed = docpages.pages()
        width = max((len(p.topic) for p in listed), default=0)
        for p in listed:
            click.echo(f"  {p.topic:<{width}}  {p.title}")
        click.echo("\nEach command also has its own --help (e.g. pipe run --help).")
        return
    try:
        text = docpages.read(topic)
    except PipefileError:
        # no page of that name: a command's name shows its --help
        group = ctx.parent.command if ctx.parent else None
        command = group.get_command(ctx, topic) if group is not None else None
        if command is None:
            raise
        with click.Context(command, info_name=topic, parent=ctx.parent) as sub:
            click.echo(command.get_help(sub))
        return
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)
