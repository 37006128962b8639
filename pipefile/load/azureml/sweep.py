"""An Azure ML `type: sweep` job -> a step with a `sweep:` of pipe's own (docs/azureml.md).

Its `trial:` component is the command each trial runs; `search_space` gives the inputs each
trial samples, `sampling_algorithm` the search, `objective.primary_metric` the metric read
from what each trial logged to MLflow (`artifacts/metrics.json`), `limits` the number of
trials and how many run at once. A consumer of the sweep job's outputs reads its best
trial's, as on Azure. A part of `pipeline.Importer`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

from ... import spec
from ...errors import PipefileError, did_you_mean
from .. import sweep_space
from ..expansion import optuna_installed
from ..reader import display_path
from ..task_limits import MAX_TASKS, too_many_tasks
from . import yamlfile
from .nodes import JobNodes, JobRef
from .yamlfile import Map

SWEEP_KEYS = {"type", "trial", "inputs", "outputs", "search_space", "sampling_algorithm", "objective", "limits"}
SWEEP_KEYS |= {"early_termination", "display_name", "description", "name", "$schema", "settings"}
_LIMITS = {"max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout"}
# Azure's distributions that pipe samples: type -> the keys that give its arguments
_DISTRIBUTIONS = {"choice": ("values",), "uniform": ("min_value", "max_value")}
_DISTRIBUTIONS |= {"loguniform": ("min_value", "max_value"), "randint": ("upper",)}
_DISTRIBUTIONS |= {"quniform": ("min_value", "max_value", "q"), "qloguniform": ("min_value", "max_value", "q")}
_DISTRIBUTIONS |= {"normal": ("mu", "sigma"), "lognormal": ("mu", "sigma")}
_DISTRIBUTIONS |= {"qnormal": ("mu", "sigma", "q"), "qlognormal": ("mu", "sigma", "q")}


class SweepNodes(JobNodes):
    """The methods of `pipeline.Importer` that read a sweep job."""

    drafts: dict
    _bind_outputs: Any  # (nodes.CommandNodes')
    _resolve: Any  # (pipeline.Importer's)

    def sweep_job(self, node: str, job, prefix: str, scope: dict, file: str) -> None:
        what = f"sweep job '{node}'"
        if "trial" not in job:
            raise PipefileError(
                f"{what} has no trial:", job.loc, "name the command component each trial runs: trial: ./train.yml"
            )
        self._check_keys(job, SWEEP_KEYS, what)
        comp, comp_file = self.component_of(job, file, "trial")
        if comp is job or (comp.get("type") or "command") != "command":
            raise PipefileError(
                f"the trial of {what} must be a command component",
                job.at("trial"),
                "trial: ./train.yml (a command component)",
            )
        self._check_keys(
            comp,
            {"type", "name", "version", "display_name", "description", "$schema", "inputs", "outputs"}
            | {"command", "code", "environment", "is_deterministic"},
            f"component {display_path(comp_file)}",
        )
        decls = self._decls(comp, False, node)
        binds = self.bind_inputs(node, job, decls, prefix, scope, file)
        space = self._search_space(job, decls, what)
        for name, _kind, _args in space:  # the search space sets it, trial by trial
            if name in binds:  # (dropped without a word, the value bound looked used)
                self._warn(
                    job["inputs"].at(name),
                    f"input '{name}' of {what} is set by its search_space, trial by trial: "
                    "the value bound here is not used",
                    "bind it here or sample it in search_space, not both",
                )
            binds[name] = spec.Binding(spec.BIND_NONE, job["search_space"].at(name))
        search, seed = self._sampling(job, space, what)
        metric, goal = self._objective(job, what)
        limits = job.get("limits") or yamlfile.empty()
        if not isinstance(limits, Map):
            raise PipefileError(f"limits of {what} must be a mapping", job.at("limits"))
        self._check_keys(limits, _LIMITS, f"limits of {what}")
        trials = _count(limits, "max_total_trials", what)
        if search == "random" and not trials:
            raise PipefileError(
                f"{what} samples at random but gives no limits.max_total_trials",
                job.at("limits") if "limits" in job else job.loc,
                "add limits: {max_total_trials: N}",
            )
        if "timeout" in limits:
            self._warn(
                limits.at("timeout"),
                f"limits.timeout of {what} is ignored here (every trial runs to its end)",
                "limit each trial with limits.trial_timeout",
            )
        if "early_termination" in job:
            self._warn(
                job.at("early_termination"), f"early_termination of {what} is ignored here: every trial runs to its end"
            )
        expand = spec.Expansion(
            spec.EXPAND_SWEEP,
            job.at("search_space"),
            search=search,
            trials=trials or 0,
            seed=seed,
            space=tuple(space),
            objective_metric=metric,
            objective_goal=goal,
            max_parallel=_count(limits, "max_concurrent_trials", what) or 0,
            objective_loc=job.at("objective"),  # (a metric no trial logged is said there)
        )
        refused = too_many_tasks(expand, what, "limits.max_total_trials:")
        if refused is not None:  # (before its step is made: no trial of it is ever listed)
            over = (trials or 0) > MAX_TASKS
            raise PipefileError(
                *refused[:1], limits.at("max_total_trials") if over else job.at("search_space"), refused[1]
            )
        self.command(node, job, comp, comp_file, decls, binds, prefix)
        draft = self.drafts[node]
        if not draft.metrics:
            raise PipefileError(
                f"the trial of {what} declares an output named 'artifacts', where pipe keeps what it logs",
                comp.loc,
                "rename that output",
            )
        draft.timeout = _seconds(limits, "trial_timeout", what)  # (limits.timeout is the whole sweep's)
        draft.expand = expand

    def pick_best(self, top, alone: bool) -> None:
        """On Azure a sweep job's outputs are its best trial's. A job here reading one gets the
        task SWEEP.best; so does a sweep whose outputs nothing here reads but are the pipeline
        job's own: a standalone sweep job's (`alone`), or one bound to `${{parent.outputs.X}}`
        at the top level, directly or through a pipeline job."""
        jobs = top.get("jobs") if isinstance(top.get("jobs"), Map) else {}
        for jname, job in jobs.items():
            if not isinstance(job, Map):
                continue
            published = list(job.get("outputs") or ()) if alone else self._bind_outputs(jname, job, "")
            for oname in published:
                try:
                    step, _out = self._resolve(JobRef("", jname, oname, job.loc))
                except PipefileError:  # (said where it is read, or nothing reads it)
                    continue
                draft = self.drafts[step]
                if draft.expand is not None and draft.expand.kind == spec.EXPAND_SWEEP:
                    draft.expand = dataclasses.replace(draft.expand, best=True)

    def _search_space(self, job, decls: dict, what: str) -> list:
        sp = job.get("search_space")
        if not isinstance(sp, Map) or not sp:
            raise PipefileError(
                f"{what} has no search_space:",
                job.at("search_space") if "search_space" in job else job.loc,
                "add search_space: {INPUT: {type: choice, values: [...]}}",
            )
        out = []
        for name, d in sp.items():
            loc = sp.at(name)
            if name not in decls:
                raise PipefileError(
                    f"search_space of {what}: '{name}' is not an input of its trial",
                    loc,
                    did_you_mean(name, decls, "input"),
                )
            if decls[name].type in spec.PATH_TYPES:  # (a path as text: not read, so never rerun on a change)
                raise PipefileError(
                    f"search_space of {what}: '{name}' is a path input of its trial; a search space samples values",
                    loc,
                    "declare it a string input and choose the path from it in the trial",
                )
            kind = _lower(d.get("type")) if isinstance(d, Map) else None
            kind = kind if isinstance(kind, str) else None  # (type: [choice] was an internal error)
            if kind not in _DISTRIBUTIONS:
                raise PipefileError(
                    f"search_space of {what}: '{name}' needs a type: of {', '.join(_DISTRIBUTIONS)}",
                    d.at("type") if isinstance(d, Map) and "type" in d else loc,
                    did_you_mean(str(kind), _DISTRIBUTIONS, "type"),
                )
            dist = _distribution(name, kind, d, what)
            typ = decls[name].type
            if dist[0] == "choice" and typ in (spec.NUMBER, spec.INTEGER):
                for v in dist[1]:  # (a text value of a number input was an internal error, exit 70)
                    if not spec.value_fits(v, typ):
                        raise PipefileError(
                            f"search_space of {what}: '{name}' chooses {v!r}, but the trial's input is {typ}",
                            d.at("values"),
                            f"list values of type {typ}, or declare the input a string",
                        )
            out.append((name, *dist))
        return out

    def _sampling(self, job, space: list, what: str) -> tuple:
        """(pipe's search, seed) for Azure's sampling_algorithm (random when not given)."""
        alg = job.get("sampling_algorithm", "random")
        loc = job.at("sampling_algorithm") if "sampling_algorithm" in job else job.loc
        seed: Any = 0
        if isinstance(alg, Map):
            seed = alg.get("seed", 0)
            for k in alg:
                if k not in ("type", "seed"):
                    self._warn(alg.at(k), f"sampling_algorithm of {what}: '{k}' is ignored here")
            alg = alg.get("type")
        alg = _lower(alg)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise PipefileError(f"the seed of {what} must be a whole number", loc)
        if alg == "bayesian":
            for name, kind, _args in space:
                if kind not in sweep_space.BAYESIAN:  # (Azure's own bayesian takes choice, uniform, quniform)
                    raise PipefileError(
                        f"{what} is a bayesian search, but '{name}' is sampled from '{kind}', which it does not "
                        "draw from here",
                        job["search_space"].at(name),
                        "use choice, uniform, loguniform or randint, or sampling_algorithm: random",
                    )
        if alg == "bayesian" and optuna_installed():
            return "bayesian", seed  # (Optuna's TPE, in rounds of max_concurrent_trials)
        if alg == "bayesian":
            self._warn(
                loc,
                f"{what} is a bayesian search, which needs Optuna (not installed): its trials are sampled at random",
                "pip install 'pipefile[optuna]' for a bayesian search",
            )
            alg = "random"
        if alg not in ("random", "grid"):
            said = f"unknown '{alg}'" if alg is not None else "no type:"
            raise PipefileError(f"sampling_algorithm of {what}: {said}", loc, "use random, grid or bayesian")
        if alg == "grid":
            for name, kind, _args in space:
                if kind != "choice":
                    raise PipefileError(
                        f"{what} is a grid search, but '{name}' is sampled from '{kind}'",
                        job.at("search_space"),
                        "a grid takes choice values only: list them (type: choice, values: [...])",
                    )
        return alg, seed

    def _objective(self, job, what: str) -> tuple:
        obj = job.get("objective")
        if not isinstance(obj, Map) or not isinstance(obj.get("primary_metric"), str) or not obj["primary_metric"]:
            raise PipefileError(
                f"{what} has no objective.primary_metric",
                job.at("objective") if "objective" in job else job.loc,
                "add objective: {primary_metric: NAME, goal: maximize} (NAME: a metric each trial logs to MLflow)",
            )
        goal = _lower(obj.get("goal", "maximize"))
        if goal not in ("maximize", "minimize"):
            raise PipefileError(
                f"objective.goal of {what}: unknown '{goal}'", obj.at("goal"), "use maximize or minimize"
            )
        return obj["primary_metric"], goal


def _lower(v):
    """Azure reads these names in any case (`type: Choice`, `goal: Maximize`, `Grid`)."""
    return v.lower() if isinstance(v, str) else v


def _distribution(name: str, kind: str, d, what: str) -> tuple:
    """(pipe's distribution, its arguments) for one of Azure's, checked."""
    where = f"search_space of {what}: '{name}'"
    for k in _DISTRIBUTIONS[kind]:
        if k not in d:
            raise PipefileError(
                f"{where} ({kind}) has no {k}:", d.loc, f"a {kind} takes {' and '.join(_DISTRIBUTIONS[kind])}"
            )
    if kind == "choice":
        values = d["values"]
        if not isinstance(values, list) or not values:
            raise PipefileError(f"{where}: values must be a non-empty list", d.at("values"))
        for v in values:
            if isinstance(v, (Map, list)) or v is None:
                raise PipefileError(
                    f"{where}: a choice of nested search spaces is not supported here",
                    d.at("values"),
                    "list numbers, strings or booleans",
                )
        return "choice", tuple(values)
    nums = [d[k] for k in _DISTRIBUTIONS[kind]]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in nums):
        # (.nan passed `lo >= hi` and every trial sampled nan)
        raise PipefileError(f"{where}: {' and '.join(_DISTRIBUTIONS[kind])} must be finite numbers", d.loc)
    if kind == "randint":  # Azure: a whole number in [0, upper)
        if isinstance(nums[0], float) and nums[0].is_integer():
            nums[0] = int(nums[0])  # (upper: 5.0, as azure-ai-ml takes it)
        if not isinstance(nums[0], int) or nums[0] < 2:
            raise PipefileError(f"{where}: upper must be a whole number of at least 2", d.at("upper"))
        return "randint", (0, nums[0] - 1)
    if kind.endswith("normal"):  # normal, lognormal, qnormal, qlognormal: (mu, sigma[, q]) as Azure's
        wrong = sweep_space.problem(kind, tuple(nums))
        if wrong:
            raise PipefileError(
                f"{where} ({kind}) {wrong}", d.loc, f"a {kind} takes {' and '.join(_DISTRIBUTIONS[kind])}"
            )
        return kind, tuple(nums)
    q = nums[2:]  # quniform, qloguniform: rounded to a multiple of q
    if q and q[0] <= 0:
        raise PipefileError(f"{where}: q must be above 0", d.at("q"))
    lo, hi = nums[:2]
    if lo >= hi:
        raise PipefileError(f"{where}: min_value must be below max_value", d.loc)
    if kind in ("loguniform", "qloguniform"):  # Azure's bounds are exponents: exp(uniform(min_value, max_value))
        try:
            bounds = (math.exp(lo), math.exp(hi))
        except OverflowError:
            bounds = (0.0, math.inf)
        if not (0 < bounds[0] < bounds[1] < math.inf):  # (exp(1000) was an internal error, exit 70)
            raise PipefileError(
                f"{where}: {kind} samples exp(x) for x between min_value and max_value, and "
                f"exp({lo}) to exp({hi}) is past what a float holds",
                d.loc,
                "the bounds are exponents: min_value: -9.2, max_value: -2.3 is 0.0001 to 0.1",
            )
        return kind, bounds + tuple(q)
    return kind, (lo, hi) + tuple(q)


def _count(limits, key: str, what: str) -> Optional[int]:
    v = limits.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise PipefileError(f"limits.{key} of {what} must be a whole number of at least 1", limits.at(key))
    return v


def _seconds(limits, key: str, what: str) -> Optional[float]:
    v = limits.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:  # (.nan, .inf ran unlimited)
        raise PipefileError(
            f"limits.{key} of {what} must be a number of seconds above 0, not {v!r}", limits.at(key), f"{key}: 3600"
        )
    return float(v)
