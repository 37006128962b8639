"""Where in the user's Python a DSL object was made: the file and line an error points at.

A DSL error is raised while the user's module runs (from its own folder), so it keeps the
absolute file (`place`); the loader writes it as messages show files once it is back in the
caller's folder (load/pymodule.py)."""

from __future__ import annotations

import os
import sys
from typing import Optional

from ..errors import PipefileError, SourceLoc

_HERE = os.path.dirname(os.path.abspath(__file__))

# (absolute file, line) of a place in the user's code
Place = tuple


def caller() -> Place:
    """The innermost frame outside this package: the user's call that got us here."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _HERE:
        frame = frame.f_back
    if frame is None:  # (never: something outside the package called in)
        return ("<unknown>", 0)
    return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)


def definition(func) -> Place:
    """Where a function is defined (its `def` line; a decorator's line when it has one)."""
    code = func.__code__
    return (os.path.abspath(code.co_filename), code.co_firstlineno)


def display(place: Optional[Place]) -> Optional[SourceLoc]:
    """The SourceLoc of a place as messages show it (relative to the current folder when below it)."""
    if place is None:
        return None
    path, line = place
    rel = os.path.relpath(path)
    return SourceLoc(rel if not rel.startswith("..") else path, line)


class DslError(PipefileError):
    """A mistake in a DSL module, at the call that made it (exit 2)."""

    def __init__(self, message: str, place: Optional[Place] = None, hint: Optional[str] = None):
        super().__init__(message, None, hint)
        self.place = place if place is not None else caller()
        self.loc = display(self.place)


def inside(path: str, root: str, message: str, place: Optional[Place], hint: str) -> str:
    """`path` relative to the workspace `root`, with `/`; a DslError(message) when it lies
    outside (the step could not read it there, nor its key name it)."""
    rel = os.path.relpath(path, root)
    if rel.startswith("..") or os.path.isabs(rel):
        raise DslError(message, place, hint)
    return rel.replace(os.sep, "/")
