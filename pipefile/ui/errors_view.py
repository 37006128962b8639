"""A PipefileError as the designer's JSON: where (file, line, column), what, the fix, and
the step it concerns when the message names one."""

from __future__ import annotations

import re
from typing import Optional

from ..errors import PipefileError, PipefileErrors

_STEP = re.compile(r"step '([^']+)'")


class Refusal(PipefileError):
    """A request the designer refuses, with the HTTP status it answers (404, 409, ...);
    `extra`: more fields beside `error` in the body (a save conflict's diff)."""

    def __init__(self, status: int, message: str, hint: Optional[str] = None, extra: Optional[dict] = None, loc=None):
        super().__init__(message, loc, hint)
        self.status = status
        self.extra = extra or {}


def flatten(e: PipefileError) -> list:
    return list(e.errors) if isinstance(e, PipefileErrors) else [e]


def error_json(e: PipefileError) -> dict:
    loc = e.loc
    m = _STEP.search(e.message)
    return {
        "message": e.message,
        "hint": e.hint,
        "file": loc.file if loc else None,
        "line": loc.line if loc and loc.line > 0 else None,
        "column": loc.column if loc and loc.column > 0 else None,
        "step": m.group(1) if m else None,
    }


def errors_json(e: PipefileError) -> list:
    return [error_json(x) for x in flatten(e)]


def error_body(message: str, hint: Optional[str] = None, file: Optional[str] = None, line: Optional[int] = None):
    """The one shape of every refusal of the designer's API (docs/ui.md)."""
    return {"error": {"message": message, "hint": hint, "file": file, "line": line}}


def body_of(e: PipefileError) -> dict:
    """A refusal's body; several errors are said together, located at the first."""
    several = isinstance(e, PipefileErrors) and e.errors
    first = e.errors[0] if several else e
    loc = first.loc
    return error_body(
        e.render() if several else e.message,
        first.hint,
        loc.file if loc else None,
        loc.line if loc and loc.line > 0 else None,
    )
