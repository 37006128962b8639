"""What `pipe run` and `pipe status` need from a command line framework, without one: text
to stdout or stderr, and a usage mistake as an exception. Their bodies use these, so that
`entry.py` can run them without importing click (about a fifth of a no-op's start-up); the
click commands turn a `UsageProblem` into click's own `UsageError` (usage line and exit 2)."""

from __future__ import annotations

import sys


class UsageProblem(Exception):
    """Flags that cannot go together: shown as click shows a UsageError (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def echo(message: str = "", err: bool = False, nl: bool = True) -> None:
    """click.echo for text: written, then flushed (a pipe reader sees each line as it comes)."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # (pythonw: no console, as click.echo allows)
        return
    stream.write(message + "\n" if nl else message)
    stream.flush()
