"""A file the user reads written whole or not at all: a report, a summary, an exported
Pipefile, `pipe init`'s .gitignore block.

Written beside it under a hidden name, flushed to the disk, then renamed over it: a full disk,
a crash or a kill midway leaves the file as it was, never cut short, and no temporary file
behind. What each caller may write over (a FIFO, a link, a device) and what it says when it
cannot stays the caller's: this is only the write.
"""

from __future__ import annotations

import os
import secrets
import stat


def replace_whole(path: str, data: bytes) -> None:
    """`path` holds `data`, or what it held before. A file replaced keeps its permissions; a
    new one gets an ordinary file's (0o666 less the umask). Raises OSError."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass  # (a new file: open() made it as any other)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
