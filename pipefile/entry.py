"""The `pipe` console script. Imports happen inside, so that Ctrl-C while Python is
still starting up exits with 130 like any other interruption, not with a traceback.

`pipe --version` alone is answered here, before click (a third of a second's start-up
budget) is imported: the answer is click's own, from the same message and version the
group's --version option is declared with, so the two cannot differ. So are the usual forms
of `pipe run` and `pipe status` (cli/fast.py: only options of the table their click commands
are built from; any other command line goes to click)."""

import sys


def _closed_standard_streams(argv: list) -> None:
    """A standard stream closed when pipe started (`pipe run >&-`, some service managers) is
    /dev/null from here on: Python leaves it None (every line printed was an internal error),
    and the next file opened would take its number (a step's command writing "stdout" into
    it). A shell script started on the way (pyenv's shim, a wrapper) may have opened itself on
    the closed number, read-only, which Python takes for the stream: every message then failed
    (EBADF) and the run ended `interrupted`. That number is /dev/null too. `pipe --version`
    skips the check (fcntl costs it a twentieth of its start; a command imports it anyway)."""
    import os

    wrong_way: tuple = ()
    if argv != ["--version"]:
        import fcntl

        def opened_for(fd: int) -> int:
            try:
                return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            except OSError:
                return -1

        wrong_way = tuple(fd for fd in (1, 2) if opened_for(fd) == os.O_RDONLY)
        if opened_for(0) == os.O_WRONLY:
            wrong_way = (0, *wrong_way)
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is None or fd in wrong_way:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, closefd=False))


def main() -> None:
    _closed_standard_streams(sys.argv[1:])
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
