"""The build context of a `build:` environment: what the Docker build is sent.

It is the folder as the Docker SDK would send it (`.dockerignore` honoured, the Dockerfile
and `.dockerignore` always in), less pipe's own state (`.pipe/` folders: the store, the
staging area, the job records), which no image is built from and which can be far bigger
than everything else. The local build sends exactly this, and the Ray executor ships
exactly this to a node (executors/ray.py), so the node builds from what this machine would.

The environment's identity covers exactly what the build can see (`identity_digest`): a
file that `.dockerignore` leaves out (a step's output, data) changes no step key, so it
neither reruns the environment's steps nor goes unseen by them (environments.md).
"""

from __future__ import annotations

import contextlib
import os
import stat as statmod
from typing import IO, Optional

from ... import names
from ...digest import IGNORED_NAMES, IGNORED_SUFFIXES, hash_json
from ...load.dockerignore import decided_above, entered, excluded, read_patterns
from .daemon import sdk

# Left out wherever they lie in the folder (a `build: .` holds the workspace's own).
_PIPE_PATTERNS = [".pipe", "**/.pipe"]


def ignore_patterns(folder: str) -> list:
    """The folder's .dockerignore lines, read as the Docker SDK reads them (and as the identity does)."""
    return read_patterns(os.path.join(folder, ".dockerignore"))


def context_paths(folder: str, dockerfile: str = "") -> list:
    """Every path (files and folders) the build is sent, relative to `folder`, sorted."""
    # Last: a `!` line of the .dockerignore does not bring pipe's state back in.
    patterns = ignore_patterns(folder) + _PIPE_PATTERNS
    return sorted(sdk().utils.build.exclude_paths(folder, patterns, dockerfile or "Dockerfile"))


def split(folder: str, paths: list) -> tuple:
    """(files, folders) among `paths` (a link counts as what it points to)."""
    files, dirs = [], []
    for rel in paths:
        ap = os.path.join(folder, rel)
        if os.path.isdir(ap):
            dirs.append(rel)
        elif os.path.isfile(ap):
            files.append(rel)
    return files, dirs


def archive(folder: str, dockerfile: str = "") -> IO[bytes]:
    """The tar the build is sent (a temporary file, at its start)."""
    return sdk().utils.build.create_archive(folder, files=context_paths(folder, dockerfile))


def identity_digest(hasher, build: str, dockerfile: str = "") -> Optional[str]:
    """The digest of the build context of workspace folder `build`; None when the folder has
    no .dockerignore: its context is then the whole folder, and the folder's digest (as for
    inputs) is the identity, as it always was, so those keys did not change.

    Walked with the same .dockerignore rules as `context_paths` (load/dockerignore.py, checked
    against the SDK's), but cheap for a no-op: a folder that the patterns leave out whole is
    not entered, one they keep whole is taken by its digest (through the stat cache's folder
    listings, as an input folder is), and only the files of folders that patterns split are
    looked at one by one (a link there counts as the link, as the build is sent it; in a
    folder taken whole, as what it points to, as in any folder's digest, and as the link,
    `links_under`). As in a folder's
    digest, caches and VCS folders (`.git`, `__pycache__`, `.pipe` ...) are not content."""
    folder = hasher.abspath(build)
    ignore = os.path.join(folder, ".dockerignore")
    if not os.path.isfile(ignore):
        return None
    # As the SDK does: the Dockerfile and the .dockerignore are sent whatever the lines say.
    patterns = read_patterns(ignore) + [f"!{dockerfile or 'Dockerfile'}", "!.dockerignore"]
    entries: list = []
    _walk(hasher, build, "", patterns, entries)
    return hash_json(entries)


def _walk(hasher, build: str, sub: str, patterns: list, entries: list) -> None:
    """Add the context's entries under `sub` (relative to the build folder) to `entries`."""
    ap = os.path.join(hasher.abspath(build), sub)
    with os.scandir(ap) as it:
        items = sorted(
            (e for e in it if not (e.name in IGNORED_NAMES or e.name.endswith(IGNORED_SUFFIXES))), key=lambda e: e.name
        )
    for e in items:
        rel = f"{sub}/{e.name}" if sub else e.name
        out = excluded(patterns, rel)
        if not out and not names.is_utf8(rel):  # (sent to the build, and in the environment's identity)
            raise names.not_utf8(os.path.join(build, rel), "in the build context,")
        if e.is_symlink():  # the build is sent the link itself, not what it points to (nor a loop)
            if not out:
                entries.append([rel, "l", os.readlink(e.path)])
            continue
        try:
            st = e.stat()
        except FileNotFoundError:  # (gone since listed)
            continue
        ws_rel = os.path.normpath(os.path.join(build, rel))
        if statmod.S_ISDIR(st.st_mode):
            if out:
                if entered(patterns, rel):  # (else the SDK does not look inside: nothing there is sent)
                    _walk(hasher, build, rel, patterns, entries)
            elif not decided_above(patterns, rel, out):
                entries.append([rel, "d"])
                _walk(hasher, build, rel, patterns, entries)
            else:
                d = hasher.digest(ws_rel)
                if d is not None:
                    entries.append([rel, "t", d.digest])
                    links = links_under(e.path)
                    if links:  # (only then: the keys of folders without links stay as they were)
                        entries.append([rel, "L", links])
        elif statmod.S_ISREG(st.st_mode) and not out:
            digest = hasher.cache.file_digest(ws_rel, e.path, st)
            entries.append([rel, "x" if st.st_mode & 0o111 else "f", digest])


def links_under(top: str) -> list:
    """[[path, target]] of the symbolic links under folder `top` (paths relative to it),
    sorted; not followed. The build is sent a link as the link itself, while a folder's
    digest counts what a link points to: a link pointed elsewhere at the same content (or
    out of the context) changes the image, so it must change the identity too."""
    out = []
    stack = [""]
    while stack:
        sub = stack.pop()
        try:
            it = os.scandir(os.path.join(top, sub) if sub else top)
        except OSError:
            continue  # (gone since listed, or not readable: the digest says so)
        with it:
            for e in it:
                if e.name in IGNORED_NAMES or e.name.endswith(IGNORED_SUFFIXES):
                    continue
                rel = f"{sub}/{e.name}" if sub else e.name
                if e.is_symlink():
                    with contextlib.suppress(OSError):
                        out.append([rel, os.readlink(e.path)])
                elif e.is_dir(follow_symlinks=False):
                    stack.append(rel)
    return sorted(out)
