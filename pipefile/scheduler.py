"""Executes a Plan: independent steps in parallel, within CPU, memory and GPU limits.

GPUs are leased by device id: a step that asks for N gets N free devices of the
pool (never shared with another running step) for as long as it runs, and the
executor sets CUDA_VISIBLE_DEVICES to exactly those. Requests that can never be
met (more GPUs or memory than the machine has) are errors before anything runs.

A step starts once every step it reads from has finished. A PENDING step is
decided again at that moment, with its inputs final: if the upstream rerun
left them byte-identical the step is FRESH and nothing runs (early cutoff).
Results are recorded in the WorkspaceState journal from this (the main)
thread as they arrive, so a run cut short keeps every step that finished.

On a failure the steps that need it are skipped; the rest are skipped too
unless keep_going. Ctrl-C (or SIGTERM) stops the running steps, whose outputs
roll back, and keeps everything already committed.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from typing import Optional, Protocol

from .errors import PipefileError
from .executor import FAILED, FRESH, LEFT_ON_REMOTE, RAN, RESTORED, SKIPPED, WOULD_RUN, StepResult
from .graph import Graph
from .planner import Plan, Planner, Upstream
from .rebuilder import Decision, Verdict
from .store.lock import is_disk_error
from .store.state import OutputRecord


class Events(Protocol):
    def started(self, name: str, decision: Decision) -> None: ...

    def finished(self, result: StepResult, decision: Optional[Decision]) -> None: ...

    def message(self, text: str) -> None: ...


class NoEvents:
    def started(self, name, decision):
        pass

    def finished(self, result, decision):
        pass

    def message(self, text):
        pass


@dataclass
class RunSummary:
    results: dict  # name -> StepResult, in topological order
    decisions: dict  # name -> the final Decision
    interrupted: bool = False
    seconds: float = 0.0
    errors: list = field(default_factory=list)

    @property
    def failed(self) -> list:
        return [r for r in self.results.values() if r.outcome == FAILED]

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failed else "succeeded"


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 0


class Scheduler:
    def __init__(self, graph: Graph, planner: Planner, executor, state=None, jobs: int = 0,
                 keep_going: bool = False, events: Optional[Events] = None, memory: Optional[int] = None,
                 dry_run: bool = False, gpus: Optional[list] = None):
        """`gpus`: the devices (envs.gpus.Gpu) to hand out; None when no selected step asks for any."""
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
        self._gpu_order = {g.id: i for i, g in enumerate(gpus or [])}

    def check_resources(self, plan: Plan) -> None:
        """Requests no schedule can meet, for the steps that may run (restoring needs nothing)."""
        errors = []
        pool = self.gpus or []
        ids = ", ".join(g.id for g in pool)
        for name, d in plan.decisions.items():
            if d.verdict not in (Verdict.RUN, Verdict.PENDING):
                continue
            r = self.graph.nodes[name].step.resources
            loc = self.graph.nodes[name].step.loc
            if r.gpus and not pool:
                errors.append(PipefileError(
                    f"step '{name}' asks for {_n(r.gpus, 'GPU')}, but no GPU was found on this machine "
                    f"(neither NVML nor nvidia-smi sees one)", loc,
                    "run it where there is an NVIDIA GPU and driver, or name the devices with --gpus 0,1 or "
                    "PIPE_GPUS=0,1"))
            elif r.gpus > len(pool):
                errors.append(PipefileError(
                    f"step '{name}' asks for {_n(r.gpus, 'GPU')}, but this machine has {len(pool)} ({ids})", loc,
                    "lower resources.gpus for this step, or run it on a machine with more GPUs"))
            if r.memory and self.memory and r.memory > self.memory:
                errors.append(PipefileError(
                    f"step '{name}' asks for {r.memory / 1e9:.1f} GB of memory, but this machine has "
                    f"{self.memory / 1e9:.1f} GB", self.graph.nodes[name].step.loc,
                    "lower resources.memory for this step"))
        if errors:
            from .errors import raise_all

            raise_all(errors)

    def _cost(self, name: str, decision: Decision) -> tuple:
        r = self.graph.nodes[name].step.resources
        if decision.verdict == Verdict.RESTORE:
            return (1.0, 0, 0)  # copying from the store needs no GPU (and must not wait for one)
        return (min(max(r.cpus, 0.01), float(self.jobs)), r.memory, r.gpus)

    def execute(self, plan: Plan) -> RunSummary:
        self.check_resources(plan)
        free_gpus = list(self.gpus or [])
        t0 = time.monotonic()
        decisions: dict = dict(plan.decisions)
        names = list(decisions)
        pos = {n: i for i, n in enumerate(names)}
        selected = set(names)
        results: dict = {}
        upstream: dict = {}
        waiting_on = {n: sum(1 for d in self.graph.nodes[n].deps if d in selected) for n in names}
        ready: list = []
        running: dict = {}  # future -> (name, decision, cost)
        used_cpu, used_mem = 0.0, 0
        stop = False
        interrupted = False
        pool = None  # started with the first step that runs: a no-op needs no threads

        fell_back = False  # a restore ran the step instead: what it promised may not hold

        watch = _Watch(self, results, decisions)

        def done(name: str, result: StepResult, decision: Optional[Decision]) -> None:
            nonlocal fell_back
            if result.outcome == RAN and decision is not None and decision.verdict == Verdict.RESTORE:
                fell_back = True
            result = watch.finished(name, result, decision)
            results[name] = result
            self.events.finished(result, decision)
            if result.outcome in (RAN, RESTORED) or (result.outcome == FRESH and decision and decision.record):
                self._record(name, decision, result.outputs)
            if result.ok and result.outputs is not None:
                upstream[name] = Upstream(result.outputs, result.outcome != LEFT_ON_REMOTE)
            else:
                upstream[name] = Upstream(None, False)
            for dep in self.graph.dependents.get(name, ()):
                if dep in selected:
                    waiting_on[dep] -= 1
                    if waiting_on[dep] == 0:
                        heapq.heappush(ready, (pos[dep], dep))

        def upstream_failed(name: str) -> Optional[str]:
            for d in self.graph.nodes[name].deps:
                r = results.get(d)
                if r is not None and not r.ok:
                    return d
            return None

        for n in names:
            if waiting_on[n] == 0:
                heapq.heappush(ready, (pos[n], n))

        try:
            while ready or running:
                blocked = []
                while ready and not stop:
                    _, name = heapq.heappop(ready)
                    bad = upstream_failed(name)
                    if bad:
                        done(name, StepResult(name, SKIPPED, error=f"'{bad}' did not succeed"), decisions[name])
                        continue
                    d = decisions[name]
                    if d.verdict == Verdict.PENDING:
                        if any(upstream.get(x) is None or upstream[x].outputs is None
                               for x in self.graph.nodes[name].deps if x in selected):
                            # Only in a dry run: upstream "ran" without producing anything.
                            done(name, StepResult(name, WOULD_RUN), d)
                            continue
                        d = decisions[name] = self.planner.decide(name, upstream)
                    elif fell_back and self._promised_otherwise(name, decisions, upstream):
                        # An upstream restore fell back to running (a bad or unreachable cache)
                        # and made other outputs than the cache promised: decide on what is there.
                        d = decisions[name] = self.planner.decide(name, upstream)
                    if d.verdict == Verdict.FRESH:
                        done(name, StepResult(name, FRESH, outputs=dict(d.outputs)), d)
                        continue
                    cpu, mem, gpus = self._cost(name, d)
                    if gpus > len(free_gpus) or (running and (used_cpu + cpu > self.jobs + 1e-9 or
                                                              (mem and used_mem + mem > self.memory))):
                        blocked.append((pos[name], name))
                        continue
                    used_cpu += cpu
                    used_mem += mem
                    lease = tuple(free_gpus[:gpus])
                    del free_gpus[:gpus]
                    node = self.graph.nodes[name]
                    fn = self.executor.restore if d.verdict == Verdict.RESTORE else self.executor.run
                    if fn == self.executor.run and not self.dry_run:
                        watch.before_command(name)
                        bad = upstream_failed(name)  # the check may have failed a step it reads
                        if bad or (watch.blamed and not self.keep_going):
                            used_cpu -= cpu
                            used_mem -= mem
                            free_gpus.extend(lease)
                            free_gpus.sort(key=lambda g: self._gpu_order[g.id])
                            if bad:
                                done(name, StepResult(name, SKIPPED, error=f"'{bad}' did not succeed"), d)
                            else:
                                stop = True  # a step failed: start nothing more (it is skipped)
                            continue
                    self.events.started(name, d)
                    if pool is None:
                        import concurrent.futures as cf  # (bound from here on: `running` needs the pool)

                        pool = cf.ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="step")
                    fut = pool.submit(fn, node, d, lease if self.gpus else None)
                    running[fut] = (name, d, (cpu, mem, lease))
                for item in blocked:
                    heapq.heappush(ready, item)
                if not running:
                    break
                finished, _ = cf.wait(list(running), timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    name, d, (cpu, mem, lease) = running.pop(fut)
                    used_cpu -= cpu
                    used_mem -= mem
                    free_gpus.extend(lease)
                    free_gpus.sort(key=lambda g: self._gpu_order[g.id])
                    try:
                        result = fut.result()
                    except Exception as e:  # a bug, not a step failure: still keep going safely
                        result = StepResult(name, FAILED, error=f"internal error: {e!r}")
                    done(name, result, d)
                    if results[name].outcome == FAILED and not self.keep_going:
                        stop = True
                if watch.blamed and not self.keep_going:
                    stop = True
            watch.at_end()  # (not after Ctrl-C: the user wants out, the next run repairs)
        except KeyboardInterrupt:
            interrupted = True
            stop = True
            self.events.message("interrupted: stopping running steps (Ctrl-C again to kill them)...")
            self.executor.cancel()
            while running:
                try:
                    finished, _ = cf.wait(list(running), timeout=0.5, return_when=cf.FIRST_COMPLETED)
                except KeyboardInterrupt:
                    self.executor.cancel(hard=True)
                    continue
                for fut in finished:
                    name, d, _ = running.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as e:
                        result = StepResult(name, FAILED, error=f"internal error: {e!r}")
                    done(name, result, d)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            if self.state is not None:
                try:
                    self.state.save_stats(self.planner.hasher.cache.take_dirty())
                except Exception as e:  # noqa: BLE001 - only a cache: losing it costs a re-hash
                    if not is_disk_error(e):
                        raise

        for n in names:
            if n not in results:
                why = "interrupted" if interrupted else "the run stopped after a failure (use --keep-going to go on)"
                results[n] = StepResult(n, SKIPPED, error=why)
                self.events.finished(results[n], decisions.get(n))  # the job records every selected step
        ordered = {n: results[n] for n in names}
        return RunSummary(ordered, decisions, interrupted, time.monotonic() - t0)

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

    def _record(self, name: str, decision: Optional[Decision], outputs: Optional[dict]) -> None:
        if self.state is None or decision is None or decision.key is None or outputs is None:
            return
        node = self.graph.nodes[name]
        recs = {n: OutputRecord(node.outputs[n].path, outputs[n]) for n in node.outputs}
        try:
            self.state.record_step(name, decision.key.digest, decision.key.manifest, recs,
                                   stats=self.planner.hasher.cache.take_dirty())
        except Exception as e:  # noqa: BLE001
            if not is_disk_error(e):
                raise
            # A lost record is harmless (the next run checks the step against the run cache);
            # the disk being full will fail the next step that writes, with its own message.
            self.events.message(f"warning: could not record step '{name}' in .pipe/state.db ({e}); "
                                f"the next run checks it again")


# A file's ctime comes from the kernel's coarse clock, up to a tick behind time.time_ns().
_CLOCK_SLACK_NS = 20_000_000


class _Watch:
    """Outputs put in place (or found fresh) during this run, re-checked by stat so that a step
    that writes over another step's declared output (a literal path in its command) is caught
    in the same run: it fails, and the other step's content is put back from the store.

    Checked: the outputs a step reads, just before its command starts, and everything at the
    end of the run. Nothing at all until a command has started (a no-op or a restore costs
    nothing); then one stat per file output (a walk of stats per folder output). The culprit is
    the step whose command ran when the output changed (its ctime)."""

    def __init__(self, sched: "Scheduler", results: dict, decisions: dict):
        self.sched = sched
        self.results = results
        self.decisions = decisions
        self.entries: dict = {}  # output path -> (step, output name, PathDigest, signature)
        self.fresh: list = []  # steps found fresh before any command started: signed when one does
        self.windows: dict = {}  # step -> (start, end) of its command; end None while it runs
        self.blame: dict = {}  # running step -> why it fails when it ends
        self.blamed: bool = False
        self.commands = False

    @property
    def active(self) -> bool:
        ex = self.sched.executor
        return self.sched.state is not None and hasattr(ex, "signature")

    def finished(self, name: str, result: StepResult, decision) -> StepResult:
        if not self.active:
            return result
        if result.window:
            self.windows[name] = result.window
        elif name in self.windows:
            self.windows[name] = (self.windows[name][0], time.time_ns())
        why = self.blame.pop(name, None)
        if why is not None and result.outcome == RAN:
            return self._fail(name, result, decision, why)
        if result.outcome in (RAN, RESTORED) and result.outputs is not None and result.signatures:
            self._add(name, result.outputs, result.signatures)
        elif result.outcome in (FRESH, RESTORED) and result.outputs is not None:
            if self.commands:
                self._add(name, result.outputs, None)
            else:
                self.fresh.append((name, result.outputs))
        return result

    def _add(self, name: str, outputs: dict, sigs) -> None:
        node = self.sched.graph.nodes[name]
        for oname, out in node.outputs.items():
            if oname not in outputs:
                continue
            sig = sigs.get(out.path) if sigs else self.sched.executor.signature(out.path)
            if sig is not None:
                self.entries[out.path] = (name, oname, outputs[oname], sig)

    def before_command(self, name: str) -> None:
        """`name` is about to run: check what it reads (it must read what was committed)."""
        if not self.active:
            return
        if not self.commands:
            self.commands = self.sched.executor.commands_started = True
            for fresh, outputs in self.fresh:
                self._add(fresh, outputs, None)
            self.fresh = []
        self.windows[name] = (time.time_ns(), None)
        paths = []
        for read in self.sched.graph.nodes[name].read_paths():
            parts = read.split("/")
            # The output it reads, or the output folder that holds what it reads.
            hit = next(("/".join(parts[:i]) for i in range(len(parts), 0, -1) if "/".join(parts[:i]) in self.entries),
                       None)
            if hit is not None and hit not in paths:
                paths.append(hit)
        self._check(paths, exclude=name)

    def at_end(self) -> None:
        if self.active and self.commands:
            self._check(list(self.entries))

    def _check(self, paths: list, exclude: str = "") -> None:
        ex = self.sched.executor
        for path in paths:
            producer, oname, content, sig = self.entries[path]
            if ex.signature(path) == sig:
                continue
            when = ex.changed_at(path)
            suspects = self._suspects(when, producer, exclude)
            ok, notes = ex.put_back(path, content)
            if ok:
                self.entries[path] = (producer, oname, content, ex.signature(path))
            else:
                del self.entries[path]
                if self.sched.state is not None:  # the record no longer holds: decide it again next time
                    self.sched.state.forget_step(producer)
            fixed = ("pipe put its content back from the store" if ok else
                     "its content could not be put back (the next run restores or runs it)")
            saved = "".join(f"; {n}" for n in notes)
            if not suspects:
                self.sched.events.message(
                    f"warning: output '{oname}' of step '{producer}' ('{path}') changed during the run, while no "
                    f"step ran (another program?); {fixed}{saved}")
                continue
            for s in suspects:
                also = [o for o in suspects if o != s]
                who = f" (or by {', '.join(repr(o) for o in also)}, which ran at the same time)" if also else ""
                why = (f"wrote over '{path}', output '{oname}' of step '{producer}', which it does not declare"
                       f"{who}; {fixed}{saved}. A step must write only its own outputs: declare the path as "
                       f"an output of one step only")
                if s not in self.results:
                    self.blame[s] = why  # still running: it fails when it ends
                    self.blamed = True
                elif self.results[s].outcome == RAN:
                    self.results[s] = self._fail(s, self.results[s], self.decisions.get(s), why, again=True)
                    self.blamed = True
                # (one that failed already, e.g. for writing its own input, keeps its own message)

    def _suspects(self, when: int, producer: str, exclude: str) -> list:
        """The steps whose command ran at time `when`: strictly first, then within the clock's slack."""
        now = time.time_ns()
        spans = {s: (a, b if b is not None else now) for s, (a, b) in self.windows.items()
                 if s not in (producer, exclude)}
        for slack in (0, _CLOCK_SLACK_NS):
            hit = [s for s, (a, b) in spans.items() if a - slack <= when <= b + slack]
            if hit:
                return sorted(hit)
        return []

    def _fail(self, name: str, result: StepResult, decision, why: str, again: bool = False) -> StepResult:
        """`name` broke the rules: it fails, is not recorded, and its run-cache entry goes (so it
        runs, and fails, again rather than being restored)."""
        import dataclasses

        failed = dataclasses.replace(result, outcome=FAILED, error=why, exit_code=result.exit_code)
        if decision is not None and decision.key is not None:
            self.sched.executor.ws.actions.forget(decision.key.digest)
        if again:  # it was reported and recorded as done: say it again, as failed
            if self.sched.state is not None:
                self.sched.state.forget_step(name)
            self.sched.events.finished(failed, decision)
        return failed


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
