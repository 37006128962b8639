"""What a save shows and checks: the unified diff of an edit, and the digest of the file's
bytes (the "changed on disk since it was loaded" check)."""

from __future__ import annotations

import difflib
import hashlib
import re


def digest_of(data: bytes) -> str:
    """sha256 hex of the file's bytes, as `GET /api/pipeline` reports them."""
    return hashlib.sha256(data).hexdigest()


def unified_diff(old: str, new: str, path: str = "Pipefile") -> str:
    """The change from `old` to `new` as `diff -u` shows it (a/PATH, b/PATH); "" when none.
    Line endings are shown as they are (a CRLF file's lines keep their \\r)."""
    if old == new:
        return ""
    lines = unified_lines(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


_CONTEXT = 3  # difflib's (and diff -u's) lines of context
_HUNK = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@")


def unified_lines(a: list, b: list, name_a: str, name_b: str) -> list:
    """difflib.unified_diff(a, b, name_a, name_b) in the time of the changed part: an edit of
    a 10,000-step Pipefile changes a few lines, and difflib's matcher over all of them was
    most of a preview's diff. The lines both texts start and end with, beyond twice the
    context (so nearby hunks still join), are left out of the match and the hunk headers
    count them back in. Where a changed line could be matched in more than one place (a run
    of equal lines) the hunks may place it otherwise than difflib over the whole texts; they
    are still a diff that turns `a` into `b`."""
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    # keep twice the context on each side: hunks closer than that are one hunk, as difflib joins them
    skip = max(0, head - 2 * _CONTEXT)
    keep_tail = max(0, tail - 2 * _CONTEXT)
    mid_a, mid_b = a[skip : len(a) - keep_tail], b[skip : len(b) - keep_tail]
    out = []
    for line in difflib.unified_diff(mid_a, mid_b, name_a, name_b):
        m = _HUNK.match(line) if skip and line.startswith("@@") else None
        if m:
            a_at, b_at = int(m.group(1)) + skip, int(m.group(3)) + skip
            line = f"@@ -{a_at}{m.group(2)} +{b_at}{m.group(4)} @@" + line[m.end() :]
        out.append(line)
    return out
