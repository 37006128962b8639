"""What a save shows and checks: the unified diff of an edit, and the digest of the file's
bytes (the "changed on disk since it was loaded" check)."""

from __future__ import annotations

import difflib
import hashlib


def digest_of(data: bytes) -> str:
    """sha256 hex of the file's bytes, as `GET /api/pipeline` reports them."""
    return hashlib.sha256(data).hexdigest()


def unified_diff(old: str, new: str, path: str = "Pipefile") -> str:
    """The change from `old` to `new` as `diff -u` shows it (a/PATH, b/PATH); "" when none.
    Line endings are shown as they are (a CRLF file's lines keep their \\r)."""
    if old == new:
        return ""
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
