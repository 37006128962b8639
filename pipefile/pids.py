"""Whether a process is alive, by its id: the owner of a leftover (a deploy's folder, a
download's part file, a job's worker) is dead once this says no. Standard library only."""

from __future__ import annotations

import os


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
