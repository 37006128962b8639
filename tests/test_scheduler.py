"""The scheduler's contract, in-process: a fake executor (no subprocess, no file written) that
records what it is asked and answers as scripted drives Scheduler.execute over a small graph.

Order (a step starts once what it reads has finished), the parallelism limit, keep-going, a
failed restore re-planned as a run, outputs left on a remote brought in for a step that must
run, and Ctrl-C (cancel)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest

from pipefile.digest import FILE, PathDigest
from pipefile.leases import Leases
from pipefile.outcomes import Outcome, StepResult
from pipefile.planner import Plan
from pipefile.rebuilder import Decision, Verdict
from pipefile.scheduler import Scheduler
from pipefile.speccache import load_graph

# a -> b -> d <- c, and e alone
GRAPH = """
version: 1
steps:
  a: {command: "true", outputs: {o: a.txt}}
  b: {command: "true", inputs: {i: a.txt}, outputs: {o: b.txt}}
  c: {command: "true", outputs: {o: c.txt}}
  d: {command: "true", inputs: {i: b.txt, j: c.txt}, outputs: {o: d.txt}}
  e: {command: "true", outputs: {o: e.txt}}
"""


def _content(name: str) -> dict:
    return {"o": PathDigest(FILE, f"digest-of-{name}", 1)}


class FakeExecutor:
    """An Executor that records calls and answers from `script`: {(kind, step): outcome}, kind
    "run", "restore" or "bring" (a restore with bring=True) (default: RAN / RESTORED). A step in `gates` waits for its event (or
    for cancel) before it answers."""

    def __init__(self, script=None, delay: float = 0.0, gates=None, errors=None):
        self.script = dict(script or {})
        self.errors = dict(errors or {})  # (kind, step) -> its error's text, where not the default
        self.delay = delay
        self.gates = dict(gates or {})
        self.calls: list = []  # (kind, step), in the order they were asked
        self.finished: list = []  # steps, in the order they answered
        self.running = 0
        self.most_at_once = 0
        self.cancelled = threading.Event()
        self.closed = False
        self._lock = threading.Lock()

    def _answer(self, kind: str, node, default: str) -> StepResult:
        with self._lock:
            self.calls.append((kind, node.name))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            gate = self.gates.get(node.name)
            if gate is not None:
                gate.wait(10)
            time.sleep(self.delay)
            outcome = self.script.get((kind, node.name), default)
            if self.cancelled.is_set() and kind == "run":
                outcome = Outcome.FAILED
            ok = outcome in (Outcome.RAN, Outcome.RESTORED, Outcome.LEFT_ON_REMOTE)
            return StepResult(
                name=node.name,
                outcome=outcome,
                outputs=_content(node.name) if ok else None,
                error=None if ok else self.errors.get((kind, node.name), f"{kind} of {node.name} failed"),
                notes=[f"{kind} note"],
            )
        finally:
            with self._lock:
                self.running -= 1
                self.finished.append(node.name)

    def run(self, node, decision, devices=None):
        return self._answer("run", node, Outcome.RAN)

    def restore(self, node, decision, bring=False):
        return self._answer("bring" if bring else "restore", node, Outcome.RESTORED)

    def cancel(self, hard=False):
        self.cancelled.set()
        for gate in self.gates.values():
            gate.set()

    def close(self):
        self.closed = True

    def commands_starting(self):
        pass

    def when_commands_run(self, hook):
        pass

    def signature(self, rel):
        return None

    def changed_at(self, rel):
        return 0

    def put_back(self, rel, content):
        return False, []

    def forget(self, key):
        pass


class FakePlanner:
    """Decides a PENDING step again: it runs (and says what it saw upstream)."""

    def __init__(self):
        self.asked: list = []
        self.read_ahead_of: list = []  # (step, what had ended when it was asked)

    def decide(self, name, upstream):
        self.asked.append((name, sorted(n for n, u in upstream.items() if u.outputs is not None)))
        return Decision(name, Verdict.RUN)

    def read_ahead(self, name, most_bytes):
        self.read_ahead_of.append((name, len(self.asked)))
        return most_bytes


@pytest.fixture
def graph(tmp_path):
    (tmp_path / "Pipefile").write_text(GRAPH)
    return load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))


def _plan(graph, verdicts=None, remote=None) -> Plan:
    verdicts = verdicts or {}
    out = {}
    for name in graph.nodes:
        v = verdicts.get(name, Verdict.RUN)
        outputs = _content(name) if v in (Verdict.RESTORE, Verdict.FRESH) else None
        out[name] = Decision(name, v, outputs=outputs, remote=remote if v == Verdict.RESTORE else None)
    return Plan(out)


def _execute(graph, executor, plan=None, **kw):
    planner = kw.pop("planner", FakePlanner())
    sched = Scheduler(graph, planner, executor, state=None, memory=0, **kw)
    return sched.execute(plan or _plan(graph))


def _outcomes(summary) -> dict:
    return {n: r.outcome for n, r in summary.results.items()}


def test_every_step_runs_after_what_it_reads_and_a_pending_step_is_decided_then(graph):
    ex = FakeExecutor(delay=0.05)  # (time for the main thread to read ahead: workers take the turns)
    planner = FakePlanner()
    summary = _execute(graph, ex, _plan(graph, {"d": Verdict.PENDING}), jobs=1, planner=planner)
    assert _outcomes(summary) == dict.fromkeys("abcde", Outcome.RAN)
    assert ex.calls == [("run", n) for n in "abcde"]  # one at a time: in plan order
    assert planner.asked == [("d", ["a", "b", "c"])]  # with its upstream final
    # What d reads from no step was read ahead once, while a task it waits on ran (before d
    # was decided), not again as each of the others started.
    assert planner.read_ahead_of == [("d", 0)]


def test_no_more_steps_run_at_once_than_jobs_allows(graph):
    ex = FakeExecutor(delay=0.2)
    summary = _execute(graph, ex, jobs=2)
    assert _outcomes(summary) == dict.fromkeys("abcde", Outcome.RAN)
    assert ex.most_at_once == 2
    for before, after in (("a", "b"), ("b", "d"), ("c", "d")):
        assert ex.finished.index(before) < [n for _, n in ex.calls].index(after)


def test_a_failure_stops_the_run_unless_keep_going(graph):
    ex = FakeExecutor(script={("run", "a"): Outcome.FAILED})
    summary = _execute(graph, ex, jobs=1)
    assert _outcomes(summary) == {
        "a": Outcome.FAILED,
        "b": Outcome.SKIPPED,
        "c": Outcome.SKIPPED,
        "d": Outcome.SKIPPED,
        "e": Outcome.SKIPPED,
    }
    assert ex.calls == [("run", "a")]
    assert "--keep-going" in summary.results["c"].error

    ex = FakeExecutor(script={("run", "a"): Outcome.FAILED})
    summary = _execute(graph, ex, jobs=1, keep_going=True)
    assert _outcomes(summary) == {
        "a": Outcome.FAILED,
        "b": Outcome.SKIPPED,
        "c": Outcome.RAN,
        "d": Outcome.SKIPPED,
        "e": Outcome.RAN,
    }
    assert summary.results["b"].error == "'a' did not succeed"
    assert summary.results["d"].error == "'b' did not succeed"
    assert summary.status == "failed"


def test_a_failed_restore_is_run_instead_by_the_scheduler(graph):
    ex = FakeExecutor(script={("restore", "a"): Outcome.RESTORE_FAILED})
    plan = _plan(graph, {"a": Verdict.RESTORE, "c": Verdict.RESTORE})
    summary = _execute(graph, ex, plan, jobs=1)
    assert _outcomes(summary) == {
        "a": Outcome.RAN,
        "b": Outcome.RAN,
        "c": Outcome.RESTORED,
        "d": Outcome.RAN,
        "e": Outcome.RAN,
    }
    assert ex.calls[:2] == [("restore", "a"), ("run", "a")]
    # What the restore said comes first, then why it ran, then what the run said.
    assert summary.results["a"].notes == [
        "restore note",
        "could not restore (restore of a failed); ran the step instead",
        "run note",
    ]


def test_a_failed_restores_note_is_one_line_with_its_hint(graph):
    # The note was the error as it is, hint on a line of its own: printed as one line, it
    # showed a literal \n ("...refused\n  hint: push it again...").
    error = "object 3f2a on the remote does not match its name: refused\n\n  hint: push it again with --repair"
    ex = FakeExecutor(script={("restore", "a"): Outcome.RESTORE_FAILED}, errors={("restore", "a"): error})
    summary = _execute(graph, ex, _plan(graph, {"a": Verdict.RESTORE}), jobs=1)
    assert summary.results["a"].notes[1] == (
        "could not restore (object 3f2a on the remote does not match its name: refused; "
        "hint: push it again with --repair); ran the step instead"
    )


def test_a_failed_restore_of_a_step_that_needs_gpus_it_cannot_have_fails(graph, tmp_path):
    (tmp_path / "Pipefile").write_text(
        GRAPH.replace('a: {command: "true",', 'a: {resources: {gpus: 1}, command: "true",')
    )
    graph = load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))
    ex = FakeExecutor(script={("restore", "a"): Outcome.RESTORE_FAILED})
    summary = _execute(graph, ex, _plan(graph, dict.fromkeys("abcde", Verdict.RESTORE)), jobs=1, keep_going=True)
    assert summary.results["a"].outcome == Outcome.FAILED
    assert "could not restore (restore of a failed)" in summary.results["a"].error
    assert ("run", "a") not in ex.calls


def test_outputs_left_on_a_remote_are_brought_in_for_a_step_that_must_run(graph):
    ex = FakeExecutor(script={("restore", "a"): Outcome.LEFT_ON_REMOTE, ("restore", "c"): Outcome.LEFT_ON_REMOTE})
    plan = _plan(graph, {"a": Verdict.RESTORE, "c": Verdict.RESTORE}, remote="origin")
    summary = _execute(graph, ex, plan, jobs=1)
    assert _outcomes(summary) == {
        "a": Outcome.LEFT_ON_REMOTE,
        "b": Outcome.RAN,
        "c": Outcome.LEFT_ON_REMOTE,
        "d": Outcome.RAN,
        "e": Outcome.RAN,
    }
    assert ex.calls == [
        ("restore", "a"),
        ("bring", "a"),
        ("run", "b"),
        ("restore", "c"),
        ("bring", "c"),
        ("run", "d"),
        ("run", "e"),
    ]

    # The remote fails when it is asked again: the step that reads it fails, saying why.
    ex = FakeExecutor(script={("restore", "a"): Outcome.LEFT_ON_REMOTE, ("bring", "a"): Outcome.RESTORE_FAILED})
    summary = _execute(graph, ex, plan, jobs=1, keep_going=True)
    assert summary.results["b"].outcome == Outcome.FAILED
    assert summary.results["b"].error == (
        "cannot run: the outputs of 'a' could not be brought from remote 'origin' (bring of a failed); "
        "run that step here first (`pipe run a` runs it when its restore fails), then this one again"
    )
    assert ("run", "b") not in ex.calls


def test_ctrl_c_cancels_the_running_steps_and_starts_no_more(graph):
    gate = threading.Event()
    ex = FakeExecutor(gates={"a": gate})
    timer = threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,))  # Ctrl-C while 'a' runs
    timer.start()
    try:
        summary = _execute(graph, ex, jobs=1)
    finally:
        timer.cancel()
        gate.set()
    assert summary.interrupted and summary.status == "interrupted"
    assert ex.cancelled.is_set()
    assert ex.calls == [("run", "a")]
    assert summary.results["a"].outcome == Outcome.FAILED
    assert {summary.results[n].outcome for n in "bcde"} == {Outcome.SKIPPED}
    assert summary.results["e"].error == "interrupted"


def _wide(tmp_path, n: int):
    steps = "".join(f'  s{i}: {{command: "true", outputs: {{o: o{i}.txt}}}}\n' for i in range(n))
    (tmp_path / "Pipefile").write_text("version: 1\nsteps:\n" + steps)
    return load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))


def test_a_wide_plan_costs_work_linear_in_its_tasks(tmp_path, monkeypatch):
    # Issue 15 (a map over many items): while every slot was busy, each pass looked at every
    # ready task again, so N independent tasks cost about N * N / 2 looks.
    wide = _wide(tmp_path, 400)
    looks = []
    cost = Leases.cost
    monkeypatch.setattr(Leases, "cost", lambda self, name, runs: looks.append(name) or cost(self, name, runs))
    summary = _execute(wide, FakeExecutor(), jobs=2)
    assert set(_outcomes(summary).values()) == {Outcome.RAN}
    assert len(looks) < 3 * len(wide.nodes), len(looks)


def test_ready_fresh_tasks_are_fresh_when_a_failure_stops_the_run(tmp_path):
    wide = _wide(tmp_path, 6)
    verdicts = {f"s{i}": Verdict.FRESH for i in range(2, 6)}
    gate = threading.Event()
    ex = FakeExecutor({("run", "s0"): Outcome.FAILED}, gates={"s0": gate, "s1": gate})
    threading.Timer(0.3, gate.set).start()
    summary = _execute(wide, ex, _plan(wide, verdicts), jobs=1)
    got = _outcomes(summary)
    assert got["s0"] == Outcome.FAILED
    assert all(got[f"s{i}"] == Outcome.FRESH for i in range(2, 6)), got


MAP_AFTER_U = """
version: 1
params:
  xs: [1, 2, 3]
