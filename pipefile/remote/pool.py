"""The transfer threads a remote's parallel transfers share (each thread keeps its connection)."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading


class Pool:
    """The transfer threads (each keeps its connection), as daemons: concurrent.futures joins its
    threads before exit, so a Ctrl-C waited for stalled transfers, a minute or more. What one
    leaves at exit is what a kill leaves: a temp file, never half an object."""

    def __init__(self, size: int):
        self._size = size
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list = []
        self._lock = threading.Lock()

    def submit(self, fn, item) -> cf.Future:
        fut: cf.Future = cf.Future()
        self._queue.put((fut, fn, item))
        with self._lock:
            if len(self._threads) < self._size:
                t = threading.Thread(target=self._work, name=f"remote-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)
        return fut

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            fut, fn, item = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(item)
            except BaseException as e:  # noqa: BLE001 - handed to the caller, as a pool does
                fut.set_exception(e)
            else:
                fut.set_result(result)

    def shutdown(self, wait: bool) -> None:
        """Cancel what has not started; with `wait`, let what has finish."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for t in threads:
                t.join()
