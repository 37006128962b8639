"""Errors raised deep in pipefile and rendered only by the CLI.

Every user-facing error carries where it happened (a `SourceLoc`, when the
problem is in a file), what is wrong, and a hint that says how to fix it.
Each error class says which exit code it ends in (outcomes.ExitCode).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .lazyclass import dataclass
from .outcomes import ExitCode


@dataclass(frozen=True, order=True)
class SourceLoc:
    """A position in a file: 1-based line and column, as editors show them."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class PipefileError(Exception):
    """A problem the user can fix: bad Pipefile, bad flag, missing file.

    Exits with USAGE (2) unless a subclass says otherwise.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, loc: SourceLoc | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def render(self) -> str:
        head = f"{self.loc}: {self.message}" if self.loc else self.message
        return head + (f"\n  hint: {self.hint}" if self.hint else "")

    def __str__(self) -> str:
        return self.render()


class PipefileErrors(PipefileError):
    """Several validation errors, reported together so the user fixes them in one go."""

    def __init__(self, errors: Sequence[PipefileError]):
        self.errors = sorted(errors, key=lambda e: (e.loc or SourceLoc(""), e.message))
        super().__init__(f"{len(self.errors)} error(s)")

    def render(self) -> str:
        lines = [e.render() for e in self.errors]
        if len(self.errors) > 1:
            lines.append(f"{len(self.errors)} errors.")
        return "\n".join(lines)


class StepFailed(PipefileError):
    """A step's command failed, or broke the rules while running."""

    exit_code = ExitCode.STEP_FAILED


class WorkspaceBusy(PipefileError):
    exit_code = ExitCode.BAD_INPUT


def did_you_mean(word: str, choices: Iterable[str], what: str = "") -> str | None:
    """A hint naming the closest choice, or listing the choices when none is close."""
    import difflib  # only when there is something to suggest

    choices = sorted(set(choices))
    # The word itself is no suggestion: where it is a choice, something else is wrong.
    close = difflib.get_close_matches(word, _could_match(word, choices, 0.6), n=1, cutoff=0.6)
    from .printable import printable  # (a choice may be a task's name: a value's line break in it forged a line)

    if close:
        return f"did you mean '{printable(close[0])}'?"
    if not choices:
        return None
    shown = ", ".join(f"'{printable(c)}'" for c in choices[:12])
    more = ", ..." if len(choices) > 12 else ""
    return f"known {what + ' ' if what else ''}names: {shown}{more}"


def _could_match(word: str, choices: list, cutoff: float) -> list:
    """The choices (not `word`) whose difflib quick_ratio against `word` reaches `cutoff`,
    computed as difflib does (the same integer matches, the same float) but from counted
    letters: get_close_matches then gives the same answer, and 20,000 output paths took it
    0.6 s of quick_ratio in Python, letter by letter."""
    from collections import Counter

    counts = Counter(word)
    out = []
    for c in choices:
        if c == word or 2.0 * min(len(c), len(word)) / (len(c) + len(word) or 1) < cutoff:
            continue  # (difflib's real_quick_ratio bound: no count needed)
        matches = sum(min(n, counts[ch]) for ch, n in Counter(c).items() if ch in counts)
        if 2.0 * matches / (len(c) + len(word)) >= cutoff:
            out.append(c)
    return out


def raise_all(errors: list[PipefileError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PipefileErrors(errors)


def seconds_from_env(name: str, default: float, error: type = PipefileError) -> float:
    """A positive number of seconds from the environment variable `name` (`default` when it
    is unset or blank), read when it is needed: anything else is `error` (a PipefileError
    class) naming the variable and the fix, never an internal error at import."""
    import os

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise error(
            f"{name}={text!r} is not a number of seconds",
            hint=f"set it to a positive number (default {default:g}), or unset it",
        )
    return value