steps:
  u: {command: "true", outputs: {o: u.txt}}
  t:
    foreach: {over: "${{inputs.x}}", max_parallel: 1}
    inputs: {x: "${{params.xs}}", i: u.txt}
    command: "echo ${{inputs.x}} > ${{outputs.o}}"
    outputs: {o: out/}
"""


def test_a_task_given_back_before_its_command_returns_its_max_parallel_slot(tmp_path, monkeypatch):
    # Commit 2171d14: a task taken off just before its command (the overwrite check failed a
    # step it reads) gave back its CPU, memory and GPUs but kept its place in the map's
    # max_parallel, so under --keep-going fewer of the map's tasks could run at once.
    import pipefile.scheduler as scheduler_module

    (tmp_path / "Pipefile").write_text(MAP_AFTER_U)
    graph = load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))

    class FailsWhatTheFirstTaskReads:
        """The overwrite check as the scheduler sees it: before t[1]'s command it finds that u
        (which t[1] reads) wrote over another step's output, and fails u."""

        blamed = False

        def __init__(self, sched, results, decisions):
            self.results = results

        def finished(self, name, result, decision):
            return result

        def before_command(self, name):
            if name == "t[1]":
                self.results["u"] = StepResult(name="u", outcome=Outcome.FAILED, error="wrote over an output")

        def at_end(self):
            pass

    held = []
    make_leases = Scheduler._leases
    monkeypatch.setattr(scheduler_module, "OverwriteWatch", FailsWhatTheFirstTaskReads)
    monkeypatch.setattr(Scheduler, "_leases", lambda self: held.append(make_leases(self)) or held[-1])

    class NoState:  # (the watch is active only where there is a workspace state)
        def record_steps(self, *a, **k):
            pass

        def save_stats(self, entries):
            pass

    class Planner(FakePlanner):
        hasher = type("H", (), {"cache": type("C", (), {"take_dirty": staticmethod(dict)})()})()

    sched = Scheduler(graph, Planner(), FakeExecutor(), state=NoState(), memory=0, jobs=2, keep_going=True)
    summary = sched.execute(_plan(graph))
    assert _outcomes(summary)["t[1]"] == Outcome.SKIPPED
    leases = held[-1]
    # Every slot a task took is back once the run is over: the map's too.
    assert leases.in_group.get("t", 0) == 0, leases.in_group
    assert abs(leases.used_cpu) < 1e-9


