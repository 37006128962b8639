"""The documentation pages shipped inside the package, for `pipe help TOPIC`.

`pipefile/docs` is a link to the project's `docs/` folder, so a checkout and an installed
wheel read the same pages. A topic is a page's file name without `.md`.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from .errors import PipefileError

_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs")


@dataclass(frozen=True)
class Page:
    topic: str
    title: str
    path: str


def folder() -> str:
    return _FOLDER


def pages() -> list[Page]:
    """Every page, by topic; its title is its first heading."""
    try:
        names = sorted(n for n in os.listdir(_FOLDER) if n.endswith(".md"))
    except OSError:
        return []
    return [Page(n[:-3], _title(os.path.join(_FOLDER, n)), os.path.join(_FOLDER, n)) for n in names]


def _title(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    except OSError:
        pass
    return ""


def page(topic: str) -> Page:
    """The page of `topic` (a file name without .md; `pipefile.md` and `docs/cli.md` work too)."""
    name = os.path.basename(topic.strip())
    if name.endswith(".md"):
        name = name[:-3]
    found = {p.topic: p for p in pages()}
    if not found:
        raise PipefileError(
            f"no documentation pages in {_FOLDER}",
            hint="this installation lacks them; read them at the project's docs/ folder",
        )
    if name in found:
        return found[name]
    close = difflib.get_close_matches(name, list(found), n=1)
    raise PipefileError(
        f"no help topic '{topic}'",
        hint=(f"did you mean `pipe help {close[0]}`? " if close else "")
        + f"the topics are: {', '.join(sorted(found))}",
    )


def read(topic: str) -> str:
    with open(page(topic).path, encoding="utf-8") as f:
        return f.read()
