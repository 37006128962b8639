"""WorkspaceLock: one `pipe` process at a time writes a workspace.

An advisory `flock` on `.pipe/lock`. The kernel drops it when its holder
exits, however it exits (kill -9 included), so a lock can never be left
behind by a dead process and never needs a manual unlock. The holder's pid is
written into the file only to name it in the waiting message.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Callable, Optional

from ..errors import WorkspaceBusy


class WorkspaceLock:
    def __init__(self, path: str):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self, wait: bool = True, on_wait: Optional[Callable[[str], None]] = None,
                timeout: Optional[float] = None) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            if not wait:
                os.close(fd)
                raise WorkspaceBusy(f"another pipe process{holder} is working in this workspace",
                                    hint="wait for it to finish, then run again")
            if on_wait:
                on_wait(f"waiting for another pipe process{holder} to finish in this workspace...")
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        os.close(fd)
                        raise WorkspaceBusy(f"another pipe process{holder} kept this workspace busy") from None
                    time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            pid = os.pread(fd, 32, 0).decode().strip()
            return f" (pid {pid})" if pid else ""
        except OSError:
            return ""

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
