"""Objects stored without waiting for the disk (a run's outputs), made durable by a thread
of their own while the run goes on (cache/content_store.py hands them over)."""

from __future__ import annotations

import os
import threading
from typing import Optional


class BackgroundSync:
    """fsyncs objects on a thread of its own, off the path between one step and the next
    (an fsync costs ~0.3-0.5 ms here, and stalls other metadata writes while it runs).

    The thread is not woken for each object: it looks every POLL_SECONDS and syncs what was
    handed over meanwhile, so that it does not take the interpreter from the task that is
    committing (a chain's next command starts sooner); `wait()` makes it look at once and
    returns once everything handed over is on disk. An object whose fsync failed is
    deleted, so that nothing can restore it: its step simply runs again next time."""

    POLL_SECONDS = 0.05

    def __init__(self):
        self._pending: list = []
        self._syncing = 0  # objects taken by the thread and not synced yet
        self._closed = False
        self._cond = threading.Condition()
        # Started by the first object handed over: a run that stores nothing (a no-op)
        # starts no thread.
        self._thread: Optional[threading.Thread] = None
        self._starting = threading.Lock()

    def add(self, path: str) -> None:
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    thread = threading.Thread(target=self._work, name="store-sync", daemon=True)
                    thread.start()
                    self._thread = thread
        with self._cond:
            self._pending.append(path)  # (no notify: see the class's doc)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait(self.POLL_SECONDS)
                if not self._pending:
                    return  # closed, and nothing left
                batch, self._pending = self._pending, []
                self._syncing = len(batch)
            for path in batch:
                _sync_or_drop(path)
            with self._cond:
                self._syncing = 0
                self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            self._cond.notify_all()  # (look now)
            while self._pending or self._syncing:
                self._cond.wait()

    def close(self) -> None:
        with self._starting:
            if self._thread is not None:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                self._thread.join()


def _sync_or_drop(path: str) -> None:
    try:
        # O_NONBLOCK: a FIFO put in the object's place meanwhile is opened at once, not waited on
        # (the run waits for this thread); its fsync then fails and it is dropped as a bad object
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileNotFoundError:
        pass  # replaced or collected meanwhile
    except OSError:
        try:
            os.unlink(path)
        except OSError:
            pass
