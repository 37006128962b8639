"""Fresh temporary files in the store's tmp/ folder, named without randomness.

tempfile.mkstemp draws six random letters per name (and imports `random`): on the
commit path of every step (an object, a run-cache entry) that was a measurable part of a
step's overhead. A name here is this process's id and a counter; O_EXCL still makes the
file ours alone (a name left by an earlier process of the same id is skipped).
"""

from __future__ import annotations

import itertools
import os

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_counter = itertools.count()  # next() is atomic under the interpreter lock: threads share it


def exclusive_temp(folder: str, prefix: str) -> tuple:
    """(fd, path) of a new empty file in `folder`, mode 0600, open for reading and writing."""
    pid = os.getpid()
    while True:
        path = os.path.join(folder, f"{prefix}{pid}-{next(_counter)}")
        try:
            return os.open(path, _FLAGS, 0o600), path
        except FileExistsError:
            continue
