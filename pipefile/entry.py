"""The `pipe` console script. Imports happen inside, so that Ctrl-C while Python is
still starting up exits with 130 like any other interruption, not with a traceback.

`pipe --version` alone is answered here, before click (a third of a second's start-up
budget) is imported: the answer is click's own, from the same message and version the
group's --version option is declared with, so the two cannot differ. So are the usual forms
of `pipe run` and `pipe status` (cli/fast.py: only options of the table their click commands
are built from; any other command line goes to click)."""

import sys


def _closed_standard_streams() -> None:
    """A standard stream closed when pipe started (`pipe run >&-`, some service managers) is
    /dev/null from here on: Python leaves it None (every line printed was an internal error),
    and the next file opened would take its number (a step's command writing "stdout" into
    it)."""
    import os

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is None:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, closefd=False))


def main() -> None:
    if sys.stdout is None or sys.stderr is None or sys.stdin is None:
        _closed_standard_streams()
    out = sys.stdout
    if out is not None and getattr(out, "errors", None) == "strict":
        # A path given on the command line whose name is not UTF-8 is printed back as the bytes
        # it came as (as Python does in the C locale), not an internal error on the way out.
        out.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    try:
        argv = sys.argv[1:]
        if argv == ["--version"]:
            from . import VERSION_MESSAGE, __version__

            sys.stdout.write(VERSION_MESSAGE % {"prog": "pipe", "version": __version__} + "\n")
            sys.stdout.flush()
            return
        if argv and argv[0] in ("run", "status"):
            from .cli import fast

            values = fast.parse(argv)
            if values is not None:
                fast.run(argv, values)
        from .cli.app import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()
