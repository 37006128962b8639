"""A regular expression compiled when first used. Compiling one costs ~0.1 ms; the modules a
no-op `pipe run` imports declare dozens it never uses (template forms, metric keys, sizes...),
so each is compiled by its first match instead of at import."""

from __future__ import annotations

import re
from typing import Any


class Pattern:
    """`re.compile(pattern, flags)`'s methods and attributes, the pattern compiled on first use."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        # Only for what is not set yet: the compiled pattern's bound method (match, sub ...)
        # is kept on this object, so later calls find it directly.
        value = getattr(re.compile(*self._source), name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"lazyre.Pattern({self._source[0]!r})"
