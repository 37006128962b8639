"""Errors to exit codes, in one place: 0 ok, 1 a step failed, 2 bad usage or input,
130 interrupted, 70 only for a real bug. Every command is wrapped in `guard`; the group
sets `State.debug` from --debug."""

from __future__ import annotations

import functools
import os
import sys

import click

from ..errors import PipefileError, PipefileErrors
from ..outcomes import ExitCode


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
        click.echo(printable_lines(e.render() if plain else f"error: {e.render()}"), err=True)
        sys.exit(e.exit_code)
    if isinstance(e, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    if State.debug:
        import traceback

        traceback.print_exc()
    else:
        click.echo(f"internal error: {e!r} (run with --debug for the traceback)", err=True)
    sys.exit(ExitCode.INTERNAL_ERROR)


def guard(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemExit:
            raise
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except BaseException as e:  # noqa: BLE001 - mapped to exit codes here, once
            from ..workspace.lock import disk_error, is_disk_error  # only on this path: start-up pays nothing

            if is_disk_error(e):  # pipe's own files could not be written: the user's to fix, not a bug
                e = disk_error(e)
            if State.debug and not isinstance(e, (PipefileError, KeyboardInterrupt)):
                import traceback

                traceback.print_exc()
                sys.exit(ExitCode.INTERNAL_ERROR)
            fail(e)

    return wrapper
