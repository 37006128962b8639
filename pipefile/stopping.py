"""Early termination of a sweep's trials: `early_termination: {policy: median_stopping,
evaluation_interval: N, delay_evaluation: M}` (Azure ML's names).

A trial reports intermediate values of the objective metric through its metrics stream
(`pipefile.log_metric`, tracking.py). While it runs, the local executor asks `Stopping.why`
now and then; at each evaluation step s of the trial (s >= M and s a multiple of N, s its
latest reported step) its running average of the metric up to s is compared with the median
of the running averages up to s of the other trials of this run that reported step s (a
failed one too, with what it reported before it failed: docs/pipefile.md says why). Worse
(above it when minimizing, below when maximizing): the trial is stopped. It ends `stopped`
(not a failure), its outputs are not kept, and it never wins `.best`.

The other trials are those of this run (their streams are beside their logs) and those
this run does not run (fresh or restored: the curve the job database recorded for the run
that made their outputs; stopped before: the curve recorded when it was stopped). A trial
alone so far is never stopped.

A stop is kept (the job database's `trial_stops`, written by the job recorder), keyed by the
trial's key and `policy_of` its sweep (the policy's settings and the objective), with the
evidence: the step judged, the two values compared, and the other trials' curves up to that
step. The planner then plans the trial `stopped` without running it, until its key or the
policy changes, or `--force`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Optional

from . import tracking
from .filenames import log_file


def policy_of(group) -> Optional[str]:
    """The settings a stop of a trial of `group` was judged by, as canonical JSON (what a
    kept stop is keyed by, with the trial's key); None when its trials are never stopped."""
    e = getattr(group, "sweep", None)
    if e is None or not e.early_termination or not group.objective:
        return None
    policy, interval, delay = e.early_termination
    metric, goal = group.objective
    settings = {"policy": policy, "evaluation_interval": interval, "delay_evaluation": delay}
    return json.dumps(dict(settings, metric=metric, goal=goal), sort_keys=True)


class _Policy:
    def __init__(self, group):
        e = group.sweep
        _policy, self.interval, self.delay = e.early_termination
        self.metric, self.goal = group.objective
        self.tasks = group.tasks
        self.policy = policy_of(group)
        self.judged: dict = {}  # task -> the last step judged
        self.recorded: dict = {}  # task -> {metric: points}: trials this run does not run
        # stream path or task -> [its StreamTail or None, the points averaged, (running
        # averages, points)]: a look reads only what each stream gained since the last (each
        # look read every trial's whole stream: a 1000-trial sweep of 100 steps spent some
        # 90 s of pipe's time per trial; then every stream that grew, its own included: ~0.8 s
        # a look for a trial of 100,000 points)
        self.curves: dict = {}
        # (each running trial is judged from its own thread: one reader of a stream at a time)
        self.lock = threading.Lock()

    def curve(self, task: str, log_dir: str) -> tuple:
        """(running averages, points) of the objective of another trial."""
        if task in self.recorded:
            got = self.curves.get(task)
            if got is None:
                points = self.recorded[task].get(self.metric, [])
                got = self.curves[task] = [None, points, len(points), (_running_averages(points), points)]
            return got[3]
        return self.streamed(task, log_dir)

    def streamed(self, task: str, log_dir: str) -> tuple:
        """(running averages, points) of the objective in the stream of trial `task`, read
        as far as it has been written."""
        path = tracking.stream_path(os.path.join(log_dir, log_file(task)))
        got = self.curves.get(path)
        if got is None:
            got = self.curves[path] = [tracking.StreamTail(path), None, 0, ({}, []), [0.0, 0, None]]
        got[0].read()
        points = got[0].series.get(self.metric, [])
        if points is got[1] and len(points) == got[2]:
            return got[3]
        averages = got[3][0]
        new = points[got[2] :] if points is got[1] else None
        # (the points are read only under the lock: the curve returned is the live list)
        if new is not None and _extend(averages, got[4], new):
            got[2] = len(points)
        else:  # the first points, steps out of order, or the file written anew: all of them again
            averages = _running_averages(points)
            got[1:] = [points, len(points), (averages, points), _sums(points)]
        return got[3]


class Stopping:
    """Which running trials to stop, for the sweeps of one graph that ask for it."""

    def __init__(self, groups: dict):
        self._by_task = {}
        for g in groups.values():
            if getattr(g, "sweep", None) is not None and g.sweep.early_termination and g.objective:
                policy = _Policy(g)
                for t in g.tasks:
                    self._by_task[t] = policy

    def __bool__(self) -> bool:
        return bool(self._by_task)

    def watches(self, task: str) -> bool:
        return task in self._by_task

    def why(self, task: str, log_dir: str) -> Optional[str]:
        """Why trial `task` should stop now, or None."""
        stop = self.judge(task, log_dir)
        return stop["why"] if stop else None

    def judge(self, task: str, log_dir: str) -> Optional[dict]:
        """None, or why trial `task` should stop now: {"why": the sentence, "detail": its
        reason alone, "policy": policy_of its sweep, "evidence": {"step", "value", "median",
        "others": {trial: [[step, value], ...] up to that step}}}."""
        p = self._by_task.get(task)
        if p is None:
            return None
        with p.lock:
            return self._judge_steps(p, task, log_dir)

    def _judge_steps(self, p: _Policy, task: str, log_dir: str) -> Optional[dict]:
        own = p.streamed(task, log_dir)[0]
        last = p.judged.get(task, -1)
        # Each evaluation step since the last look, in order: how often it is looked at
        # (and how many points arrived in between) does not change the verdict.
        steps = sorted(s for s in own if s > last and s >= p.delay and not s % p.interval)
        if own:
            p.judged[task] = max(own)
        for step in steps:
            stop = self._judge(p, task, step, own[step], log_dir)
            if stop:
                return stop
        return None

    def _judge(self, p: _Policy, task: str, step: int, mine: float, log_dir: str) -> Optional[dict]:
        others, seen = [], {}
        for t in p.tasks:
            if t == task:
                continue
            avg, points = p.curve(t, log_dir)
            if step in avg:
                others.append(avg[step])
                seen[t] = points
        if not others:
            return None
        import statistics  # (here: with decimal, fractions and random, ~5 ms of every run's start-up)

        median = statistics.median(others)
        worse = mine > median if p.goal == "minimize" else mine < median
        if not worse:
            return None
        # (the evidence only for a stop: building it at every look cost as much as reading)
        curves = {
            t: [[x, v] for x, v, _time in sorted(pts, key=lambda q: q[0]) if x <= step] for t, pts in seen.items()
        }
        detail = (
            f"at step {step} its running average of '{p.metric}' ({mine:g}) is worse than the median "
            f"of the other trials' ({median:g})"
        )
        return {
            "why": f"stopped early (median stopping): {detail}",
            "detail": detail,
            "policy": p.policy,
            "evidence": {"step": step, "value": mine, "median": median, "others": curves},
        }


def for_graph(graph, decisions: dict, recorded) -> Optional[Stopping]:
    """`recorded(task, key digest, outcome)`: the series the job database holds for the run
    that made the outputs of a task this run does not run (outcome "ran"), or that stopped
    it (a trial planned `stopped`: "stopped")."""
    s = Stopping(graph.groups or {})
    if not s:
        return None
    for task, policy in s._by_task.items():
        d = decisions.get(task)
        if d is not None and d.key is not None and d.verdict.value in ("fresh", "restore", "stopped"):
            outcome = "stopped" if d.verdict.value == "stopped" else "ran"
            policy.recorded[task] = recorded(task, d.key.digest, outcome)
    return s


def end(proc, grace: float) -> None:
    """Ends a trial's process: SIGTERM, not Ctrl-C's SIGINT (a stopped trial is ended, not
    interrupted: Python writes no KeyboardInterrupt traceback into its log), then SIGKILL."""
    proc.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.signal(signal.SIGKILL)
    proc.wait()


def remove_entries(root: str, paths: list) -> None:
    """A stopped trial leaves no entry in the gathered folders (an older one, of other
    inputs, would be taken for its result and could win `.best`)."""
    import shutil

    for rel in paths:
        ap = os.path.join(root, rel)
        if os.path.isdir(ap) and not os.path.islink(ap):
            shutil.rmtree(ap, ignore_errors=True)
        elif os.path.lexists(ap):
            try:
                os.unlink(ap)
            except OSError:
                pass


def _sums(points: list) -> list:
    """[total, count, last step] of `points` as _running_averages adds them up; a last step
    of None where their steps are not strictly increasing (later ones cannot simply extend)."""
    steps = [p[0] for p in points]
    ordered = all(a < b for a, b in zip(steps, steps[1:]))
    return [sum(p[1] for p in points), len(points), steps[-1] if ordered and steps else None]


def _extend(averages: dict, sums: list, new: list) -> bool:
    """Adds the points `new` to the running `averages` (and `sums`, from _sums) where they
    come after the ones before, in order (a trial reports its steps so): no sort of every
    point at each look. False, changing nothing, where they do not."""
    last = sums[2]
    steps = [p[0] for p in new]
    if last is None or steps[0] <= last or any(a >= b for a, b in zip(steps, steps[1:])):
        return False
    total, n = sums[0], sums[1]
    for step, value, _time in new:
        total += value
        n += 1
        averages[step] = total / n
    sums[:] = [total, n, steps[-1]]
    return True


def _running_averages(points: list) -> dict:
    """{step: the mean of the values reported at steps up to it}, at each reported step."""
    out: dict = {}
    total, n = 0.0, 0
    for step, value, _time in sorted(points, key=lambda p: p[0]):
        total += value
        n += 1
        out[step] = total / n
    return out
