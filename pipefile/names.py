"""File and folder names that are not UTF-8: refused where pipe first meets them.

The file system hands Python a name holding a byte that is not UTF-8 (b'bad\\xffname.txt',
common in archives made on other systems) as text with a lone surrogate ('bad\\udcffname.txt').
Every record pipe keeps of a name (tree manifests, the stat cache, keys, the job database) is
UTF-8, so such a name is refused with an error that shows it escaped and says how to rename it,
rather than failing later inside one of those records.

Standard library (and errors.py, for the errors), and cheap where names are all ASCII (the no-op's listing path).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

RENAME = "convmv -f latin1 -t utf8 -r --notest {folder}"


def shown(path: str) -> str:
    """`path` as printable text: a byte that is not UTF-8 written as \\xNN."""
    if path.isascii():
        return path
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # (a surrogate no file system name gives: from JSON, say)
        return path.encode("utf-8", "backslashreplace").decode()


def is_utf8(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def first_bad(names: Iterable[str]) -> Optional[str]:
    """The first name that is not UTF-8, or None (one isascii over them all when they are ASCII)."""
    names = list(names)
    if "".join(names).isascii():
        return None
    return next((n for n in names if not is_utf8(n)), None)


def _rename_hint(path: str) -> str:
    return f"rename it to UTF-8, for example: {RENAME.format(folder=shlex_quote(_utf8_parent(path)))}"


def _utf8_parent(path: str) -> str:
    """The deepest folder above the first part of `path` that is not UTF-8 ('.' for the top)."""
    parts = path.split("/")
    good = next((i for i, p in enumerate(parts) if not is_utf8(p)), len(parts) - 1)
    return "/".join(parts[:good]) or ("/" if path.startswith("/") else ".")


def _first_bad(path: str) -> str:
    """`path` up to its first part that is not UTF-8 (the name to rename)."""
    parts = path.split("/")
    bad = next((i for i, p in enumerate(parts) if not is_utf8(p)), len(parts) - 1)
    return "/".join(parts[: bad + 1])


def shlex_quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def not_utf8(path: str, what: str = "", loc=None, hint: str = ""):
    """The error for `path`, whose name (or a folder's on the way) is not UTF-8: bad input, exit 2.
    `what` says what the path is to pipe (an input, the workspace), when that helps."""
    from .errors import PipefileError

    head = f"{what} " if what else ""
    return PipefileError(
        f"{head}'{shown(_first_bad(path))}' has a name that is not UTF-8; pipe keeps file names as UTF-8 text",
        loc,
        hint=hint or _rename_hint(path),
    )


def output_not_utf8(output: str, path: str):
    """The error for `path` inside the step's output `output`: the step fails (its outputs are
    not kept, as for a link leading out of an output folder)."""
    from .errors import PipefileError

    return PipefileError(
        f"output '{shown(output)}' holds '{shown(path)}', whose name is not UTF-8; pipe keeps file "
        "names as UTF-8 text, so nothing of the output was kept",
        hint="make the step write UTF-8 names (for an archive it unpacks, rename after unpacking: "
        f"{RENAME.format(folder=shlex_quote(output))})",
    )


def link_not_utf8(path: str, target: str, output: Optional[str] = None):
    """A symbolic link whose target is not UTF-8 (kept in a manifest by its target's text)."""
    from .errors import PipefileError

    where = f"output '{shown(output)}' holds a" if output is not None else "a"
    return PipefileError(
        f"{where} symbolic link '{shown(path)}' -> '{shown(target)}', whose target is not UTF-8; "
        "pipe keeps link targets as UTF-8 text" + (", so nothing of the output was kept" if output is not None else ""),
        hint=f"point the link at a UTF-8 name: ln -sfn NEW-TARGET {shlex_quote(path)}",
    )


def check(names: Iterable[str], folder: str, output: Optional[str] = None) -> None:
    """Refuse the first name in `folder` that is not UTF-8 (inside the step's output `output`:
    the step fails; else bad input)."""
    bad = first_bad(names)
    if bad is not None:
        path = f"{folder}/{bad}"
        raise output_not_utf8(output, path) if output is not None else not_utf8(path)


def encoded(listing: str, folder: str) -> bytes:
    """A folder's listing ('NAME/KIND/...' lines joined by NUL) as UTF-8, or the error naming
    what in it is not: costs nothing more than the encode the listing needs anyway."""
    try:
        if folder.isascii() or is_utf8(folder):
            return listing.encode()
    except UnicodeEncodeError:
        pass
    if not is_utf8(folder):
        raise not_utf8(folder)
    for line in listing.split("\0"):
        name, kind, rest = line.split("/", 2)
        if not is_utf8(name):
            raise not_utf8(f"{folder}/{name}")
        if kind == "l" and not is_utf8(rest):
            raise link_not_utf8(f"{folder}/{name}", rest)
    raise AssertionError("a listing that is UTF-8 failed to encode")  # (never: each part was checked)


def checked_target(path: str, target: str, output: Optional[str] = None) -> str:
    """A link's target, when it is UTF-8; else the error naming the link."""
    if target.isascii() or is_utf8(target):
        return target
    raise link_not_utf8(path, target, output)