class SignallingExecutor(FakeExecutor):
    """A FakeExecutor that says when each task's "command" starts (as the local executor does),
    then takes `delay` seconds to run it."""

    def when_commands_run(self, hook):
        self.hook = hook

    def run(self, node, decision, devices=None):
        self.hook()
        return super().run(node, decision, devices)


class ThreadNotingPlanner(FakePlanner):
    def __init__(self, fail_on=None):
        super().__init__()
        self.threads: dict = {}  # step -> the thread that decided it
        self.fail_on = fail_on

    def decide(self, name, upstream):
        self.threads[name] = threading.current_thread().name
        if name == self.fail_on:
            raise RuntimeError(f"a bug deciding {name}")
        return super().decide(name, upstream)


def test_the_worker_whose_task_ended_takes_the_turn_and_runs_the_next_task(graph):
    # On a chain the next task is decided and started by the worker that ran the one before
    # (turns.py): no hand-over to the main thread and back between two commands.
    ex = SignallingExecutor(delay=0.1)
    planner = ThreadNotingPlanner()
    summary = _execute(graph, ex, _plan(graph, {"b": Verdict.PENDING, "d": Verdict.PENDING}), jobs=1, planner=planner)
    assert _outcomes(summary) == dict.fromkeys("abcde", Outcome.RAN)
    assert ex.calls == [("run", n) for n in "abcde"]
    assert planner.threads == {"b": "step_0", "d": "step_0"}
    assert planner.asked == [("b", ["a"]), ("d", ["a", "b", "c"])]
    # What b and d read is read ahead (by the main thread) while a task they wait on runs.
    assert [name for name, _ in planner.read_ahead_of] == ["b", "d"]


