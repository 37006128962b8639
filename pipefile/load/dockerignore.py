"""`.dockerignore` patterns, matched as Docker matches them, without the Docker SDK: the
loader checks declared output paths against them (checks.check_build_contexts), and a
Pipefile without Docker environments must load where the SDK is not installed.

Docker's rules: a pattern is a cleaned path relative to the folder (a leading `/` or `./`
means nothing); `*` and `?` stay within one path component, `**` spans any number of them;
a pattern that matches a folder leaves out everything under it; a `!` line brings back what
it matches; the last matching line wins.
"""

from __future__ import annotations

import posixpath
import re


def read_patterns(path: str) -> list:
    """The lines of a .dockerignore file (none if it cannot be read), comments left out."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [x for x in (line.strip() for line in lines) if x and not x.startswith("#")]


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
        if not text or negative != left_out:
            continue
        if "**" in text:
            return False  # (may reach any depth)
        pieces = text.split("/")
        # A pattern no deeper than `folder` decides its paths by `folder` or a folder above.
        if len(pieces) > depth and all(_pattern(pc).match(name) for pc, name in zip(pieces, parts)):
            return False
    return True


def _clean(text: str) -> str:
    text = posixpath.normpath(text.strip()).lstrip("/")
    return "" if text == "." else text


_CACHE: dict = {}


def _pattern(text: str) -> "re.Pattern[str]":
    rx = _CACHE.get(text)
    if rx is None:
        rx = _CACHE[text] = re.compile(_translate(text) + r"\Z")
    return rx


def _translate(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "*":
            if text.startswith("**", i):
                i += 2
                if text.startswith("/", i):
                    i += 1
                    out.append("(?:.*/)?")  # `**/`: any number of folders, none too
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(text[i]))
        elif c == "[":
            end = text.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = text[i + 1 : end]
                if body.startswith(("!", "^")):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
