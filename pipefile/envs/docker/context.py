"""The build context of a `build:` environment: what the Docker build is sent.

It is the folder as the Docker SDK would send it (`.dockerignore` honoured, the Dockerfile
and `.dockerignore` always in), less pipe's own state (`.pipe/` folders: the store, the
staging area, the job records), which no image is built from and which can be far bigger
than everything else. The local build sends exactly this, and the Ray executor ships
exactly this to a node (executors/ray.py), so the node builds from what this machine would.
The environment's identity is not this list: it is the folder's digest (environments.md).
"""

from __future__ import annotations

import os
from typing import IO

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
