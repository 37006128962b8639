"""The editor's refusal: which operation, what is wrong, where in the file, and the fix."""

from __future__ import annotations

from typing import Optional

from ..errors import PipefileError, SourceLoc


class EditError(PipefileError):
    """An operation that cannot be applied (unknown step, a taken name, a value of the wrong
    type ...), or, as a bug, an edit whose result would not read back as intended: the file
    is never written then. `index` is the operation's place in the list (0-based)."""

    def __init__(
        self,
        message: str,
        loc: Optional[SourceLoc] = None,
        hint: Optional[str] = None,
        index: Optional[int] = None,
        op: Optional[str] = None,
    ):
        super().__init__(message, loc, hint)
        self.index = index
        self.op = op

    def at(self, index: int, op: str) -> "EditError":
        """The same refusal, naming the operation it came from."""
        if self.index is None:
            self.index, self.op = index, op
            self.message = f"operation {index + 1} ({op}): {self.message}"
            self.args = (self.message,)
        return self


class BadValue(EditError):
    """A value in an operation that no Pipefile value may be (NaN, an infinity, an integer
    longer than the loader reads): bad input itself, whatever it is written into (the
    designer answers it 400, as it does such a value given to a run)."""
