"""The `pipe` group: global flags (-C, --debug, --version), SIGTERM and SIGHUP as an interruption, and
the table of which module holds which command. A command's module is imported only when
that command is asked for (or for its own --help): `pipe run` and `pipe status` do not pay
for loading the rest of the CLI, and `pipe --help` lists the commands from COMMAND_SUMMARIES."""

from __future__ import annotations

import importlib
import os

import click

from .. import VERSION_MESSAGE, __version__
from .guard import State, stop_on_signals
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

# command -> the start of its help that `pipe --help` lists (up to its first word ending in
# "." in its first paragraph: click shortens no further), so that the listing imports no
# command module; tests/test_cli_commands.py checks it against each command's own help.
COMMAND_SUMMARIES = {
    "run": "Bring TARGETS (steps or output paths; default: all) up to date.",
    "status": "Say, per step, whether it is fresh, must run (and why), will be restored, or waits.",
    "validate": "Check the Pipefile and report every problem at once (exit 2 if any).",
    "dag": "Draw the pipeline's graph.",
    "jobs": (
        "List recent jobs (every `pipe run` is one), newest first; jobs in which nothing ran or was restored "
        "(every step fresh) are hidden unless --all."
    ),
    "logs": "Print the logs of a job's steps (or of one STEP).",
    "artifacts": "List the versioned artifacts: outputs and assets with a `name:`, and `pipe asset add`.",
    "asset": "Register external data as versioned assets.",
    "lineage": (
        "Show what produced an artifact version or an output: each step's job, command, params, environment "
        "and code, and each input's version or digest, down to the sources."
    ),
    "metrics": "The metrics that steps recorded (`metrics: [FILE]`), per job and across jobs.",
    "params": "The params that jobs ran with.",
    "sweep": "The trials of a step with `sweep:`.",
    "clone": "Write JOB's Pipefile, params, code and source data out as a new workspace.",
    "gc": "Delete stored objects and run-cache entries that nothing kept needs.",
    "verify": "Rehash every stored object; quarantine any that no longer matches its digest.",
    "recover": "Get back content pipe saved before replacing it (a hand-edited output).",
    "remote": "Manage remotes: stores shared between machines (s3, sftp, gs, az, a path, http read-only).",
    "push": "Upload the outputs and run-cache entries of STEPS (default: every step built here) that the remote lacks.",
    "pull": (
        "Download into the store what the remote has for STEPS (default: every step) as they are now: decided"
        " against the remote's run cache first, then only the missing objects move, each verified."
    ),
    "envs": (
        "List the Pipefile's environments: identity, built or not, size, the steps that use them; and the "
        "unused builds in the store."
    ),
    "components": "The components steps can use: std/NAME@MAJOR from the std library, and the Pipefile's own.",
    "publish": "Snapshot the pipeline as a new deployment of an endpoint.",
    "endpoints": "List the endpoints published from this workspace.",
    "serve": "Serve this workspace's endpoints over REST (under /v1; OpenAPI at /v1/openapi.json).",
    "invoke": "Run ENDPOINT on a `pipe serve` server with these inputs.",
    "token": "Create, list and revoke the tokens `pipe serve` accepts.",
    "help": "Print the documentation page TOPIC (e.g.",
    "init": (
        "Write a runnable project into DIRECTORY (default: here): a Pipefile, its code and data, a .gitignore"
        " block for pipe's outputs and state, and a pre-commit config."
    ),
    "deploy": "Deploy a model folder for real-time scoring as NAME.",
    "import": "Write a Pipefile from another tool's pipeline.",
    "export": "Write the Pipefile of the pipeline a Python module defines (its `pipeline`, or NAME).",
    "deployments": "List the real-time deployments of this workspace (pipe deploy).",
    "report": (
        "Write the page of a JOB: its graph coloured by outcome, params, metrics and charts, the change since"
        " the previous job of its experiment, and the end of failed steps' logs."
    ),
    "ui": "Open the designer: see, edit and run the pipeline, watch, compare and clone jobs.",
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

    def format_commands(self, ctx, formatter):
        """As click lists them, a command not imported yet by its COMMAND_SUMMARIES line."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is None and name in COMMAND_SUMMARIES:
                cmd = click.Command(name, help=COMMAND_SUMMARIES[name])  # shortened as the real one is
            elif cmd is None:
                cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])


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
    stop_on_signals()
