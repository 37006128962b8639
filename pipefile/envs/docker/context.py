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

import os
import stat as statmod
from typing import IO, Optional

from ...digest import IGNORED_NAMES, IGNORED_SUFFIXES, hash_json
from .daemon import sdk

# Left out wherever they lie in the folder (a `build: .` holds the workspace's own).
_PIPE_PATTERNS = [".pipe", "**/.pipe"]


def ignore_patterns(folder: str) -> list:
    """The folder's .dockerignore lines, read as the Docker SDK reads them."""
    try:
        with open(os.path.join(folder, ".dockerignore"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [x for x in (line.strip() for line in lines) if x and not x.startswith("#")]


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
    """The digest of the build context of workspace folder `build`, each file's content
    through the hasher's stat cache (a no-op reads no file again); None when the folder has
    no .dockerignore: its context is then the whole folder, and the folder's digest (as for
    inputs) is the identity, as it always was, so those keys did not change.

    As in the folder's digest, caches and VCS folders (`.git`, `__pycache__`, ...) are not
    content."""
    folder = hasher.abspath(build)
    if not os.path.isfile(os.path.join(folder, ".dockerignore")):
        return None
    hasher.cache.load_under(build)  # the entries of the folder's files, keyed as its digest keys them
    entries = []
    for rel in context_paths(folder, dockerfile):
        if any(p in IGNORED_NAMES or p.endswith(IGNORED_SUFFIXES) for p in rel.split("/")):
            continue
        ap = os.path.join(folder, rel)
        try:
            st = os.stat(ap)
        except FileNotFoundError:  # a dangling link: sent as the link it is
            entries.append([rel, "l", os.readlink(ap)])
            continue
        if statmod.S_ISDIR(st.st_mode):
            entries.append([rel, "d"])
        elif statmod.S_ISREG(st.st_mode):
            digest = hasher.cache.file_digest(f"{build}/{rel}", ap, st, in_folder=True)
            entries.append([rel, "x" if st.st_mode & 0o111 else "f", digest])
    return hash_json(entries)
