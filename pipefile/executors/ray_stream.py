"""What a Ray task sends back while it runs (executors/ray_worker.py): its log, and the
metrics stream its command writes (`pipefile.log_metric`), each as the file grows, in pieces
of at most PIECE bytes. The caller appends them to the step's log and to the stream beside
it, so `pipe logs --follow`, the live view, the job's series and early termination read
them as for a step run here."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from typing import Optional

EVERY = 0.2  # seconds between two looks at what the files gained
# The most one piece holds: a command that prints fast (hundreds of MB between two looks)
# must not make one object of it all, in the worker's memory, the object store's and the
# caller's.
PIECE = 4 * 1024 * 1024


def pieces(f):
    """What file `f` gained since it was last read, in pieces of at most PIECE bytes."""
    while True:
        chunk = f.read(PIECE)
        if not chunk:
            return
        yield chunk


def unsent(log_path: str, sent: int):
    """("log", piece) for what the log holds past the `sent` bytes that went back already."""
    try:
        f = open(log_path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return
    with f:
        f.seek(sent)
        for chunk in pieces(f):
            yield ("log", chunk)


def streaming(work, tail, cancelled: threading.Event):
    """Run `work` on a thread, yielding what the log gained every EVERY seconds until it
    ends (then its exception, if any, is raised here). The Ray task's thread stays free to be
    cancelled; `cancelled` tells `work` to stop (an image build checks it)."""
    failed: list = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - raised again on the task's thread
            failed.append(e)

    t = threading.Thread(target=run, name="pipe-prepare", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(EVERY)
            yield from pieces(tail)
    finally:
        if t.is_alive():  # the task is being torn down (cancelled): the work stops too
            cancelled.set()
    if failed:
        raise failed[0]


class MetricsTail:
    """The step's metrics stream on the node (a file its command appends to), read as it
    grows. The command may put anything at that path: only a regular file is read, opened
    without waiting (a FIFO put there never blocks the task)."""

    def __init__(self, path: str):
        self.path = path
        self._f = None
        self._refused = False

    def pieces(self):
        """("metrics", piece) for what the stream gained since the last look."""
        f = self._open()
        if f is None:
            return
        for chunk in pieces(f):
            yield ("metrics", chunk)

    def _open(self) -> Optional[object]:
        if self._f is None and self.path and not self._refused:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                return None  # (not written yet)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                self._refused = True  # (no series, as a stream that is no regular file is not read here)
                return None
            self._f = os.fdopen(fd, "rb")
        return self._f

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class Appended:
    """The step's metrics stream here (beside its log), appended to as its pieces come back
    from the node; opened on the first one (most steps report no series)."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self._f = None

    def write(self, data: bytes) -> None:
        if self.path is None:
            return
        if self._f is None:
            self._f = open(self.path, "ab")  # noqa: SIM115 - closed on leaving `with`
        self._f.write(data)
        self._f.flush()  # (read while the step runs: early termination, the live view)

    def restart(self) -> None:
        """Empty it: what an attempt the executor failed under had reported is not kept."""
        self.__exit__()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
