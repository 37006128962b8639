"""`pipe run` and `pipe status` without click, for the command lines they are mostly given
(a pre-commit hook's `pipe run`, CI's `pipe status --check`): importing click is about a fifth
of a no-op run's start-up.

`parse` reads a command line only when every word of it is a target or an option of the
command's table in cli/flags.py, the same table its click command is built from, and only as
click would read it (`--jobs=3`, `-j3`, `-f FILE`, a repeated option, `--` before targets). For
anything else (another option, `--help`, flags run together, a value click would refuse) it
returns None and entry.py hands the whole command line to click, so help texts and error
messages stay click's. tests/test_fast_cli.py parses many command lines both
ways and compares."""

from __future__ import annotations

import os
import stat
import sys

from . import flags

COMMANDS = {"run": flags.RUN, "status": flags.STATUS}


def parse(argv: list) -> dict | None:  # (no typing import: start-up, noop_record.py)
    """The keywords of the command named by argv[0] (run or status), or None: click's to parse."""
    table = COMMANDS.get(argv[0]) if argv else None
    if table is None or "_PIPE_COMPLETE" in os.environ:  # (click's shell completion)
        return None
    by_decl = {d: opt for opt in table for d in opt.decls}
    values: dict = {opt.dest: opt.default for opt in table}
    targets: list = []
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            targets.extend(words[i:])
            break
        if word[:1] != "-" or word == "-":
            targets.append(word)
            continue
        name, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        opt = by_decl.get(name)
        if opt is None and not word.startswith("--") and len(word) > 2:
            # `-j2`: click reads a short option's value attached to it (a flag's letters
            # run together, `-qk`, go to click)
            opt = by_decl.get(word[:2])
            if opt is None or opt.kind == flags.FLAG:
                return None
            eq, attached = "=", word[2:]
        if opt is None:
            return None
        if opt.kind == flags.FLAG:
            if eq:
                return None  # click: "Option '--json' does not take a value."
            values[opt.dest] = True
            continue
        if eq:
            value = attached
        elif i < len(words):
            value, i = words[i], i + 1  # (click takes the next word, whatever it looks like)
        else:
            return None  # click: "Option '-f' requires an argument."
        if opt.kind == flags.MULTI:
            values[opt.dest] += (value,)
            continue
        if not _acceptable(opt.kind, value):
            return None
        values[opt.dest] = int(value) if opt.kind == flags.COUNT else value
    values["targets"] = tuple(targets)
    if values.get("quiet") and values.get("verbose"):
        return None  # a usage error, with click's usage line
    return values


def _acceptable(kind: str, value: str) -> bool:
    """Whether click takes the value as is (it converts or refuses the rest)."""
    if kind == flags.COUNT:
        return value.isascii() and value.isdigit() and int(value) >= 1  # (click's int() takes more: it goes to click)
    if kind == flags.PATH:  # click.Path(dir_okay=False): a folder, or a file it cannot read, is refused
        if not value:
            return False  # (options.PipefilePath refuses an empty name)
        try:
            st = os.stat(value)
        except (OSError, ValueError):
            return True
        return not stat.S_ISDIR(st.st_mode) and os.access(value, os.R_OK)
    return True


def run(argv: list, values: dict) -> None:
    """What the group and the click command would do with these parsed values; exits."""
    recording = None
    if argv[0] == "run":
        from .. import noop_record

        if noop_record.try_fast(argv, values):  # everything fresh, as the last run left it
            sys.exit(0)
        if noop_record.plain(values):  # this run may leave such a record (traced: noop_trace.py)
            from .. import noop_trace

            recording = noop_trace.Recording(argv)

    import gc

    # Importing the command's modules makes no garbage worth a collection: the cyclic GC's
    # passes over the new modules' objects are ~1.5% of a no-op's start-up.
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .console import UsageProblem
        from .guard import State, guard, stop_on_signals

        if argv[0] == "run":
            from .run_action import run_command as command
        else:
            from .status_action import status_command as command
    finally:
        if enabled:
            gc.enable()
    State.debug = False
    stop_on_signals()

    if recording is not None:
        recording.start()
    try:
        guard(command)(**values)
    except UsageProblem as e:
        if recording is not None:
            recording.stop()
        _show_usage_error(argv, e.message)
    finally:
        if recording is not None:
            recording.stop()
    sys.exit(0)


def _show_usage_error(argv: list, message: str) -> None:
    """A usage mistake only the command's body finds, shown in click's words (exit 2)."""
    import click

    from .app import main as group

    ctx = group.make_context(None, list(argv), resilient_parsing=True)
    command = group.get_command(ctx, argv[0])
    sub = command.make_context(argv[0], list(argv[1:]), parent=ctx, resilient_parsing=True)
    click.UsageError(message, sub).show()
    sys.exit(2)
