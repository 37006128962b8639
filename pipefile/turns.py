"""Who takes the scheduler's turn: the main thread, or the worker whose task just ended.

A turn is what the scheduler does between tasks: it takes in the tasks that ended (their
results, what they unblock) and starts what is ready. The main thread used to take every
turn: a worker ended its task, woke the main thread, which decided and handed the next task
to a worker, which woke in turn. On a chain of small steps both wake-ups lie between one
command and the next. Now the worker whose task ended takes the turn itself when no other
thread is in one: the task it starts goes back to that same worker (workers.py counts it
idle before it rings), and the main thread is woken only by the next command starting, to
write the records of what ended while that command runs.

One turn at a time (`lock`). A worker never waits for the lock: when another thread holds
it, the worker wakes the main thread, which takes the ended task in on its next turn (as it
did before). The main thread holds the lock for its own turns and for what it writes and
reads between them. A worker's turn that raises (a bug) stops workers taking turns and hands
the error to the main thread, which raises it; so does Ctrl-C (`stop_workers`), after which
only the main thread takes turns.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional


class Turns:
    """`take(ticket)`: the turn a worker takes for its ended task (under the lock); True when
    it started another task (whose command will wake the main thread). `wake(ticket)`: wakes
    the main thread."""

    def __init__(self, take: Callable[[Any], bool], wake: Callable[[Any], None]):
        self.lock = threading.Lock()
        self._take = take
        self._wake = wake
        self._by_workers = True
        self._error: Optional[BaseException] = None

    def ring(self, ticket: Any) -> None:
        """On a worker's thread, once its task has ended (workers.Workers' ring)."""
        if self._by_workers and self.lock.acquire(blocking=False):
            try:
                if self._by_workers and self._take(ticket):
                    return  # (the lock is released first: `finally`)
            except BaseException as e:  # noqa: BLE001 - a bug: raised on the main thread
                self._error = e
                self._by_workers = False
            finally:
                self.lock.release()
        self._wake(ticket)

    def stop_workers(self) -> None:
        """From now on only the main thread takes turns (once a worker's turn under way ended)."""
        with self.lock:
            self._by_workers = False

    def raise_error(self) -> None:
        """What a worker's turn raised, raised here (on the main thread)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
