"""The scheduler's worker threads (pipefile/workers.py): as many tasks at once as allowed,
never fewer; a task's result or error handed back; the thread that rang takes the next task."""

from __future__ import annotations

import queue
import threading

import pytest

from pipefile.workers import Workers


class Gate:
    """Tasks that wait at a gate, counting how many wait at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)

    def task(self, value):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.release()
        self.open.wait(10)
        with self.lock:
            self.inside -= 1
        return value


def _ring():
    rung: queue.SimpleQueue = queue.SimpleQueue()
    return rung, rung.put


@pytest.mark.parametrize("most, tasks", [(1, 3), (2, 2), (2, 5), (4, 3)])
def test_as_many_at_once_as_allowed(most, tasks):
    rung, ring = _ring()
    pool = Workers(most, ring)
    gate = Gate()
    tickets = [pool.submit(gate.task, i) for i in range(tasks)]
    for _ in range(min(most, tasks)):
        assert gate.entered.acquire(timeout=10)
    assert not gate.entered.acquire(timeout=0.05)  # no more than `most` inside
    gate.open.set()
    done = {rung.get(timeout=10) for _ in range(tasks)}
    assert done == set(tickets) and all(t.done() for t in tickets)
    assert [t.result() for t in tickets] == list(range(tasks))
    assert gate.most_inside == min(most, tasks)
    pool.shutdown()


def test_a_task_that_waited_for_a_thread_runs_and_two_run_at_once_after():
    # Three tasks on two threads: the third waits, and is taken by the first thread free;
    # afterwards two tasks still run side by side, on the same two threads.
    rung, ring = _ring()
    pool = Workers(2, ring)
    first = Gate()
    pool.submit(first.task, 0)
    pool.submit(first.task, 1)
    pool.submit(lambda: "quick")
    first.open.set()
    for _ in range(3):
        rung.get(timeout=10)
    second = Gate()
    pool.submit(second.task, 2)
    pool.submit(second.task, 3)
    assert second.entered.acquire(timeout=10) and second.entered.acquire(timeout=10)  # both at once
    second.open.set()
    for _ in range(2):
        rung.get(timeout=10)
    pool.shutdown()
    assert len(pool._threads) == 2


def test_the_thread_that_rang_takes_the_next_task():
    rung, ring = _ring()
    pool = Workers(2, ring)
    names = []
    for _ in range(5):  # a chain: each task handed over once the one before rang
        pool.submit(lambda: names.append(threading.current_thread().name))
        rung.get(timeout=10)
    pool.shutdown()
    assert names == ["step_0"] * 5


def test_an_error_comes_back_with_the_result_and_the_thread_goes_on():
    rung, ring = _ring()
    pool = Workers(1, ring)

    def fails():
        raise ValueError("bad")

    t = pool.submit(fails)
    assert rung.get(timeout=10) is t and t.done()
    with pytest.raises(ValueError, match="bad"):
        t.result()
    ok = pool.submit(lambda: 7)
    assert rung.get(timeout=10) is ok and ok.result() == 7
    pool.shutdown()


def test_shutdown_waits_for_what_was_handed_over():
    rung, ring = _ring()
    pool = Workers(2, ring)
    gate = Gate()
    tickets = [pool.submit(gate.task, i) for i in range(3)]
    threading.Timer(0.1, gate.open.set).start()
    pool.shutdown()
    assert all(t.done() for t in tickets)
    assert not any(t.is_alive() for t in pool._threads)


def test_a_thread_that_could_not_start_is_not_waited_for(monkeypatch):
    # (A mock: "can't start new thread" cannot be caused here on demand.)
    import pipefile.workers as workers

    class Refused(threading.Thread):
        def start(self):
            raise RuntimeError("can't start new thread")

    monkeypatch.setattr(workers.threading, "Thread", Refused)
    pool = Workers(2, lambda t: None)
    with pytest.raises(RuntimeError, match="can't start"):
        pool.submit(lambda: 1)
    pool.shutdown()  # (joining a thread that never started would raise here)
