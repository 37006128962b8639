"""The store's register of the workspaces that use it: `store/workspaces/<h>` holds the real
path of one workspace (h: a digest of that path). `pipe gc` keeps what any registered
workspace still needs; a workspace registers itself once, and after that costs a stat.

Files are written to a temporary name and renamed into place: a reader sees a whole entry or
none."""

from __future__ import annotations

import os

from ..digest import hash_bytes
from ..errors import PipefileError
from ..filehash import open_regular
from .tempnames import exclusive_temp

REGISTRY_DIR = "workspaces"


def _registry_name(root: str) -> str:
    return hash_bytes(os.path.realpath(root).encode())[:16]


def register_workspace(store_root: str, root: str) -> None:
    """Note in the store that the workspace at `root` uses it (once; a stat after that)."""
    reg = os.path.join(store_root, REGISTRY_DIR)
    path = os.path.join(reg, _registry_name(root))
    if os.path.exists(path):
        return
    try:
        os.makedirs(reg, exist_ok=True)
        fd, tmp = exclusive_temp(reg, ".tmp-")  # (not tempfile: its import costs a first run ~3 ms)
        with os.fdopen(fd, "w") as f:
            f.write(os.path.realpath(root) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only store: nothing is written there anyway


def registered_workspaces(store_root: str) -> list:
    """[(registry file, workspace root)] of every workspace that noted it uses this store."""
    reg = os.path.join(store_root, REGISTRY_DIR)
    out = []
    try:
        entries = sorted(os.scandir(reg), key=lambda e: e.name)
    except FileNotFoundError:
        return out
    except NotADirectoryError:
        # Which other workspaces use the store is unknown: `pipe gc` must not guess.
        raise PipefileError(
            f"{reg}: the store keeps a folder there (the workspaces that use it), and a file is in its place",
            hint="move that file away or remove it, then run `pipe run` once in each workspace that uses "
            "this store (each notes itself there again) before `pipe gc`",
        ) from None
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            with open_regular(e.path) as f:  # (a FIFO there: skipped, never waited on)
                out.append((e.path, f.read().decode("utf-8", "replace").strip()))
        except OSError:
            continue
    return out
