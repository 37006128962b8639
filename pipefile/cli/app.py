"""The `pipe` group: global flags (-C, --debug, --version), SIGTERM as an interruption, and
the table of which module holds which command. A command's module is imported only when
that command is asked for (or for --help): `pipe run` and `pipe status` do not pay for
loading the rest of the CLI."""

from __future__ import annotations

import importlib
import os
import signal

import click

from .. import VERSION_MESSAGE, __version__
from .guard import State
from .options import CONTEXT

# command -> module of pipefile.cli that defines it, as a top-level click command of that name
LAZY_COMMANDS = {
    "run": "run",
    "status": "plan",
    "validate": "plan",
    "dag": "plan",
    "jobs": "jobs",
    "logs": "jobs",
    "artifacts": "artifacts",
    "asset": "artifacts",
    "lineage": "artifacts",
    "metrics": "metrics",
    "params": "metrics",
    "sweep": "sweep",
    "clone": "store",
    "gc": "store",
    "verify": "store",
    "recover": "store",
    "remote": "remote",
    "push": "remote",
    "pull": "remote",
    "envs": "envs",
    "components": "components",
    "publish": "serve",
    "endpoints": "serve",
    "serve": "serve",
    "invoke": "serve",
    "token": "serve",
    "help": "help",
    "init": "init",
    "deploy": "deploy",
    "import": "importer",
    "export": "export",
    "deployments": "deploy",
    "report": "report",
    "ui": "ui",
}


class CommandGroup(click.Group):
    """The `pipe` group: each command of LAZY_COMMANDS is imported and added on first use."""

    def get_command(self, ctx, name):
        module = LAZY_COMMANDS.get(name)
        if name not in self.commands and module:
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), name), name)
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        return sorted(set(self.commands) | set(LAZY_COMMANDS))


def _sigterm(signum, frame):
    raise KeyboardInterrupt


@click.group(cls=CommandGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="pipe", message=VERSION_MESSAGE)
@click.option(
    "-C", "--directory", type=click.Path(file_okay=False, exists=True), help="Run as if started in this folder."
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(directory, debug):
    """pipe: a make-like pipeline runner for ML that decides by content, not timestamps."""
    State.debug = debug
    if directory:
        os.chdir(directory)
    signal.signal(signal.SIGTERM, _sigterm)
