"""Executes a Plan: independent steps in parallel, within CPU, memory and GPU limits
(leases.py counts what a running step holds; requests no machine can meet are errors
before anything runs).

A step starts once every step it reads from has finished. A PENDING step is decided again
then, with its inputs final: if an upstream rerun left them byte-identical it is FRESH and
nothing runs (early cutoff). A turn (take in what ended, start what is ready) is taken by
the worker whose task just ended, or by the main thread (turns.py). The main thread writes
the WorkspaceState journal once the tasks started after what ended are in their commands
(at once when none started; at most every RECORD_EVERY_SECONDS), and reads ahead for the
steps waiting on them (read_ahead.py): both overlap the next command (a record lost to a
crash costs the next run a re-hash, never a wrong answer: the run-cache entry is written
first).

On a failure the steps that need it are skipped; the rest are skipped too unless
keep_going. Ctrl-C (or SIGTERM) stops the running steps, whose outputs roll back, and keeps
everything already committed.

The scheduler alone re-plans. A restore that fails where running would do (a damaged cache,
a failing remote) comes back as RESTORE_FAILED and the step is queued again to run; a step
whose upstream so ran with other bytes than the cache promised is decided again. What this
run left on a remote is brought in for a step that must run (bringing.py). It drives any
executors.protocol.Executor.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import queue
import threading
import time
from typing import Optional

from .bringing import Left, run_after_bringing
from .executors.protocol import Executor
from .graph import Graph, Node
from .leases import Leases, machine_memory
from .mapruns import MapPolicy
from .outcomes import Outcome, RunSummary, StepResult  # (RunSummary: also imported from here)
from .overwrites import OverwriteWatch
from .planner import Plan, Planner, Upstream
from .read_ahead import ReadAhead
from .rebuilder import Decision, Verdict
from .state_records import PendingRecords
from .step_events import Events, NoEvents
from .turns import Turns
from .workers import Workers
from .workspace.lock import is_disk_error

# How long the journal waits for the tasks just started to reach their commands (an
# environment being built may take far longer: then it is written anyway).
RECORD_WAIT_SECONDS = 0.005
# The journal is written at most this often: on a chain of short steps one transaction per step
# was a third of this process's CPU, taken from the commands when other work shares the machine
# (docs/benchmarks.md). What a crash loses of it costs the next run a re-hash of those outputs.
RECORD_EVERY_SECONDS = 0.05


class Scheduler:
    def __init__(
        self,
        graph: Graph,
        planner: Planner,
        executor: Optional[Executor],
        state=None,
        jobs: int = 0,
        keep_going: bool = False,
        events: Optional[Events] = None,
        memory: Optional[int] = None,
        dry_run: bool = False,
        gpus: Optional[list] = None,
        placed_elsewhere: bool = False,
    ):
        """`gpus`: the devices (envs.gpus.Gpu) to hand out; None when no selected step asks for any.
        `placed_elsewhere`: the executor's cluster places the steps that run by their resources
        (Ray): here only -j limits how many are in flight, never this machine's GPUs or memory."""
        self.placed_elsewhere = placed_elsewhere
        self.graph = graph
        self.planner = planner
        self.executor = executor
        self.state = state  # WorkspaceState, None for a dry run
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.keep_going = keep_going
        self.events = events or NoEvents()
        self.memory = machine_memory() if memory is None else memory
        self.dry_run = dry_run
        self.gpus = gpus
        self._records = PendingRecords(graph, state, lambda: {}, self.events.message)

    def check_resources(self, plan: Plan) -> None:
        """Requests no schedule can meet, for the steps that may run (restoring needs nothing)."""
        self._leases().check(plan.decisions)

    def _leases(self) -> Leases:
        return Leases(self.graph, self.jobs, self.memory, self.gpus, self.placed_elsewhere)

    def _needs_a_slot(self, name: str, decisions: dict) -> bool:
        """Whether ready task `name` would take a share of the CPUs (it may run or restore)."""
        return decisions[name].verdict not in (Verdict.FRESH, Verdict.STOPPED)

    def execute(self, plan: Plan) -> RunSummary:
        leases = self._leases()
        leases.check(plan.decisions)
        t0 = time.monotonic()
        decisions: dict = dict(plan.decisions)
        names = list(decisions)
        pos = {n: i for i, n in enumerate(names)}
        selected = set(names)
        results: dict = {}
        upstream: dict = {}
        waiting_on = {n: sum(1 for d in self.graph.nodes[n].deps if d in selected) for n in names}
        ready: list = []
        running: dict = {}  # future -> (name, decision, (cpu, memory, GPU lease, limited group or None))
        # Two tasks of one key (a pipeline used twice): one runs, the other waits and restores.
        keyed: dict = {}  # key of a task run in this job -> its name
        twins: dict = {}  # key -> tasks waiting for it
        again: set = set()  # tasks decided once more after their twin ran (never held again)
        stop = False
        interrupted = False
        pool = None  # started with the first step that runs: a no-op needs no threads

        fell_back = False  # a restore ran the step instead: what it promised may not hold
        instead: dict = {}  # step -> its RESTORE_FAILED result: queued again, to run
        left: dict = {}  # step -> bringing.Left: its outputs stayed on the remote

        watch = OverwriteWatch(self, results, decisions)
        maps = MapPolicy(self.graph, self.keep_going)  # a foreach's retries and error_threshold, a sweep's left out
        records = self._records = PendingRecords(
            self.graph, self.state, lambda: self.planner.hasher.cache.take_dirty(), self.events.message
        )
        # Set when a task's command has started or a task has ended: the journal waits for
        # the tasks just started to reach their commands (Python work of this thread beside
        # theirs would hold them up: one interpreter lock).
        busy = threading.Event()
        # A task that ended rings here (unless its worker took the turn: turns.py), and so does
        # a command that starts (this thread writes the journal while it runs).
        rung: queue.SimpleQueue = queue.SimpleQueue()
        signalled = False  # the executor says when commands start (Executor.when_commands_run)

        def command_started() -> None:
            nonlocal signalled
            signalled = True
            busy.set()
            rung.put(None)

        if self.executor is not None:
            self.executor.when_commands_run(command_started)

        ended = False  # a task ended since the journal was last written
        written = 0.0  # when the journal was last written (time.monotonic)
        started: list = []  # the tasks started since this thread last read ahead for them
        read_ahead = ReadAhead(self.graph, self.planner, selected, decisions)
        say_running = getattr(self.events, "commands_running", None) or (lambda: None)  # (jobs.Fanout)

        def task(*args) -> StepResult:
            try:
                return self._task(*args)
            finally:
                busy.set()

        def wait_for_one(timeout: float = 0.5) -> None:
            """Wait up to `timeout` for a ring (a task ended, a command started). What ended
            is found by state, under the turn's lock (workers' turns change `running`)."""
            try:
                rung.get(timeout=timeout)
                while not rung.empty():
                    rung.get_nowait()
            except queue.Empty:
                pass

        def done(name: str, result: StepResult, decision: Optional[Decision]) -> None:
            nonlocal fell_back, ended
            ended = True
            if result.outcome == Outcome.RAN and decision is not None and decision.verdict == Verdict.RESTORE:
                fell_back = True
            if result.outcome == Outcome.LEFT_ON_REMOTE:
                left[name] = Left()
            result = maps.after(watch.finished(name, result, decision))
            results[name] = result
            self.events.finished(result, decision)
            if result.outcome in (Outcome.RAN, Outcome.RESTORED) or (
                result.outcome == Outcome.FRESH and decision and decision.record
            ):
                records.add(name, decision, result.outputs)
            if result.ok and result.outputs is not None:
                upstream[name] = Upstream(result.outputs, result.outcome != Outcome.LEFT_ON_REMOTE)
            elif result.tolerated or maps.is_left_out(name):
                upstream[name] = Upstream({}, True, "failed")  # readers of the gathered folder (or STEP.best) go on
            elif result.outcome == Outcome.STOPPED or (
                result.outcome in (Outcome.FAILED, Outcome.SKIPPED) and name in self.graph.followed
            ):
                # Ended without outputs: what runs after it (a bayesian sweep's later rounds) goes on.
                upstream[name] = Upstream({}, True, result.outcome.value)
            else:
                upstream[name] = Upstream(None, False)
            for dep in self.graph.dependents.get(name, ()):
                if dep in selected:
                    waiting_on[dep] -= 1
                    if waiting_on[dep] == 0:
                        heapq.heappush(ready, (pos[dep], dep))

        def upstream_failed(name: str) -> Optional[str]:
            after = self.graph.nodes[name].step.after  # (run after, not read: not a failure of its own)
            for d in self.graph.nodes[name].deps:
                r = results.get(d)
                if r is not None and not r.ok and not r.tolerated and d not in after and not maps.spares(name, d):
                    return d
            return None

        def arrived(name: str, d: Decision, ticket) -> None:
            try:
                result = ticket.result()
            except Exception as e:  # a bug, not a step failure: still keep going safely
                result = StepResult(name=name, outcome=Outcome.FAILED, error=f"internal error: {e!r}")
            if result.outcome == Outcome.RESTORE_FAILED:
                if interrupted:
                    done(
                        name,
                        dataclasses.replace(
                            result,
                            outcome=Outcome.FAILED,
                            error=f"could not restore ({result.error}); interrupted before it could run",
                        ),
                        d,
                    )
                elif not self.placed_elsewhere and self.graph.nodes[name].step.resources.gpus > len(self.gpus or []):
                    done(
                        name,
                        dataclasses.replace(
                            result,
                            outcome=Outcome.FAILED,
                            error=f"could not restore ({result.error}); run pipe again to run the step (it needs GPUs)",
                        ),
                        d,
                    )
                else:
                    instead[name] = result  # the cache failed us: run it (when it fits)
                    heapq.heappush(ready, (pos[name], name))
                return
            if result.outcome == Outcome.FAILED and not interrupted and not stop and maps.retry(result):
                instead[name] = dataclasses.replace(result, notes=[])  # runs again, as decided
                heapq.heappush(ready, (pos[name], name))
                return
            first = instead.pop(name, None)
            if first is not None and first.outcome == Outcome.FAILED:
                first = None  # a retry of a foreach task (MapPolicy notes its tries)
            if first is not None:  # (its error on one line: a note is, and the hint had its own)
                why = "; ".join(x.strip() for x in (first.error or "").splitlines() if x.strip())
                notes = [f"could not restore ({why}); ran the step instead"]
                result = dataclasses.replace(result, notes=first.notes + notes + result.notes)
            done(name, result, d)

        for n in names:
            if waiting_on[n] == 0:
                heapq.heappush(ready, (pos[n], n))

        def start_ready() -> bool:
            """Start the ready tasks that fit (under the turn's lock). True when some started
            and each will say when its command starts (that wakes this thread to write)."""
            nonlocal stop, pool
            blocked = []
            cleared = False
            commands = signalled and not self.dry_run
            while ready and not stop:
                if running and leases.saturated() and self._needs_a_slot(ready[0][1], decisions):
                    # No task can start until one ends: looking through the rest of `ready`
                    # each time made a map over many items quadratic.
                    break
                _, name = heapq.heappop(ready)
                bad = upstream_failed(name)
                if bad:
                    done(
                        name,
                        StepResult(name=name, outcome=Outcome.SKIPPED, error=f"'{bad}' did not succeed"),
                        decisions[name],
                    )
                    continue
                d = decisions[name]
                if name in instead:
                    pass  # decided already: it runs
                elif d.verdict == Verdict.PENDING:
                    if any(
                        upstream.get(x) is None or upstream[x].outputs is None
                        for x in self.graph.nodes[name].deps
                        if x in selected
                    ):
                        # Only in a dry run: upstream "ran" without producing anything.
                        done(name, StepResult(name=name, outcome=Outcome.WOULD_RUN), d)
                        continue
                    d = decisions[name] = self.planner.decide(name, upstream)
                elif fell_back and self._promised_otherwise(name, decisions, upstream):
                    # An upstream restore fell back to running (a bad or unreachable cache)
                    # and made other outputs than the cache promised: decide on what is there.
                    d = decisions[name] = self.planner.decide(name, upstream)
                if d.verdict == Verdict.FRESH and name not in instead:
                    done(name, StepResult(name=name, outcome=Outcome.FRESH, outputs=dict(d.outputs)), d)
                    continue
                if d.verdict == Verdict.STOPPED:
                    done(name, self._stays_stopped(name, d), d)
                    continue
                runs = name in instead or d.verdict != Verdict.RESTORE
                key = d.key.digest if runs and d.key and not self.dry_run and name not in instead else None
                if key in keyed and not self.graph.nodes[name].step.always_run and name not in again:
                    first = results.get(keyed[key])
                    if first is None:  # still running: restored from its run when it ends
                        twins.setdefault(key, []).append(name)
                        continue
                    if first.outcome == Outcome.RAN:  # ran already: decided again (restore)
                        again.add(name)
                        decisions[name] = self.planner.decide(name, upstream)
                        heapq.heappush(ready, (pos[name], name))
                        continue
                cpu, mem, gpus = leases.cost(name, runs)
                group = leases.limited_group(name) if runs else None
                if not leases.fits(cpu, mem, gpus, group, bool(running)):
                    blocked.append((pos[name], name))
                    continue
                lease = leases.take(cpu, mem, gpus, group)
                node = self.graph.nodes[name]
                if runs and not self.dry_run:
                    watch.before_command(name)
                    bad = upstream_failed(name)  # the check may have failed a step it reads
                    if bad or (watch.blamed and not self.keep_going):
                        leases.give_back(cpu, mem, lease, group)
                        if bad:
                            done(
                                name,
                                StepResult(name=name, outcome=Outcome.SKIPPED, error=f"'{bad}' did not succeed"),
                                d,
                            )
                        else:
                            stop = True  # a step failed: start nothing more (it is skipped)
                        continue
                if name not in instead:
                    self.events.started(name, d)
                if pool is None:
                    pool = Workers(self.jobs, turns.ring)
                brought = [(x, left[x], decisions[x]) for x in node.deps if x in left] if runs else []
                if key is not None:
                    keyed[key] = name
                if not cleared:
                    busy.clear()  # (their commands set it: the journal waits for that)
                    cleared = True
                ticket = pool.submit(task, node, d, runs, lease if self.gpus else None, brought)
                running[ticket] = (name, d, (cpu, mem, lease, group))
                started.append(name)
                commands = commands and runs
            for item in blocked:
                heapq.heappush(ready, item)
            return cleared and commands

        def take_in(ticket) -> None:
            """A task that ended (under the turn's lock)."""
            nonlocal stop
            name, d, (cpu, mem, lease, group) = running.pop(ticket)
            leases.give_back(cpu, mem, lease, group)
            arrived(name, d, ticket)
            key = d.key.digest if d.key is not None else None
            for twin in twins.pop(key, ()) if keyed.get(key) == name else ():
                again.add(twin)
                decisions[twin] = self.planner.decide(twin, upstream)
                heapq.heappush(ready, (pos[twin], twin))
            if name in results and not self.keep_going and results[name].outcome == Outcome.FAILED:
                stop = stop or not results[name].tolerated
            if watch.blamed and not self.keep_going:
                stop = True

        def worker_turn(ticket) -> bool:
            """The turn of the worker whose task ended (turns.py): True if it needs no wake-up."""
            if ticket not in running:
                return False  # (taken in already, by a turn of this thread)
            take_in(ticket)
            return start_ready()

        turns = Turns(worker_turn, rung.put)

        try:
            while True:
                with turns.lock:
                    turns.raise_error()
                    for ticket in [t for t in running if t.done()]:
                        take_in(ticket)
                    start_ready()
                    if not running:
                        break
                    just_started, started[:] = started[:], []
                    write = ended and time.monotonic() >= written + RECORD_EVERY_SECONDS
                    ended = ended and not write
                if just_started:
                    busy.wait(RECORD_WAIT_SECONDS)
                with turns.lock:
                    if write or just_started:
                        say_running()
                    if write:
                        records.write()
                        written = time.monotonic()
                    if just_started and not self.dry_run:
                        read_ahead.after_start(just_started)
                # (What is held back is written when its time comes, however long the commands run.)
                wait_for_one(min(0.5, max(0.0, written + RECORD_EVERY_SECONDS - time.monotonic())) if ended else 0.5)
            turns.raise_error()  # (one that ended the last task, rang and so ended the loop)
            if not fell_back:
                # Tasks still waiting for a slot when a failure stopped the run: one with nothing
                # to do is fresh all the same (as it was when every ready task was looked at).
                while ready:
                    _, name = heapq.heappop(ready)
                    d = decisions[name]
                    if name in results or name in instead or upstream_failed(name):
                        continue
                    if d.verdict == Verdict.PENDING and all(
                        upstream.get(x) is not None and upstream[x].outputs is not None
                        for x in self.graph.nodes[name].deps
                        if x in selected
                    ):
                        d = decisions[name] = self.planner.decide(name, upstream)
                    if d.verdict == Verdict.FRESH:
                        done(name, StepResult(name=name, outcome=Outcome.FRESH, outputs=dict(d.outputs)), d)
                    elif d.verdict == Verdict.STOPPED:
                        done(name, self._stays_stopped(name, d), d)
            records.write()
            watch.at_end()  # (not after Ctrl-C: the user wants out, the next run repairs)
        except KeyboardInterrupt:
            interrupted = True
            stop = True  # (a worker's turn under way starts nothing more)
            # Cancelled before waiting for a worker's turn under way, which may take long (an
            # input hashed, a remote asked): what it still starts does not start (cancel()).
            self.executor.cancel()
            self.events.message("interrupted: stopping running steps (Ctrl-C or the signal again kills them)...")
            while True:
                try:
                    turns.stop_workers()
                    break
                except KeyboardInterrupt:
                    self.executor.cancel(hard=True)
            while running:
                try:
                    wait_for_one()
                except KeyboardInterrupt:
                    self.executor.cancel(hard=True)
                    continue
                for ticket in [t for t in running if t.done()]:  # (by state: a ring lost to Ctrl-C loses no task)
                    name, d, _ = running.pop(ticket)
                    arrived(name, d, ticket)
        finally:
            turns.stop_workers()  # (a failure of this thread's: no worker starts anything more)
            if pool is not None:
                pool.shutdown()
            records.write()
            if self.state is not None:
                try:
                    self.state.save_stats(self.planner.hasher.cache.take_dirty())
                except Exception as e:  # noqa: BLE001 - only a cache: losing it costs a re-hash
                    if not is_disk_error(e):
                        raise

        for n in names:
            if n not in results:
                why = "interrupted" if interrupted else "the run stopped after a failure (use --keep-going to go on)"
                results[n] = StepResult(name=n, outcome=Outcome.SKIPPED, error=why)
                self.events.finished(results[n], decisions.get(n))  # the job records every selected step
        maps.untolerated(results)
        ordered = {n: results[n] for n in names}
        return RunSummary(ordered, decisions, interrupted, time.monotonic() - t0)

    def _task(self, node: Node, decision: Decision, runs: bool, devices: Optional[tuple], brought: list) -> StepResult:
        """One task, on a worker thread: restore it, or run it (bringing.py)."""
        if not runs:
            return self.executor.restore(node, decision)
        return run_after_bringing(self.executor, self.graph, node, decision, devices, brought)

    def _stays_stopped(self, name: str, d: Decision) -> StepResult:
        """A trial stopped before (the planner's STOPPED): nothing runs, and as when it was
        stopped it leaves no entry in the gathered folders (an older one, of other inputs,
        would be taken for its result)."""
        if not self.dry_run:
            from .stopping import remove_entries

            remove_entries(self.graph.pipefile.root, [o.path for o in self.graph.nodes[name].outputs.values()])
        r = d.reasons[0]  # (rebuilder.STOPPED_BEFORE)
        return StepResult(name=name, outcome=Outcome.STOPPED, error=f"stopped by {r.subject} in job {r.new}: {r.old}")

    def _promised_otherwise(self, name: str, decisions: dict, upstream: dict) -> bool:
        """Whether a step read by `name` ended with outputs other than its decision said."""
        for dep in self.graph.nodes[name].deps:
            planned = decisions[dep].outputs if dep in decisions else None
            actual = upstream[dep].outputs if dep in upstream else None
            if planned is None or actual is None:
                continue
            if set(planned) != set(actual) or any(not actual[k].same_content(planned[k]) for k in planned):
                return True
        return False

    def forget_record(self, name: str) -> None:
        """Drop the state record of `name` (OverwriteWatch: its outputs were written over)."""
        self._records.forget(name)
