"""A file the user reads written whole or not at all: a report, a summary, an exported
Pipefile, `pipe init`'s .gitignore block.

Written beside it under a hidden name, flushed to the disk, then renamed over it: a full disk,
a crash or a kill midway leaves the file as it was, never cut short, and no temporary file
behind. What each caller may write over (a FIFO, a link, a device) and what it says when it
cannot stays the caller's: this is only the write.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, Optional


def replace_whole(path: str, data: bytes, before_rename: Optional[Callable[[], None]] = None) -> None:
    """`path` holds `data`, or what it held before. A file replaced keeps its permissions and
    its owner (where this process may give it: root serving another user's workspace); a new
    one gets an ordinary file's mode (0o666 less the umask). `before_rename`: called last, to
    refuse the write by raising (the designer's check that no one saved meanwhile). Raises
    OSError."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None  # (a new file: open() made it as any other)
        if st is not None:
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass  # (only root may give a file away: the user's own file needs none)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def sync_folder(path: str) -> None:
    """Flush a folder's entries (a rename, a removal in it) to the disk; a file system that
    refuses to sync a folder is left to its own order (the rename itself is still atomic)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
