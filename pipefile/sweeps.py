"""A sweep's trials, judged by its objective: what `pipe sweep show` lists, best first.

Each trial is a task `STEP[trial-K]`; its objective is the value of `objective.metric` in its
own metrics file (the declared `metrics:` path, below which each trial writes its entry), read
from the workspace: what the last run left there, the same files whose values the job
recorded as `STEP[trial-K].NAME`. A trial not built yet has no value; a trial whose file
lacks the metric is an error of the Pipefile, located at its `sweep:`.
"""

from __future__ import annotations

import math
import os
from typing import Collection, Mapping, Optional

from . import spec
from .errors import PipefileError, did_you_mean
from .lazyclass import dataclass
from .metrics_files import MetricsError, read_metrics, value_at


@dataclass(frozen=True)
class Trial:
    label: str  # trial-K
    task: str  # STEP[trial-K]
    inputs: dict  # input -> sampled value
    value: Optional[float]  # the objective, None when not known (not built, no objective)
    problem: str = ""  # why the value is missing, when its file says so
    stopped: str = ""  # why early termination stopped it, when its last run was stopped
    stop: Optional[dict] = None  # the kept stop in force: job, policy, step, value, median, detail
    failed: str = ""  # why its last run failed, when it did (what its file holds is older)


@dataclass(frozen=True)
class SweepView:
    step: str
    search: str
    metric: str
    goal: str  # maximize | minimize, or "" without an objective
    trials: tuple  # of Trial, best first; those without a value last, in trial order

    @property
    def best(self) -> Optional[Trial]:
        return self.trials[0] if self.trials and self.trials[0].value is not None else None


def sweep_groups(graph) -> dict:
    return {n: g for n, g in graph.groups.items() if g.kind == spec.EXPAND_SWEEP}


def view(graph, step: str, stopped: Optional[dict] = None, failed: Optional[dict] = None) -> SweepView:
    """The trials of sweep `step`, best first. `stopped`: task -> why early termination
    stopped it (a sentence), or the stop itself; `failed`: task -> why its last run failed
    (both from `trial_ends`)."""
    groups = sweep_groups(graph)
    group = groups.get(step)
    if group is None:
        raise PipefileError(
            f"'{step}' is not a sweep step of {graph.pipefile.display_path}",
            hint=did_you_mean(step, groups, "sweep") if groups else "no step of this Pipefile has a sweep:",
        )
    metric, goal = group.objective or ("", "")
    failed = failed or {}
    if group.search == "bayesian":
        _proposed_as_built(graph, group, failed, stopped or {})
    trials = []
    for label, task, values in zip(group.labels, group.tasks, group.values):
        value, problem = _objective(graph.pipefile.root, group, label, metric) if metric else (None, "")
        if task in failed:  # its file, if any, is an earlier run's: not this trial's result
            value, problem = None, ""
        node = graph.nodes.get(task)
        # As the trial's command gets them (a number input's 1 is 1.0).
        names = [n for n, _ in values] or [n for n in group.sweep.names if task not in graph.proposed]
        inputs = {n: node.inputs[n].value if node is not None else v for n, v in values} if values else {}
        if not values and node is not None:  # a bayesian trial: what it was proposed
            inputs = {n: node.inputs[n].value for n in names if n in node.inputs}
        why = (stopped or {}).get(task, "") if value is None else ""
        stop = why if isinstance(why, dict) else None
        trials.append(
            Trial(label, task, inputs, value, problem, stop["why"] if stop else why, stop, failed.get(task, ""))
        )
    sign = -1.0 if goal == "maximize" else 1.0

    def rank(i: int) -> tuple:  # the best first, trials without a value last, each in its order
        value = trials[i].value
        return (value is None, sign * value if value is not None else 0.0, i)

    order = sorted(range(len(trials)), key=rank)
    return SweepView(step, group.search, metric, goal, tuple(trials[i] for i in order))


