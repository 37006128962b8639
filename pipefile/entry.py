"""The `pipe` console script. Imports happen inside, so that Ctrl-C while Python is
still starting up exits with 130 like any other interruption, not with a traceback.

`pipe --version` alone is answered here, before click (a third of a second's start-up
budget) is imported: the answer is click's own, from the same message and version the
group's --version option is declared with, so the two cannot differ."""

import sys


def main() -> None:
    try:
        if sys.argv[1:] == ["--version"]:
            from . import VERSION_MESSAGE, __version__

            sys.stdout.write(VERSION_MESSAGE % {"prog": "pipe", "version": __version__} + "\n")
            sys.stdout.flush()
            return
        from .cli.app import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()
