"""The threads the scheduler runs its tasks on.

What the scheduler needs of a pool is small: start a task on an idle thread (a new one
while fewer than -j exist), learn when it ended, and wait for all at the end.
concurrent.futures does that and more, at a price on a chain of small steps: importing it
imports `logging` (~8 ms of a run's start), and each task costs a Future (its condition,
its waiters, its callbacks) on both threads, on the path from one step's command to the
next. Here a task is a ticket the scheduler keeps that the worker fills before it rings.

A worker counts itself idle before it rings, so the task the scheduler starts in answer goes
to that same thread (which holds the files it made ahead for the next commit:
cache/tempnames.py), not to a new one.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Optional


class Ticket:
    """What `submit` hands back for a task: done once its function returned or raised."""

    __slots__ = ("fn", "args", "_value", "_error", "_done")

    def __init__(self, fn: Callable, args: tuple):
        self.fn = fn
        self.args = args
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._done = False

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        """What the function returned; raises what it raised (only once done)."""
        if self._error is not None:
            raise self._error
        return self._value


class Workers:
    """Up to `most` threads (named `name`_N, made as tasks need them); `ring(task)` is called
    on the worker's thread once each task is done."""

    def __init__(self, most: int, ring: Callable[[Ticket], None], name: str = "step"):
        self.most = max(1, most)
        self.name = name
        self._ring = ring
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list = []
        self._idle = 0  # threads waiting for a task and not yet promised one
        self._backlog = 0  # tasks queued while every thread was busy: the next free thread's
        self._lock = threading.Lock()

    def submit(self, fn: Callable, *args) -> Ticket:
        task = Ticket(fn, args)
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self.most:
                t = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}")
                t.start()  # (then counted: shutdown joins only threads that started)
                self._threads.append(t)
            else:
                self._backlog += 1
        self._queue.put(task)
        return task

    def _work(self) -> None:
        get, ring, lock = self._queue.get, self._ring, self._lock
        while True:
            task = get()
            if task is None:
                return
            try:
                task._value = task.fn(*task.args)
            except BaseException as e:  # noqa: BLE001 - handed to whoever asks for the result
                task._error = e
            task.fn = task.args = None  # (what it held goes with it, not with the slot)
            with lock:  # (counted before it is seen done: a task started in answer comes here)
                if self._backlog:
                    self._backlog -= 1  # (its next get() takes a task that waits)
                else:
                    self._idle += 1
            task._done = True
            ring(task)

    def shutdown(self) -> None:
        """Wait until every task handed over is done, and the threads are gone."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