def _proposed_as_built(graph, group, failed: Mapping, stopped: Mapping) -> None:
    """Each bayesian trial's inputs as the last run proposed them, from the trials before it
    as the workspace has them: a trial with no entry before the last one that ended (built,
    failed or stopped) ended without a result; the rounds after that one are not proposed."""
    from .cache.proposal_store import ProposalStore
    from .expand import round_size
    from .planner import Upstream
    from .proposals import settle
    from .workspace import STATE_DIR

    root = graph.pipefile.root
    kept = ProposalStore(os.path.join(root, STATE_DIR, "cache", "proposals"), writable=False)
    built = [
        t not in failed and any(os.path.exists(os.path.join(root, p)) for p in group.task_metrics(x))
        for x, t in zip(group.labels, group.tasks)
    ]
    # (a round whose trials all failed was proposed all the same: they ran with its inputs)
    over = [b or t in failed or t in stopped for b, t in zip(built, group.tasks)]
    last = max((i for i, e in enumerate(over) if e), default=-1)
    size = round_size(group.sweep)
    there: dict = {}
    for i, task in enumerate(group.tasks):
        if last < 0 or i // size > last // size:
            break
        if task in graph.proposed and settle(graph, task, there, kept):
            break
        # `settle` reads only whether a trial ended with outputs (`{}`: failed or stopped), never
        # their digests, which the view does not know: each output stands for itself unread
        ended: Mapping = dict.fromkeys(graph.nodes[task].outputs) if built[i] else {}
        there[task] = Upstream(ended, True)


def _objective(root: str, group, label: str, metric: str) -> tuple:
    """(value, problem) of one trial: (None, "") when its metrics file is not there yet."""
    files = [p for p in group.task_metrics(label) if os.path.isfile(os.path.join(root, p))]
    if not files:
        return None, ""
    seen: list = []
    for rel in files:
        try:
            values = read_metrics(os.path.join(root, rel))
        except MetricsError as e:
            return None, f"its metrics file '{rel}' {e}"
        if metric in values and math.isfinite(values[metric]):
            return values[metric], ""
        written = _written_as(os.path.join(root, rel), metric)
        if written:  # there, but not a number one can rank (NaN, inf, a string ...)
            return None, f"its metrics file '{rel}' gives '{metric}' as {written}, not a finite number"
        seen.extend(values)
    have = ", ".join(sorted(seen)[:8]) or "no numbers"
    return None, f"its metrics ({', '.join(files)}) have no '{metric}' (they have: {have})"


def _written_as(path: str, metric: str) -> str:
    """How a metrics file spells `metric` (JSON, shortened) where it is there but not among
    its finite numbers; '' where it is not there at all."""
    import json

    from .load import yamlsafe
    from .metrics_files import load_data

    try:
        text = yamlsafe.read_file(path).decode("utf-8")
        data = load_data(text, path)  # (keys as read_metrics reads them: YAML's `null` as that text)
        shown = json.dumps(value_at(data, metric))
    except Exception:  # noqa: BLE001 - unreadable, not there, not JSON-able: nothing to show
        return ""
    return shown if len(shown) <= 40 else shown[:37] + "..."


def objective_errors(graph, built: Optional[Collection] = None) -> list:
    """A located error per sweep whose objective metric a built trial does not write.
    `built`: the trials whose files are the run's results (ran, restored or fresh): one it
    failed, or did not run though it is out of date, has a file an earlier run left."""
    errors = []
    for name, group in sweep_groups(graph).items():
        if not group.objective:
            continue
        metric = group.objective[0]
        for label, task in zip(group.labels, group.tasks):
            if built is not None and task not in built:
                continue  # (its file is not its result: a failure is said, a rerun writes anew)
            _value, problem = _objective(graph.pipefile.root, group, label, metric)
            if problem:
                errors.append(
                    PipefileError(
                        f"the objective metric '{metric}' of sweep '{name}' is not known for "
                        f"{name}[{label}]: {problem}",
                        getattr(group.sweep, "objective_loc", None) or group.loc,
                        "make each trial write the metric into its metrics file, or name one it writes",
                    )
                )
                break  # one per sweep: the others are most likely the same
    return errors


def view_json(v: SweepView) -> dict:
    return {
        "step": v.step,
        "search": v.search,
        "objective": {"metric": v.metric, "goal": v.goal} if v.metric else None,
        "best": v.best.task if v.best else None,
        "trials": [
            {"name": t.task, "label": t.label, "inputs": {n: _json_value(v) for n, v in t.inputs.items()}}
            | {"objective": t.value}
            | ({"problem": t.problem} if t.problem else {})
            | ({"stopped": True, "stopped_why": t.stopped} if t.stopped else {})
            | ({"stop": {k: v for k, v in t.stop.items() if k != "why"}} if t.stop else {})
            | ({"failed": True, "failed_why": t.failed} if t.failed else {})
            for t in v.trials
        ],
    }


def _json_value(v):
    """An input's value as JSON has it: a choice of .inf or .nan as text ("inf", "nan"), as
    the designer's previews show one (JSON has no such number: `Infinity` is no JSON)."""
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