def test_a_worker_turn_that_raises_is_raised_by_execute(graph):
    ex = SignallingExecutor(delay=0.05)
    planner = ThreadNotingPlanner(fail_on="b")
    with pytest.raises(RuntimeError, match="a bug deciding b"):
        _execute(graph, ex, _plan(graph, {"b": Verdict.PENDING}), jobs=1, planner=planner)
    assert planner.threads["b"] == "step_0"
    assert ex.calls == [("run", "a")]  # nothing started after the failed turn


def test_ctrl_c_while_a_task_a_worker_started_runs(graph):
    gate = threading.Event()
    ex = SignallingExecutor(delay=0.05, gates={"b": gate})
    planner = ThreadNotingPlanner()
    timer = threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,))  # while 'b' runs
    timer.start()
    try:
        summary = _execute(graph, ex, _plan(graph, {"b": Verdict.PENDING}), jobs=1, planner=planner)
    finally:
        timer.cancel()
        gate.set()
    assert planner.threads == {"b": "step_0"}
    assert summary.interrupted
    assert ex.calls == [("run", "a"), ("run", "b")]
    assert summary.results["a"].outcome == Outcome.RAN
    assert summary.results["b"].outcome == Outcome.FAILED
    assert {summary.results[n].outcome for n in "cde"} == {Outcome.SKIPPED}


