"""The store's register of the workspaces that use it: `store/workspaces/<h>` holds the real
path of one workspace (h: a digest of that path). `pipe gc` keeps what any registered
workspace still needs; a workspace registers itself once, and after that costs a stat.

Files are written to a temporary name and renamed into place: a reader sees a whole entry or
none.

`workspaces/.gc-lock` (a flock) closes the race between a workspace new to the store and a
`pipe gc` of another: gc holds it exclusively once it holds every listed workspace's lock, and
lists them again; a new workspace, once noted, waits for it (shared) before it writes
anything. So gc either lists the newcomer (and waits for its lock), or is over before the
newcomer's first write."""

from __future__ import annotations

import fcntl
import os
from typing import Optional

from ..digest import hash_bytes
from ..errors import PipefileError
from ..filehash import open_regular
from .tempnames import exclusive_temp

REGISTRY_DIR = "workspaces"
GC_LOCK = ".gc-lock"  # (a dot name: never read as a workspace's record)


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
        return  # a read-only store: nothing is written there anyway
    # A gc that listed the workspaces before this one was noted must be over before this one
    # writes (it would delete what it stores); a gc that starts later lists it.
    fd = _open_gc_lock(reg)
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)


def _open_gc_lock(reg: str) -> Optional[int]:
    try:
        return os.open(os.path.join(reg, GC_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def hold_for_gc(store_root: str) -> Optional[int]:
    """For `pipe gc`, holding every listed workspace's lock: the store's gc lock, exclusive (its
    fd, to close when gc is over; None where it cannot be made: a read-only store). No
    workspace new to the store writes until it is closed; list the workspaces again after."""
    reg = os.path.join(store_root, REGISTRY_DIR)
    try:
        os.makedirs(reg, exist_ok=True)
    except OSError:
        return None
    fd = _open_gc_lock(reg)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


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
