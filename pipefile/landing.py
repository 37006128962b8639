"""Where an output really lands: its path with every symbolic link on the way resolved, and
whether that place is allowed (never inside `.pipe/` or the store, never the workspace or a
folder around it, never on another step's output, an input, code or the Pipefile).

Checked when the graph is built (`pipe validate`, before a run) and again by staging right
before anything is moved, since a step can make a link while the run goes on.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Iterable, Mapping, Optional

from . import noop_trace, spec
from .errors import PipefileError

STATE_DIR = ".pipe"  # pipe's own folder in the workspace (loader.STATE_DIR, store.STATE_DIR)
NESTED = "nested"  # .pipe/nested/: inner outputs no one gave a path (load/flatten.py)
GATHERED = "gathered"  # .pipe/gathered/: per-task output paths gathered (load/outpaths.py)


class FolderEntries:
    """What is at workspace paths, a folder many of them (`expected`) are in listed once (one
    scandir) instead of one lstat per path: a graph's sources or outputs are often hundreds of files in
    one folder (a failing lstat, for an output not made yet, costs the most). Answers only what
    the listing says exactly (an entry of that very name), else asks the path itself: on a
    file system that ignores case (or Unicode forms), another spelling of a name is its entry."""

    # A folder is listed where at least this many paths in it are expected to be asked about,
    # and only if it holds at most 16 entries for each (a much larger one is not read through).
    _LEAST = 16

    def __init__(self, root: str, expected: Iterable[str] = ()) -> None:
        self.root = root
        counts: dict = {}
        for rel in expected:
            folder = rel.rpartition("/")[0]
            counts[folder] = counts.get(folder, 0) + 1
        self.most = {folder: 16 * n for folder, n in counts.items() if n >= self._LEAST}
        self.listed: dict = {}  # folder -> ({name: is a link}, lowercased link names or None) or None

    def _entries(self, folder: str) -> Optional[tuple]:
        if folder in self.listed:
            return self.listed[folder]
        got = self.listed[folder] = self._list(folder, self.most[folder]) if folder in self.most else None
        return got

    def _list(self, folder: str, most: int) -> Optional[tuple]:
        """(each entry's name: whether it is a link, the lowercased names of the links or None
        where one is not ASCII); no entries where the folder is not there; None where it cannot
        be listed or holds more than `most` entries."""
        try:
            it = noop_trace.scandir_names(os.path.join(self.root, folder))
        except (FileNotFoundError, NotADirectoryError):
            return {}, set()  # (nothing is below a folder that is not there, nor below a file)
        except OSError:
            return None
        names: dict = {}
        try:
            with it:
                for entry in it:
                    if len(names) >= most:
                        return None
                    names[entry.name] = entry.is_symlink()
        except OSError:
            return None
        links = [name for name, link in names.items() if link]
        return names, None if not all(name.isascii() for name in links) else {name.lower() for name in links}

    def lexists(self, rel: str) -> bool:
        """os.path.lexists of the workspace path `rel`."""
        folder, _, leaf = rel.rpartition("/")
        got = self._entries(folder)
        if got is not None and leaf in got[0]:
            return True
        return os.path.lexists(os.path.join(self.root, rel))

    def islink(self, rel: str) -> bool:
        """os.path.islink of the workspace path `rel`."""
        folder, _, leaf = rel.rpartition("/")
        got = self._entries(folder)
        if got is not None:
            names, links = got
            if leaf in names:
                return names[leaf]
            if links is not None and leaf.isascii() and leaf.lower() not in links:
                return False  # no entry by that name, and no link by another spelling of it
        return os.path.islink(os.path.join(self.root, rel))


def landing(root: str, rel: str, memo: Optional[dict] = None) -> str:
    """The real absolute path that writing workspace path `rel` reaches: every symbolic link
    on the way resolved, but not `rel` itself (a link at an output's own path is replaced by
    the output, never written through). Folders that do not exist yet count as real.
    `memo` (folder -> real path) spares the lstat of folders shared by many outputs."""
    memo = {} if memo is None else memo
    parent, leaf = posixpath.split(rel)
    return os.path.join(_real_folder(root, parent, memo), leaf)


def _real_folder(root: str, rel: str, memo: dict) -> str:
    hit = memo.get(rel)
    if hit is None:
        if not rel:
            hit = os.path.realpath(root)
        elif os.path.islink(os.path.join(root, rel)):
            hit = os.path.realpath(os.path.join(root, rel))
        else:
            up, name = posixpath.split(rel)
            hit = os.path.join(_real_folder(root, up, memo), name)
        memo[rel] = hit
    return hit


def first_link(root: str, rel: str) -> Optional[tuple]:
    """(folder, what it points to) of the outermost symbolic link among the folders of `rel`."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        folder = "/".join(parts[:i])
        ap = os.path.join(root, folder)
        if os.path.islink(ap):
            try:
                return folder, os.readlink(ap)
            except OSError:
                return folder, "?"
    return None


