"""The `pipe` console script. Imports happen inside, so that Ctrl-C while Python is
still starting up exits with 130 like any other interruption, not with a traceback."""

import sys


def main() -> None:
    try:
        from .cli.app import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()