def test_the_main_thread_never_walks_the_running_tasks_while_a_worker_turn_changes_them(tmp_path, monkeypatch):
    # Review of c96eaf5: between turns the main thread's wait_for_one() walked `running`
    # outside the turn's lock while workers took turns (popping and adding tickets): "dictionary
    # changed size during iteration" at random in a wide map. The main thread is slowed here
    # as it asks each ticket whether it is done, so that the workers' turns land in that walk.
    from pipefile import workers

    done = workers.Ticket.done
    main = threading.main_thread()

    def slow_on_main(ticket):
        if threading.current_thread() is main:
            time.sleep(0.0005)  # (the walk, widened: the GIL goes to the workers)
        return done(ticket)

    monkeypatch.setattr(workers.Ticket, "done", slow_on_main)
    wide = _wide(tmp_path, 200)
    ex = SignallingExecutor(delay=0.001)
    summary = _execute(wide, ex, jobs=8)
    assert set(_outcomes(summary).values()) == {Outcome.RAN}


class SlowDecider(FakePlanner):
    """Deciding `slow` takes `seconds` (a large input hashed, a remote asked), on whatever thread
    takes the turn."""

    def __init__(self, slow: str, seconds: float):
        super().__init__()
        self.slow, self.seconds = slow, seconds

    def decide(self, name, upstream):
        if name == self.slow:
            time.sleep(self.seconds)
        return super().decide(name, upstream)