def _dangling_link(root: str, rel: str) -> Optional[tuple]:
    """(folder, target) of a link among the folders of `rel` that points to nothing."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        ap = os.path.join(root, *parts[:i])
        if os.path.islink(ap) and not os.path.exists(ap):
            return "/".join(parts[:i]), os.readlink(ap)
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def forbidden_landing(
    root: str, rel: str, real: str, forbidden: Iterable[str] = (), root_real: Optional[str] = None
) -> Optional[str]:
    """Why output `rel`, which lands at `real`, must not be written there (None: it may).

    Never inside pipe's own state: this workspace's .pipe/, any folder named .pipe (another
    workspace's), or `forbidden` (real paths: the store, when PIPE_STORE_DIR puts it
    elsewhere); never at the workspace or a folder around it. A link at the output's own
    path is replaced, not followed, unless it points into pipe's state: then it is refused
    too (saving what it points to would copy pipe's databases)."""
    root_real = root_real or os.path.realpath(root)
    targets = [real]
    leaf = os.path.join(root, rel)
    if os.path.islink(leaf):
        targets.append(os.path.realpath(leaf))
    for t in targets:
        why = _refused_target(t, root_real, forbidden)
        if why is not None:
            return why
    return None


def _refused_target(t: str, root_real: str, forbidden: Iterable[str]) -> Optional[str]:
    """Why nothing may be written at the real path `t` (forbidden_landing); string work only."""
    if t.startswith(root_real + os.sep):  # the usual case: inside the workspace
        inner = t[len(root_real) + 1 :].split(os.sep)
        if inner[0] == STATE_DIR and inner[1:2] in ([NESTED], [GATHERED]) and len(inner) > 2:
            inner = inner[2:]  # pipe's place for the outputs of a pipeline's inner steps
        elif inner[0] == STATE_DIR:
            return f"it is inside {STATE_DIR}/, which belongs to pipe"
    elif _under(root_real, t):
        return f"'{t}' is the workspace or a folder around it"
    else:
        common = os.path.commonpath([t, root_real])
        inner = os.path.relpath(t, common).split(os.sep)
    if STATE_DIR in inner:
        return f"it is inside another workspace's {STATE_DIR}/ folder ('{t}')"
    for f in forbidden:
        if _under(t, f):
            return f"it is inside pipe's store ('{f}')"
    return None


def lands_plainly(root: str, root_real: str, rel: str, planned: Optional[str], allowed: dict, forbidden) -> bool:
    """Whether output `rel`, which landed at `planned` when the run began, still lands there
    with no link on its way (nor at it), and may be written there: forbidden_landing's answer
    for the usual case, in string work and one lstat per part. `allowed` (path -> bool) keeps
    what was worked out for a path (what lands where it says: only the string work)."""
    plain = root_real + os.sep + rel
    if planned != plain or link_on_the_way(root, rel):
        return False
    if rel not in allowed:
        allowed[rel] = _refused_target(plain, root_real, forbidden) is None
    return allowed[rel]


def link_on_the_way(root: str, rel: str) -> bool:
    """Whether a folder on the way to workspace path `rel`, or `rel` itself, is a symbolic
    link now (True too where that cannot be told): one lstat per part, up to the first that
    is not there (nothing below it is either)."""
    ap = root
    for part in rel.split("/"):
        ap = ap + os.sep + part
        try:
            mode = os.lstat(ap).st_mode
        except FileNotFoundError:
            return False
        except OSError:
            return True
        if stat.S_ISLNK(mode):
            return True
    return False


def blocked_folder(root: str, oname: str, path: str) -> str:
    """The failure of output `oname` ('path') whose folder cannot be made: a file (a FIFO, a
    device) stands where it, or a folder on its way, should be. Names that part, and the fix."""
    ap, rel = root, ""
    for part in path.split("/")[:-1]:
        ap, rel = os.path.join(ap, part), f"{rel}/{part}" if rel else part
        if os.path.lexists(ap) and not os.path.isdir(ap):
            break
    return (
        f"cannot make the folder of output '{oname}' ('{path}'): '{rel}' is a file, not a folder; "
        f"move it away or remove it (pipe makes the folder), or declare the output elsewhere"
    )


def link_errors(pf: spec.Pipefile, producers: Mapping, nodes: Mapping, forbidden: Iterable[str] = ()) -> list:
    """Outputs that a symbolic link on the way sends somewhere they must not go.

    An output's folder may be a link (say `build` -> a scratch disk), so where it lands is
    where the links point; it must not be pipe's state (see forbidden_landing), and when it
    lands elsewhere in the workspace, it must not land on, in or around another output or
    anything a step reads (it would overwrite a source or another step's work). Costs one
    lstat per output and per output folder, and nothing more when no link is on the way."""
    root = pf.root
    forbidden = [os.path.realpath(f) for f in forbidden]
    memo: dict = {}
    root_real = _real_folder(root, "", memo)
    errors: list = []
    moved: dict = {}  # output path -> where it really lands, for those a link sends elsewhere
    prefix, entries = root_real + os.sep, FolderEntries(root_real, producers)
    for path, (step, oname) in producers.items():
        parent, _, leaf = path.rpartition("/")
        folder = memo.get(parent) or _real_folder(root, parent, memo)
        real = folder + os.sep + leaf
        # The usual case, kept to string work and one lstat: no link on the way, none at the
        # path, nothing named .pipe (the loader refuses .pipe/ itself).
        if real == prefix + path and not forbidden and "/.pipe/" not in "/" + path and not entries.islink(path):
            continue
        out = pf.steps[step].outputs[oname]
        why = forbidden_landing(root, path, real, forbidden, root_real)
        if why is None and real != os.path.join(root_real, *path.split("/")):
            dangling = _dangling_link(root, path)
            if dangling is None:
                moved[path] = real
                continue
            why = (
                f"'{dangling[0]}' is a link to '{dangling[1]}', which does not exist (pipe does not create "
                f"what a link points to: a disk that is not mounted would be written instead)"
            )
        if why is not None:
            errors.append(_link_error(root, step, oname, out, real, why))
    if not moved:
        return errors
    # Everything else the workspace holds that a redirected output could write over, as real paths.
    places: list = []  # (real path, what, the workspace path a step reads there, or None)
    for path, (step, oname) in producers.items():
        places.append((landing(root, path, memo), f"output '{oname}' of step '{step}' ('{path}')", None))
    for node in nodes.values():
        for rel, _loc, what in node.reads():
            places.append((os.path.realpath(os.path.join(root, rel)), f"{what} of step '{node.name}' ('{rel}')", rel))
    for asset in pf.assets.values():
        places.append(
            (os.path.realpath(os.path.join(root, asset.path)), f"asset '{asset.name}' ('{asset.path}')", None)
        )
    places.append((os.path.realpath(pf.path), "the Pipefile", None))
    for path, _ in pf.sources:  # (a Pipefile a step uses as a component: a run must not rewrite it either)
        places.append(
            (os.path.realpath(path), f"'{os.path.relpath(path, root)}', a file the pipeline is read from", None)
        )
    for path, real in moved.items():
        step, oname = producers[path]
        mine = f"output '{oname}' of step '{step}' ('{path}')"
        for place, what, read in places:
            if read is not None and (read == path or read.startswith(path + "/")):
                continue  # a step that reads this output (or a file in it) by its own path: the link moves both
            if what != mine and (_under(place, real) or _under(real, place)):
                errors.append(
                    _link_error(
                        root,
                        step,
                        oname,
                        pf.steps[step].outputs[oname],
                        real,
                        f"that is {what}" if place == real else f"that overlaps {what}",
                    )
                )
                break
    return errors


def _link_error(root: str, step: str, oname: str, out, real: str, why: str) -> PipefileError:
    link = first_link(root, out.path)
    via = f" through the link '{link[0]}' -> '{link[1]}'" if link else ""
    if link is None and os.path.islink(os.path.join(root, out.path)):
        via = f" (it is a link to '{os.readlink(os.path.join(root, out.path))}')"
    return PipefileError(
        f"output '{oname}' of step '{step}' ('{out.path}') would be written at '{real}'{via}: {why}",
        out.loc,
        "remove or repoint the link, or write the output somewhere else, e.g. build/"
        if link or via
        else "write the output somewhere else, e.g. build/",
    )
