"""Fresh temporary files in the store's tmp/ folder: named without randomness, and made ahead.

tempfile.mkstemp draws six random letters per name (and imports `random`): on the
commit path of every step (an object, a run-cache entry) that was a measurable part of a
step's overhead. A name here is this process's id and a counter; O_EXCL still makes the
file ours alone (a name left by an earlier process of the same id is skipped).

Creating a file is also what some file systems charge most for (ext4 without a journal,
right after many files were deleted: docs/benchmarks.md). So a task's thread makes the two
files its commit will need while its command runs (`stock`), off the path between one
step's command and the next; `exclusive_temp` hands out one of those first. Files made
ahead and not used are removed when the run ends (`drop_stock`), and after a crash by the
store's sweep of old temporaries; one that sweep removed while a long command ran is not
used (a fresh one is made).

The step's log file is made ahead the same way (`stock` in the job's log folder, taken with
`made_ahead` and renamed into place): with the mode `open()` gives a new file, hidden
(`.ahead-PID-N`, never taken for a log), and where a crash leaves one behind, an empty file
in that job's folder.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from typing import Optional

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_counter = itertools.count()  # next() is atomic under the interpreter lock: threads share it
_here = threading.local()  # .made: {folder: [(fd, path)]}, this thread's files made ahead
_owned: dict = {}  # owner -> the lists its threads made ahead in (to drop them when it ends)
_owned_lock = threading.Lock()


def _create(folder: str, prefix: str, mode: int = 0o600) -> tuple:
    pid = os.getpid()
    while True:
        path = os.path.join(folder, f"{prefix}{pid}-{next(_counter)}")
        try:
            return os.open(path, _FLAGS, mode), path
        except FileExistsError:
            continue


def exclusive_temp(folder: str, prefix: str) -> tuple:
    """(fd, path) of a new empty file in `folder`, mode 0600, open for reading and writing:
    one this thread made ahead if it has one."""
    return made_ahead(folder) or _create(folder, prefix)


def made_ahead(folder: str) -> Optional[tuple]:
    """(fd, path) of a file this thread made ahead in `folder`, or None: the caller makes
    its own."""
    made = getattr(_here, "made", None)
    ahead = made.get(folder) if made else None
    while ahead:
        fd, path = ahead.pop()
        try:
            if os.fstat(fd).st_nlink:
                return fd, path
        except OSError:
            pass
        # Removed while its task's command ran (a long one: the store's sweep of old
        # temporaries, run by a job of another workspace that shares the store, took it):
        # what is written to it could not be renamed into place.
        with contextlib.suppress(OSError):
            os.close(fd)
    return None


def stock(folder: str, count: int, owner: object, prefix: str = "ahead-", mode: int = 0o600) -> None:
    """Make up to `count` files ahead in `folder` for this thread's next writes; `owner` (the
    executor whose task this thread runs) removes those left with `drop_stock`. A full disk
    stops it quietly: the write that needs the file says so. `mode`: as os.open's (the
    umask applies)."""
    made = getattr(_here, "made", None)
    if made is None:
        made = _here.made = {}
    ahead = made.get(folder)
    if ahead is None:
        ahead = made[folder] = []
        with _owned_lock:
            _owned.setdefault(owner, []).append(ahead)
    try:
        while len(ahead) < count:
            ahead.append(_create(folder, prefix, mode))
    except OSError:
        pass


def drop_stock(owner: object) -> None:
    """Remove the files `owner`'s threads made ahead and did not use (once none of them runs
    a task any more: its run is over)."""
    with _owned_lock:
        lists = _owned.pop(owner, [])
    for ahead in lists:
        while ahead:
            fd, path = ahead.pop()
            try:
                os.close(fd)
                os.unlink(path)
            except OSError:
                pass
