"""`pipe ui`: the designer in the browser, served from this machine (pipefile/ui/)."""

from __future__ import annotations

import os

import click

from .guard import guard
from .options import CONTEXT, azureml_options, file_option, positive_duration


@click.command(context_settings=CONTEXT)
@file_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="The address to listen on (loopback, unless --allow-remote)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="The port (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host that is not loopback (the token is still needed).")
@click.option("--token", envvar="PIPE_UI_TOKEN", help="The token the URL carries (default: a random one).")
@click.option(
    "--idle-timeout",
    default="60s",
    show_default=True,
    help="A connection on which no request begins for this long is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Connections held at once; one more is closed as it opens. Default: 3/4 of the open-file limit.",
)
@azureml_options
@guard
def ui(pipefile, host, port, no_browser, allow_remote, token, idle_timeout, max_connections):
    """Open the designer: see, edit and run the pipeline, watch, compare and clone jobs.

    Prints `pipe ui: http://127.0.0.1:PORT/?token=TOKEN` and serves until Ctrl-C. A Pipefile
    that does not load is still shown, with its errors."""
    from ..errors import PipefileError
    from ..load import find_pipefile
    from ..load.pymodule import split_ref
    from ..ui.server import check_host, serve

    check_host(host, allow_remote)  # before anything else: a refused address is bad usage
    idle = positive_duration(idle_timeout, "--idle-timeout")
    if pipefile is None:
        pipefile = find_pipefile(".")
    elif not os.path.isfile(split_ref(pipefile)[0]):  # (build.py:NAME names a pipeline in build.py)
        if os.path.exists(split_ref(pipefile)[0]):  # (/dev/null, a FIFO: "no file" was wrong)
            raise PipefileError(f"'{pipefile}' is not a regular file", hint="-f names the Pipefile to open")
        raise PipefileError(f"there is no file '{pipefile}'", hint="-f names the Pipefile to open")
    serve(
        pipefile,
        host,
        port,
        token,
        allow_remote,
        open_browser=not no_browser,
        idle_timeout=idle,
        max_connections=max_connections,
    )