class CancelTimingExecutor(FakeExecutor):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.cancelled_at = None

    def cancel(self, hard=False):
        if self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
        super().cancel(hard)


@contextlib.contextmanager
def _sigints(at: list, gate: threading.Event):
    """Ctrl-C at each of `at` seconds from now, while the block runs (raised only inside it,
    not in pytest's code after it); `gate` (a task's) is opened at the end."""
    inside = threading.Event()

    def handler(signum, frame):
        if inside.is_set():
            raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, handler)
    # To the main thread, as a terminal's Ctrl-C is (raise_signal would send it to the timer's
    # thread, and the main thread would not be woken from what it waits on).
    main = threading.main_thread().ident
    timers = [threading.Timer(t, signal.pthread_kill, (main, signal.SIGINT)) for t in at]
    for t in timers:
        t.start()
    inside.set()
    try:
        yield
    finally:
        inside.clear()
        for t in timers:
            t.cancel()
        signal.signal(signal.SIGINT, before)
        gate.set()


def test_ctrl_c_stops_the_running_commands_at_once_while_a_worker_turn_decides(graph):
    # Review of c96eaf5: 'a' ends and its worker decides 'b' (slow) while 'c' runs. Ctrl-C must
    # stop 'c' at once, as when the main thread decided: not once the worker's turn is over.
    gate = threading.Event()
    ex = CancelTimingExecutor(delay=0.05, gates={"c": gate})
    planner = SlowDecider("b", 3.0)
    with _sigints([0.5], gate):
        t0 = time.monotonic()
        summary = _execute(graph, ex, _plan(graph, {"b": Verdict.PENDING}), jobs=2, planner=planner)
    assert summary.interrupted
    assert ex.cancelled_at is not None and ex.cancelled_at - t0 < 1.5, ex.cancelled_at - t0
    assert summary.results["c"].outcome == Outcome.FAILED


def test_a_second_ctrl_c_while_a_worker_turn_decides_still_stops_the_running_commands(graph):
    # Review of c96eaf5: nothing shows the first Ctrl-C was heard (its message comes after the
    # worker's turn), so the user presses it again: that one left the Ctrl-C handler before it
    # cancelled anything, and the run then waited for every running command to end by itself.
    gate = threading.Event()
    ex = CancelTimingExecutor(delay=0.05, gates={"c": gate})
    planner = SlowDecider("b", 3.0)
    outcome = None
    with _sigints([0.5, 0.8], gate):
        t0 = time.monotonic()
        try:
            summary = _execute(graph, ex, _plan(graph, {"b": Verdict.PENDING}), jobs=2, planner=planner)
            outcome = summary.results["c"].outcome
        except KeyboardInterrupt:
            outcome = "KeyboardInterrupt"
        took = time.monotonic() - t0
    assert ex.cancelled_at is not None and ex.cancelled_at - t0 < 1.5, (ex.cancelled_at, t0)
    assert took < 5.0, (took, outcome)  # (c's gate waits 10 s for a cancel)


class RecordingState:
    """A WorkspaceState that notes when each transaction of step records was written."""

    def __init__(self):
        self.writes: list = []  # (time.monotonic(), names)

    def record_steps(self, records, stats=None):
        self.writes.append((time.monotonic(), [r[0] for r in records]))

    def save_stats(self, entries):
        pass

    def forget_step(self, name):
        pass


