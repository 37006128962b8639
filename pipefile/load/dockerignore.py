"""`.dockerignore` patterns, matched as the Docker SDK matches them (it is what sends a
build its context), without importing it: the loader checks declared output paths against
them (checks.check_build_contexts), and a Pipefile without Docker environments must load
where the SDK is not installed.

The SDK's rules: a pattern is a cleaned path relative to the folder (a leading `/` or `./`
means nothing, `..` takes away the component before it); `*` and `?` stay within one path
component, `**` spans any number of them; a backslash is a plain character (no escapes); a
pattern that matches a folder leaves out everything under it; a `!` line brings back what it
matches; the last matching line wins. A folder left out is not even entered unless a `!`
line starts with its path (`entered`): what lies below it is not sent, whatever matches it.
"""

from __future__ import annotations

import os
import posixpath
import re


def read_patterns(path: str) -> list:
    """The lines of a .dockerignore file (none if it cannot be read), comments left out.
    One that is not UTF-8 is an error: its lines cannot be known, and neither can the context."""
    import stat

    try:
        # (a FIFO is never opened: it would wait for a writer for ever, at every load)
        if not stat.S_ISREG(os.stat(path).st_mode):
            from ..errors import PipefileError

            raise PipefileError(
                f"{path} is not a file (a folder, FIFO, socket or device): its patterns, and so the Docker "
                "build context, cannot be read",
                hint="make it a regular file of patterns, or remove it",
            )
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    except UnicodeDecodeError as e:
        from ..errors import PipefileError

        raise PipefileError(
            f"{path} is not UTF-8 text (byte {e.start}): its patterns, and so the Docker build context, cannot be read",
            hint="save it as UTF-8",
        ) from None
    out = []
    for n, raw in enumerate(lines, 1):
        x = raw.strip()
        if x and not x.startswith("#"):
            _check(x, path, n)
            out.append(x)
    return out


def _check(line: str, path: str, n: int) -> None:
    """A line that is no pattern (`[z-a]`: a range backwards) is an error at its line: the SDK
    fails the build on it, and matching it here was an internal error (exit 70) at load."""
    text = _clean(line[1:] if line.startswith("!") else line)
    try:
        for piece in [text, *text.split("/")]:
            _pattern(piece)
    except re.error as e:
        from ..errors import PipefileError, SourceLoc

        raise PipefileError(
            f"'{line}' is not a pattern Docker can read: {e}",
            SourceLoc(path, n),
            "fix or remove the line (a range in [ ] goes from low to high: [a-z])",
        ) from None


def excluded(patterns: list, rel: str) -> bool:
    """Whether the folder's .dockerignore `patterns` leave path `rel` (relative to the
    folder, '/'-separated) out of the build context."""
    parent = posixpath.dirname(rel)
    parent_parts = parent.split("/") if parent else []
    out = False
    for line in patterns:
        negative = line.startswith("!")
        text = _clean(line[1:] if negative else line)
        if not text:
            continue
        rx = _pattern(text)
        hit = rx.match(rel) is not None
        if not hit and parent_parts:
            n = text.count("/") + 1
            # A pattern that matches a folder above `rel` leaves `rel` out too.
            hit = n <= len(parent_parts) and rx.match("/".join(parent_parts[:n])) is not None
        if hit:
            out = not negative
    return out


def left_out(patterns: list, rel: str) -> bool:
    """Whether the build is not sent path `rel`: the patterns leave it out, or a folder above
    it that the SDK does not enter (`entered`)."""
    parts = rel.split("/")
    for k in range(1, len(parts)):
        folder = "/".join(parts[:k])
        if excluded(patterns, folder) and not entered(patterns, folder):
            return True
    return excluded(patterns, rel)


def decided_above(patterns: list, folder: str, left_out: bool) -> bool:
    """Whether every path inside `folder` (relative, '/'-separated) is left out or kept just
    as `folder` itself is (`left_out`): no pattern that could change that reaches below it
    (for a folder left out, a `!` line; for one kept, any other). Then the folder's content
    can be skipped whole, or taken whole, without matching each path."""
    depth = folder.count("/") + 1
    parts = folder.split("/")
    for line in patterns:
        negative = line.startswith("!")
        text = _clean(line[1:] if negative else line)
        if "**" in text:
            # (may reach any depth; and, of either sign, match a folder but not what is in it:
            # the SDK matches a path's folders only by as many components as the pattern has)
            return False
        if not text or negative != left_out:
            continue
        pieces = text.split("/")
        # A pattern no deeper than `folder` decides its paths by `folder` or a folder above.
        if len(pieces) > depth and all(_pattern(pc).match(name) for pc, name in zip(pieces, parts)):
            return False
    return True


def entered(patterns: list, folder: str) -> bool:
    """Whether the SDK looks inside `folder`, which the patterns leave out: only when a `!`
    line's cleaned text starts with its path (`!data/keep`, for `data`)."""
    return any(line.startswith("!") and _clean(line[1:]).startswith(folder) for line in patterns)


def _clean(text: str) -> str:
    """As the SDK cleans a pattern: no empty or `.` components, `..` takes the one before."""
    parts: list = []
    for part in text.strip().split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/".join(parts)


_CACHE: dict = {}


def _pattern(text: str) -> "re.Pattern[str]":
    rx = _CACHE.get(text)
    if rx is None:
        rx = _CACHE[text] = re.compile(_translate(text) + r"\Z")
    return rx


def _translate(text: str) -> str:
    """A pattern as the SDK's fnmatch translates it (no escapes: a backslash is itself)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c == "*":
            if i < n and text[i] == "*":
                i += 1
                if i < n and text[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(?:.*/)?")  # `**` spans folders, none too
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i
            if j < n and text[j] == "!":
                j += 1
            if j < n and text[j] == "]":
                j += 1
            while j < n and text[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                # (a `[`, `&`, `~` or `|` in it is a plain character: escaped, as Python's re may
                # one day read it as a set operation, and warns of it on every load until then)
                body = re.sub(r"([\\\[&~|])", r"\\\1", text[i:j])
                i = j + 1
                if body[0] == "!":
                    body = "^" + body[1:]
                elif body[0] == "^":
                    body = "\\" + body
                out.append("[" + body + "]")
        else:
            out.append(re.escape(c))
    return "".join(out)
