"""Errors to exit codes, in one place: 0 ok, 1 a step failed, 2 bad usage or input,
130 interrupted, 70 only for a real bug. Every command is wrapped in `guard`; the group
sets `State.debug` from --debug. No click here (entry.py's fast path runs `pipe run` and
`pipe status` through `guard` without it): click's own exceptions are let through when click
is loaded, and a `UsageProblem` becomes click's UsageError inside a click command."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import sys

from ..errors import PipefileError, PipefileErrors
from ..outcomes import ExitCode
from .console import UsageProblem, echo


class State:
    debug = False


def fail(e: BaseException) -> None:
    if isinstance(e, BrokenPipeError):  # `pipe jobs | head`: the reader has what it wanted
        try:
            sys.stdout = open(os.devnull, "w")
        finally:
            sys.exit(ExitCode.OK)
    if isinstance(e, PipefileError):
        from ..printable import printable_lines

        plain = e.loc is not None or isinstance(e, PipefileErrors)  # lines that start with file:line
        # Messages quote names from files, records and remotes: no terminal escape gets through.
        echo(printable_lines(e.render() if plain else f"error: {e.render()}"), err=True)
        sys.exit(e.exit_code)
    if isinstance(e, KeyboardInterrupt):
        echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    if State.debug:
        import traceback

        traceback.print_exc()
    else:
        what = repr(e)  # (bounded: an error may quote a whole record)
        what = what if len(what) <= 600 else what[:600] + " ..."
        echo(f"internal error: {what} (run with --debug for the traceback)", err=True)
    sys.exit(ExitCode.INTERNAL_ERROR)


def _cwd_gone() -> bool:
    """Whether this process's current folder was deleted under it (pipe run in a folder that
    `git checkout` or `rm -r` removed): every relative path fails, which was an internal error."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def not_utf8(e: UnicodeEncodeError) -> PipefileError:
    """A word of the command line (or of the environment) that is not UTF-8: Python keeps its
    bytes as surrogates, which nothing stores or prints (SQLite, JSON, a terminal), and that
    was an internal error wherever it got to. It is the user's to fix."""
    text = e.object if isinstance(e.object, str) else ""
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")[:200]
    where = "on the command line" if any(text and text in a for a in sys.argv) else "given to pipe"
    return PipefileError(
        f"'{shown}' ({where}) is not UTF-8 text",
        hint="pipe keeps names, values and paths as UTF-8: write it in UTF-8 (a file's name: rename it, "
        "e.g. convmv -f latin1 -t utf8 --notest FILE)",
    )


def _output_error(e: BaseException) -> PipefileError | None:
    """The error for a full disk met writing pipe's standard output (`pipe jobs > /dev/full`, a
    report redirected to a full disk elsewhere), or None where pipe's own files may be what
    failed: it was told as those failing, with `pipe gc` to free room in the store."""
    if not isinstance(e, OSError) or e.filename is not None:
        return None
    try:
        out = os.fstat(1)
        if stat.S_ISCHR(out.st_mode):
            if out.st_rdev != os.makedev(1, 7):  # (/dev/full: the one device that is always full)
                return None
        elif not stat.S_ISREG(out.st_mode) or out.st_dev == os.stat(".").st_dev:
            return None  # (the workspace's disk: its files may be what failed; that message says the same)
        else:
            room = os.fstatvfs(1)
            if room.f_bavail * room.f_frsize >= 1 << 20:
                return None
    except OSError:
        return None
    # What is left goes nowhere: Python's own flush at exit would fail again, with a traceback.
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    return PipefileError(
        f"pipe's output could not be written to its standard output ({e.strerror or e})",
        hint="send it where there is room (another disk, a pipe or the terminal), then run the command again",
    )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _hung_up(signum, frame):
    # The terminal is gone: what pipe prints from now on (the interruption's report) goes
    # nowhere, instead of failing with EIO half-way through stopping the steps.
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):  # (a file or a pipe it writes to stays: only the terminal went away)
        with contextlib.suppress(OSError):
            if stat.S_ISCHR(os.fstat(fd).st_mode):  # (isatty says no once it has hung up)
                os.dup2(null, fd)
    os.close(null)
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGTERM (kill, CI cancelling a job, docker stop) and SIGHUP (the terminal or the ssh
    session closed) stop a command as Ctrl-C does: running steps are stopped and rolled back,
    the job is recorded interrupted. SIGHUP ended pipe at once, its steps' commands running on
    without it. A signal ignored when pipe started (`nohup pipe run`) stays ignored."""
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _hung_up)


def guard(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001 - mapped to exit codes here, once
            click = sys.modules.get("click")  # (loaded unless this is the fast path)
            if click is not None and isinstance(e, (click.exceptions.Exit, click.ClickException)):
                raise
            if isinstance(e, UsageProblem):
                if click is not None and click.get_current_context(silent=True) is not None:
                    raise click.UsageError(e.message) from None  # click adds the command's usage line
                raise  # the fast path shows it as click would (cli/fast.py)
            from ..workspace.lock import disk_error, is_disk_error  # only on this path: start-up pays nothing

            if is_disk_error(e):  # pipe's own files could not be written: the user's to fix, not a bug
                e = _output_error(e) or disk_error(e)
            elif type(e).__module__ == "sqlite3":  # a damaged or long-locked .pipe/*.db: the user's to fix
                from ..jobdb.busy import database_error

                e = database_error(e) or e
            elif isinstance(e, UnicodeEncodeError) and e.reason == "surrogates not allowed":
                e = not_utf8(e)
            elif isinstance(e, FileNotFoundError) and _cwd_gone():
                e = PipefileError(
                    "the current folder no longer exists (it was removed, or replaced by another of its name)",
                    hint='cd into it again (cd "$PWD"), or run pipe from an existing folder or with -C FOLDER',
                )
            if State.debug and not isinstance(e, (PipefileError, KeyboardInterrupt)):
                import traceback

                traceback.print_exc()
                sys.exit(ExitCode.INTERNAL_ERROR)
            fail(e)

    return wrapper
