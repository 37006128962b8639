"""What the command modules share: the context settings, the options many commands take
(-f/--file, -p/--param, --remote), and what those options resolve to (the workspace a
Pipefile lives in, the remote a --remote names). Command modules import this, never the
group in `app`, so nothing here imports a command."""

from __future__ import annotations

import os

import click

from ..loader import find_pipefile
from ..store import Workspace
from ..store import remotes as remotes_mod

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

file_option = click.option("-f", "--file", "pipefile", type=click.Path(dir_okay=False),
                           help="The Pipefile (default: ./Pipefile).")
param_option = click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
                            help="Set a pipeline param (repeatable).")
remote_flag = click.option(
    "--remote", "remote_name", is_flag=False, flag_value="", default=None, metavar="[NAME]",
    help="Consult this remote's run cache before running anything (a name, or a URL; alone: the default "
         "remote). Write --remote=NAME before step names.")


def workspace_root(pipefile) -> str:
    """The folder of the Pipefile given with -f (default: the one found from here)."""
    path = pipefile or find_pipefile(".")
    return os.path.dirname(os.path.abspath(path))


def open_workspace(pipefile, create: bool = False) -> Workspace:
    return Workspace(workspace_root(pipefile), create=create)


def resolve_remote(graph, name):
    """The remote to consult; `--remote STEP` (the step taken as the remote's name) says how
    to write it instead."""
    try:
        return remotes_mod.resolve(graph.pipefile.root, name)
    except remotes_mod.RemoteConfigError as e:
        if name and name in graph.nodes:
            raise remotes_mod.RemoteConfigError(
                f"no remote '{name}' ('{name}' is a step: --remote takes an optional remote name)",
                hint=f"for the default remote, put --remote after the steps (... {name} --remote), or name the "
                     f"remote with = (--remote=NAME {name})") from e
        raise