def trial_ends(graph, step: str) -> tuple:
    """(stopped, failed) of sweep `step`'s trials: task -> why early termination stopped
    each one that stands stopped, and task -> why the newest job with a result for it
    (fresh included: the last 50 jobs) failed it, for each trial whose last run failed (with
    a metrics file an earlier run left or none).

    A failed trial's workspace entry, if any, is an earlier run's (a failed step leaves the
    outputs it had): ranking it would name as best a trial whose current code fails.

    With a policy (`early_termination:`), the trials are planned as `pipe status` plans them:
    one the next run keeps stopped gets its kept stop (the job database's `trial_stops`, for
    its key and the policy) as {"why", "job", "policy", "step", "value", "median", "detail"}:
    the step it was judged at, its running average there and the others' median. Any other
    trial is stopped when the newest job that ran its key stopped it (a sentence: the policy
    changed since), and a trial whose key is not known yet (an upstream to run first) when the
    last job that ran it did."""
    from .workspace import STATE_DIR

    group = graph.groups.get(step)
    if group is None or not os.path.isdir(os.path.join(graph.pipefile.root, STATE_DIR)):
        return {}, {}
    from .session import Session
    from .stopping import policy_of

    policy = policy_of(group)
    session = Session(graph, writable=False)
    try:
        decisions: dict = {}
        if policy is not None:
            try:
                decisions = session.plan([step]).decisions
            except PipefileError:
                pass  # (not plannable now, as `pipe status` would say: the jobs tell)
        jobs = session.ws.jobs
        out: dict = {}
        unknown = set()
        for task in group.tasks:
            d = decisions.get(task)
            if d is None or d.key is None:
                unknown.add(task)
            elif d.verdict.value == "stopped":
                out[task] = _kept(jobs.stop_of(d.key.digest, policy), group)
            else:
                last = _last_result(jobs, task, d.key.digest)
                if last is not None and last.outcome == "stopped":
                    out[task] = last.error or "stopped early"
        out.update(_stopped_in_jobs(jobs, unknown))
        # Every trial, with a file to rank or not: one that failed in its first run, or whose
        # entry a keep-going run took out of the folders for STEP.best, is shown failed too
        failed = _failed_in_jobs(jobs, set(group.tasks))
    finally:
        session.close()
    return out, failed


_RESULTS = ("ran", "restored", "stopped", "failed")  # (not fresh: that repeats a result)


def _last_result(jobs, task: str, key: str):
    """The newest record of `task` with step key `key` that is a result, or None. Asked by
    task and outcome, one range of the index job_steps_by_key each: by key alone it read
    every step row of the history for each trial, and took a record of another step with
    that key (a pipeline used twice shares its inner steps' keys) for this trial's."""
    found = [rows[0] for o in _RESULTS if (rows := jobs.steps_with_key(key, task, o))]
    return max(found, key=lambda s: (s.job_id, s.finished or 0), default=None)


def _kept(stop: Optional[dict], group) -> dict:
    policy = group.sweep.early_termination[0]
    if stop is None:  # (planned stopped from the very row: gone only if gc ran in between)
        return {"why": f"stopped by {policy}", "policy": policy}
    evidence = stop["evidence"]
    return {
        "why": f"stopped by {policy} in job {stop['job']}: {stop['detail']}",
        "job": stop["job"],
        "policy": policy,
        "step": evidence.get("step"),
        "value": evidence.get("value"),
        "median": evidence.get("median"),
        "detail": stop["detail"],
    }


def _failed_in_jobs(jobs, tasks: set) -> dict:
    """task -> why, for the trials whose newest result in the last 50 jobs (no-op jobs too: a
    fresh trial stands built) is a failure."""
    last: dict = {}
    for job in jobs.jobs(limit=50):
        for s in jobs.steps(job.id):
            if s.step in tasks and s.step not in last and s.outcome in _ENDS:
                last[s.step] = s
        if len(last) == len(tasks):
            break
    return {
        t: f"failed in job {s.job_id}" + (f": {s.error}" if s.error else "")
        for t, s in last.items()
        if s.outcome in ("failed", "restore-failed")
    }


_ENDS = ("ran", "restored", "fresh", "stopped", "failed", "restore-failed")


def _stopped_in_jobs(jobs, tasks: set) -> dict:
    """task -> why, for the trials whose last job that ran them (newest first, the last 50
    jobs with work) stopped them."""
    if not tasks:
        return {}
    last: dict = {}
    for job in jobs.jobs(limit=50, work_only=True):
        for s in jobs.steps(job.id):
            if s.step in tasks and s.step not in last and s.outcome in _RESULTS:
                last[s.step] = s
        if len(last) == len(tasks):
            break
    return {t: s.error or "stopped early" for t, s in last.items() if s.outcome == "stopped"}
