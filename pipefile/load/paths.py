"""Workspace paths as a Pipefile writes them: normalised, and refused (with the reason and
a fix) when they leave the workspace, are absolute, or reach into pipe's own `.pipe/`.

Invariant: a path this module accepts is relative, normalised (posix separators, no `.`
or `..` parts), and names something inside the workspace but outside `.pipe/`.
"""

from __future__ import annotations

import posixpath
from typing import Optional

from .. import lazyre
from ..filenames import MAX_BYTES, long_part

STATE_DIR = ".pipe"
_DRIVE = lazyre.Pattern(r"[A-Za-z]:/")  # (matched at the start) a Windows drive: C:/data


def normalize_path(raw: str) -> tuple[Optional[str], Optional[str]]:
    """(normalised workspace-relative path, None) or (None, what is wrong)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "a path must be a non-empty string"
    p = raw.strip().replace("\\", "/")
    if p.startswith("/") or _DRIVE.match(p):
        return None, f"'{raw}' is an absolute path; paths are relative to the Pipefile's folder"
    if "//" in p or "/." in p or p.startswith(".") or p.endswith("/"):
        p = posixpath.normpath(p)  # (else it is normal already: nothing for normpath to fold)
    if p == ".":
        return None, "the workspace root itself cannot be used here"
    if p == ".." or p.startswith("../"):
        return None, f"'{raw}' is outside the workspace (the Pipefile's folder)"
    if p == STATE_DIR or p.startswith(STATE_DIR + "/"):
        return None, f"'{raw}' is inside {STATE_DIR}/, which belongs to pipe"
    if len(p) > 63:  # (only a long path can hold a part no file system takes)
        problem = too_long(p)
        if problem:
            return None, problem
    return p, None


def refused_in_git(r, node, path: str, what: str) -> bool:
    """Whether output `path` (normalised) is git's own `.git` folder or inside one, said as an
    error of reader `r` at `node`: each run replaces an output whole, git's history with it. In
    any case: git itself refuses `.GIT` in a tree, as a disk that ignores case makes it `.git`."""
    parts = path.split("/")
    at = next((i for i, q in enumerate(parts) if q.lower() == ".git"), None)
    if at is None:
        return False
    problem = "is git's own folder" if at == len(parts) - 1 else f"is inside {parts[at]}/, git's own folder"
    base = next((q for q in reversed(parts) if q.lower() != ".git"), "") or "out"
    r.error(
        node,
        f"{what}: '{path}' {problem}: a run would replace what git keeps there",
        f"choose a path outside .git/, e.g. build/{base}",
    )
    return True


def too_long(path: str) -> Optional[str]:
    """What is wrong with `path` when one of its parts cannot be a file name, else None."""
    part = long_part(path)
    if part is None:
        return None
    n = len(part.encode("utf-8", "surrogatepass"))
    return (
        f"'{_abridged(path)}' has a part of {n} bytes ('{_abridged(part, 40)}'), longer than a file "
        f"name can be ({MAX_BYTES} bytes)"
    )


def _abridged(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[: most // 2] + "..." + text[-(most // 4) :]


def path_hint(raw: str) -> str:
    if isinstance(raw, str) and long_part(raw.strip().replace("\\", "/")):
        return f"shorten that part to at most {MAX_BYTES} bytes (a file system takes no longer name)"
    base = posixpath.basename(str(raw).rstrip("/")) or "out"
    if str(raw).strip().startswith(STATE_DIR):
        return f"choose a path outside {STATE_DIR}/, e.g. build/{base}"
    return f"use a path inside the workspace, relative to the Pipefile's folder, e.g. build/{base}"
