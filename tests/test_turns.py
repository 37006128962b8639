"""The scheduler's turns taken by whichever thread is free (turns.py), as a property: over
random graphs, task times and -j, with an executor that says when commands start (so that
workers take turns), every task runs once, after every task it reads from has ended, and
within -j; and a plain Turns in-process: one turn at a time, a worker never waits for it."""

from __future__ import annotations

import os
import tempfile
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipefile.digest import FILE, PathDigest
from pipefile.outcomes import Outcome, StepResult
from pipefile.planner import Plan
from pipefile.rebuilder import Decision, Verdict
from pipefile.scheduler import Scheduler
from pipefile.speccache import load_graph
from pipefile.turns import Turns


class TimedExecutor:
    """Runs nothing: each task "starts its command" (the hook), sleeps its time, and notes
    when it started and ended."""

    def __init__(self, seconds: dict):
        self.seconds = seconds
        self.spans: dict = {}
        self.running = 0
        self.most = 0
        self.hook = None
        self._lock = threading.Lock()

    def when_commands_run(self, hook):
        self.hook = hook

    def run(self, node, decision, devices=None):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            assert node.name not in self.spans, f"{node.name} ran twice"
            self.spans[node.name] = [time.monotonic(), None]
        if self.hook is not None:
            self.hook()
        time.sleep(self.seconds[node.name])
        with self._lock:
            self.running -= 1
            self.spans[node.name][1] = time.monotonic()
        return StepResult(name=node.name, outcome=Outcome.RAN, outputs={"o": PathDigest(FILE, node.name, 1)})

    def restore(self, node, decision, bring=False):  # (nothing is restored here)
        raise AssertionError("no restore expected")

    def cancel(self, hard=False):
        pass

    def close(self):
        pass


class Pending:
    """Decides a PENDING task again (it runs), noting the thread, like the real planner."""

    def __init__(self):
        self.threads: set = set()

    def decide(self, name, upstream):
        self.threads.add(threading.current_thread().name)
        return Decision(name, Verdict.RUN)

    def read_ahead(self, name, most_bytes):
        return most_bytes


@st.composite
def plans(draw):
    n = draw(st.integers(2, 14))
    deps = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)]
    seconds = [draw(st.sampled_from([0.0, 0.0, 0.001, 0.003])) for _ in range(n)]
    pending = [draw(st.booleans()) for _ in range(n)]
    jobs = draw(st.integers(1, 4))
    return deps, seconds, pending, jobs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_every_task_runs_once_after_what_it_reads_and_within_jobs(case):
    deps, seconds, pending, jobs = case
    lines = ["version: 1", "steps:"]
    for i, ds in enumerate(deps):
        inputs = ", ".join(f"i{j}: o{j}.txt" for j in ds)
        lines.append(f'  s{i}: {{command: "true", inputs: {{{inputs}}}, outputs: {{o: o{i}.txt}}}}')
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "Pipefile"), "w") as f:
            f.write("\n".join(lines) + "\n")
        graph = load_graph(os.path.join(tmp, "Pipefile"), cwd=tmp)
    ex = TimedExecutor({f"s{i}": s for i, s in enumerate(seconds)})
    planner = Pending()
    decisions = {
        f"s{i}": Decision(f"s{i}", Verdict.PENDING if pending[i] and deps[i] else Verdict.RUN) for i in range(len(deps))
    }
    summary = Scheduler(graph, planner, ex, state=None, memory=0, jobs=jobs).execute(Plan(decisions))
    assert {n: r.outcome for n, r in summary.results.items()} == dict.fromkeys(decisions, Outcome.RAN)
    assert set(ex.spans) == set(decisions)
    for i, ds in enumerate(deps):
        for j in ds:
            assert ex.spans[f"s{j}"][1] <= ex.spans[f"s{i}"][0], (f"s{i} started before s{j} ended", deps)
    assert ex.most <= jobs


def test_one_turn_at_a_time_and_a_worker_never_waits_for_it():
    inside = threading.Event()
    release = threading.Event()
    rung: list = []

    def take(ticket):
        inside.set()
        release.wait(5)
        return True  # (it started something: nobody to wake)

    turns = Turns(take, rung.append)
    first = threading.Thread(target=turns.ring, args=("a",))
    first.start()
    assert inside.wait(5)
    t0 = time.monotonic()
    turns.ring("b")  # another worker, while "a"'s turn goes on: it rings, it does not wait
    assert time.monotonic() - t0 < 0.5 and rung == ["b"]
    release.set()
    first.join(5)
    assert rung == ["b"]  # ("a"'s turn started something: no ring)


def test_a_turn_that_raises_is_raised_on_the_main_thread_and_stops_workers_taking_turns():
    rung: list = []
    calls: list = []

    def take(ticket):
        calls.append(ticket)
        raise RuntimeError("a bug")

    turns = Turns(take, rung.append)
    worker = threading.Thread(target=turns.ring, args=("a",))
    worker.start()
    worker.join(5)
    assert rung == ["a"]  # the main thread is woken, to raise it
    try:
        turns.raise_error()
        raise AssertionError("not raised")
    except RuntimeError as e:
        assert str(e) == "a bug"
    turns.ring("b")
    assert calls == ["a"] and rung == ["a", "b"]  # no more turns by workers
    turns.raise_error()  # (raised once)