def _keyed_chain(tmp_path, n: int):
    from pipefile.keys import StepKey

    steps = "".join(
        f'  s{i}: {{command: "true", outputs: {{o: s{i}.txt}}' + (f", inputs: {{i: s{i - 1}.txt}}" if i else "") + "}\n"
        for i in range(n)
    )
    (tmp_path / "Pipefile").write_text("version: 1\nsteps:\n" + steps)
    graph = load_graph(str(tmp_path / "Pipefile"), cwd=str(tmp_path))
    plan = Plan({name: Decision(name, Verdict.RUN, StepKey(f"key-{name}", {})) for name in graph.nodes})
    return graph, plan


class KeyedPlanner(FakePlanner):
    hasher = type("H", (), {"cache": type("C", (), {"take_dirty": staticmethod(dict)})()})()


def test_the_journal_is_written_at_most_every_record_interval_and_keeps_every_step(tmp_path, monkeypatch):
    # On a chain of short steps one transaction of records per step was a third of pipe's
    # CPU (taken from the commands when the machine is shared); what a crash loses of the
    # journal costs a re-hash, so it is written in batches, at most every RECORD_EVERY_SECONDS.
    import pipefile.scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "RECORD_EVERY_SECONDS", 0.1)
    graph, plan = _keyed_chain(tmp_path, 60)
    state = RecordingState()
    started = time.monotonic()
    sched = Scheduler(graph, KeyedPlanner(), SignallingExecutor(delay=0.005), state=state, memory=0, jobs=2)
    summary = sched.execute(plan)
    took = time.monotonic() - started
    assert _outcomes(summary) == dict.fromkeys(graph.nodes, Outcome.RAN)
    recorded = [name for _, names in state.writes for name in names]
    assert sorted(recorded) == sorted(graph.nodes)  # every step once, none lost
    # Not one transaction per step: at most one per interval (and the last, at the end).
    assert len(state.writes) <= took / 0.1 + 2, (len(state.writes), took)
    gaps = [b[0] - a[0] for a, b in zip(state.writes, state.writes[1:-1])]
    assert all(g >= 0.1 - 0.01 for g in gaps), gaps


def test_a_record_held_back_is_written_while_a_long_command_runs(tmp_path, monkeypatch):
    # Held back by the interval, the record of a step that ended must not wait for the next
    # command to end (a run killed during a long step would lose it for nothing).
    import pipefile.scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "RECORD_EVERY_SECONDS", 0.2)
    graph, plan = _keyed_chain(tmp_path, 3)  # s0 and s1 quick, s2 long
    state = RecordingState()
    gate = threading.Event()
    ex = SignallingExecutor(gates={"s2": gate})
    sched = Scheduler(graph, KeyedPlanner(), ex, state=state, memory=0, jobs=2)
    runner = threading.Thread(target=sched.execute, args=(plan,))
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sorted(n for _, ns in state.writes for n in ns) != ["s0", "s1"]:
            time.sleep(0.01)
        assert sorted(n for _, ns in state.writes for n in ns) == ["s0", "s1"], state.writes
        assert ex.finished == ["s0", "s1"]  # (s2 still runs)
    finally:
        gate.set()
        runner.join(10)
    assert sorted(n for _, ns in state.writes for n in ns) == ["s0", "s1", "s2"]


def test_ctrl_c_writes_the_records_held_back_by_the_interval(tmp_path, monkeypatch):
    # s1's record is held back (s0's was written just before); Ctrl-C during s2 must still
    # write it (execute's `finally`): only a crash may lose a record.
    import pipefile.scheduler as scheduler_module

    monkeypatch.setattr(scheduler_module, "RECORD_EVERY_SECONDS", 60.0)
    graph, plan = _keyed_chain(tmp_path, 3)
    state = RecordingState()
    gate = threading.Event()
    ex = SignallingExecutor(gates={"s2": gate})
    with _sigints([0.5], gate):
        summary = Scheduler(graph, KeyedPlanner(), ex, state=state, memory=0, jobs=2).execute(plan)
    assert summary.interrupted
    assert ex.finished[:2] == ["s0", "s1"]
    assert [names for _, names in state.writes] == [["s0"], ["s1"]], state.writes
