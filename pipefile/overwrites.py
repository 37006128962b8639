"""Overwrite detection: a task that writes over another task's declared output (a literal
path in its command) is caught in the same run: it fails, and the other task's content is put
back from the store.

Checked: the outputs a task reads, just before its command starts, and everything at the end
of the run. Nothing at all until a command has started (a no-op or a restore costs nothing);
then one stat per file output (a walk of stats per folder output), through the executor's
file view (Executor.signature, changed_at, put_back). The culprit is the task whose command
ran when the output changed (its ctime).
"""

from __future__ import annotations

import dataclasses
import time

from .outcomes import Outcome, StepResult

# A file's ctime comes from the kernel's coarse clock, up to a tick behind time.time_ns().
_CLOCK_SLACK_NS = 20_000_000


class OverwriteWatch:
    """The outputs put in place (or found fresh) during one run of a Scheduler, re-checked by stat."""

    def __init__(self, sched, results: dict, decisions: dict):
        """`sched`: the Scheduler (its graph, executor, state and events); `results` and
        `decisions`: its run's, as they fill in."""
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
        return self.sched.state is not None  # (a dry run has none: nothing is put in place)

    def finished(self, name: str, result: StepResult, decision) -> StepResult:
        if not self.active:
            return result
        if result.window:
            self.windows[name] = result.window
        elif name in self.windows:
            self.windows[name] = (self.windows[name][0], time.time_ns())
        why = self.blame.pop(name, None)
        if why is not None and result.outcome == Outcome.RAN:
            return self._fail(name, result, decision, why)
        if result.outcome in (Outcome.RAN, Outcome.RESTORED) and result.outputs is not None and result.signatures:
            self._add(name, result.outputs, result.signatures)
        elif result.outcome in (Outcome.FRESH, Outcome.RESTORED) and result.outputs is not None:
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
            self.commands = True
            self.sched.executor.commands_starting()
            for fresh, outputs in self.fresh:
                self._add(fresh, outputs, None)
            self.fresh = []
        self.windows[name] = (time.time_ns(), None)
        paths = []
        for read in self.sched.graph.nodes[name].read_paths():
            parts = read.split("/")
            # The output it reads, or the output folder that holds what it reads.
            hit = next(
                ("/".join(parts[:i]) for i in range(len(parts), 0, -1) if "/".join(parts[:i]) in self.entries), None
            )
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
                self.sched.forget_record(producer)  # the record no longer holds: decide it again next time
            fixed = (
                "pipe put its content back from the store"
                if ok
                else "its content could not be put back (the next run restores or runs it)"
            )
            saved = "".join(f"; {n}" for n in notes)
            if not suspects:
                self.sched.events.message(
                    f"warning: output '{oname}' of step '{producer}' ('{path}') changed during the run, while no "
                    f"step ran (another program?); {fixed}{saved}"
                )
                continue
            for s in suspects:
                also = [o for o in suspects if o != s]
                who = f" (or by {', '.join(repr(o) for o in also)}, which ran at the same time)" if also else ""
                why = (
                    f"wrote over '{path}', output '{oname}' of step '{producer}', which it does not declare"
                    f"{who}; {fixed}{saved}. A step must write only its own outputs: declare the path as "
                    f"an output of one step only"
                )
                if s not in self.results:
                    self.blame[s] = why  # still running: it fails when it ends
                    self.blamed = True
                elif self.results[s].outcome == Outcome.RAN:
                    self.results[s] = self._fail(s, self.results[s], self.decisions.get(s), why, again=True)
                    self.blamed = True
                # (one that failed already, e.g. for writing its own input, keeps its own message)

    def _suspects(self, when: int, producer: str, exclude: str) -> list:
        """The steps whose command ran at time `when`: strictly first, then within the clock's slack."""
        now = time.time_ns()
        spans = {
            s: (a, b if b is not None else now) for s, (a, b) in self.windows.items() if s not in (producer, exclude)
        }
        for slack in (0, _CLOCK_SLACK_NS):
            hit = [s for s, (a, b) in spans.items() if a - slack <= when <= b + slack]
            if hit:
                return sorted(hit)
        return []

    def _fail(self, name: str, result: StepResult, decision, why: str, again: bool = False) -> StepResult:
        """`name` broke the rules: it fails, is not recorded, and its run-cache entry goes (so it
        runs, and fails, again rather than being restored)."""
        failed = dataclasses.replace(result, outcome=Outcome.FAILED, error=why, exit_code=result.exit_code)
        if decision is not None and decision.key is not None:
            self.sched.executor.forget(decision.key.digest)
        if again:  # it was reported and recorded as done: say it again, as failed
            self.sched.forget_record(name)
            self.sched.events.finished(failed, decision)
        return failed
