"""Whether a process is alive, by its id: the owner of a leftover (a deploy's folder, a
download's part file, a job's worker) is dead once this says no; and such a leftover removed
once its owner is dead and no one holds its lock. Standard library only."""

from __future__ import annotations

import fcntl
import os
from typing import Callable, Optional


def alive(pid: int) -> bool:
    """False only for a process known gone: no such id, or a zombie (ended, not yet reaped by
    its parent). Another user's process, or an id no process can have (a name pipe did not
    make), counts as alive: what it owns is left alone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return True


def remove_abandoned(path: str, owner: Optional[int], remove: Callable[[str], None], flags: int = 0) -> bool:
    """Remove the leftover at `path` (`remove(path)`) when its `owner` is dead (None: the caller
    judged so already) and no one holds its lock (its owner flocks it while in use, on this
    machine or another sharing the folder); never through a link (opened O_NOFOLLOW, with
    `flags`). True if it was removed."""
    if owner is not None and (owner == os.getpid() or alive(owner)):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | flags)
    except OSError:
        return False  # a link, not what `flags` asks for, or gone meanwhile
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: in use
        remove(path)
        return True
    finally:
        os.close(fd)
