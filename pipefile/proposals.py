"""Tasks whose inputs are proposed while the run goes: a bayesian sweep's trials.

A bayesian sweep (`search: bayesian`) is expanded like any sweep, into tasks `STEP[trial-K]`,
but the sampled inputs of a trial are not known when the graph is built: they depend on the
objective of the trials before. Its tasks are in `graph.proposed`, and a trial runs after
the trials of the round before it (`spec.Step.after`: ordering only, not part of its key).
A round is `max_parallel` trials (1 without it).

`Planner.decide` calls `settle` before deciding such a task. Once every trial of the rounds
before has ended with its outputs in the workspace (fresh, restored or ran), the whole round
is proposed at once: an Optuna TPE sampler, seeded by (`seed`, round), is told the history
of those trials in trial order (their sampled inputs and the objective read from their
metrics file), then asked for the round's trials. Its nodes are replaced by ones with the
inputs bound, and the task is decided as any other: keyed by its sampled inputs. The same
seed and the same history give the same proposals, so a rerun with nothing changed proposes
the same trials (and they are fresh), and raising `trials` keeps every earlier trial.
Until then the task is PENDING, "proposed after 'STEP[trial-K]' ends".

Each round asked is kept in the workspace (cache/proposal_store.py), keyed by everything it
was given: the Optuna version, the sampler, seed, space, goal, round and the exact history.
A rerun finds its rounds there and neither imports Optuna nor asks it; the proposals are
those a fresh study given the same history makes (a study told the trials round by round,
as a run does, proposes the same: asked trials are told as failed, which TPE ignores).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from typing import Mapping, Optional

from . import spec
from .bindings import IN_VALUE, Input
from .cache.proposal_store import round_key
from .errors import PipefileError
from .expand import round_size
from .graph import Graph, Node
from .spec import BIND_VALUE, Binding

OPTUNA_HINT = "install the extra: pip install 'pipefile[optuna]', or use search: random (seeded) or grid"


def settle(graph: Graph, name: str, upstream: Mapping, store=None) -> tuple:
    """() once task `name` has its inputs (its node in the graph replaced, with the other
    trials of its round); else the tasks it waits for before it can be proposed. `store`: a
    cache.proposal_store.ProposalStore, read before asking Optuna (and kept when writable)."""
    node: Node = graph.nodes[name]
    waiting = [
        a
        for a in node.step.after
        if upstream.get(a) is None or upstream[a].outputs is None or not upstream[a].in_workspace
    ]
    if waiting:
        return (node.step.after[-1],)
    group = graph.groups[node.step.group]
    e = group.sweep
    size = round_size(e)
    k = group.tasks.index(name)
    start = (k // size) * size
    members = group.tasks[start : min(start + size, len(group.tasks))]
    # One study per sweep while the process lives: each trial is told once, as its round comes.
    study = graph.proposing.setdefault(group.name, {})
    history, encoded = study.setdefault("history", []), study.setdefault("encoded", [])
    for t in group.tasks[len(history) : start]:  # (rounds are settled in order)
        entry = _history_entry(graph, group, t, upstream)
        history.append(entry)
        encoded.append(_JSON.encode([entry[0], entry[1]]))
    proposed = propose_round(e, group.name, history[:start], len(members), k // size, study, store, encoded[:start])
    for task, values in zip(members, proposed):
        graph.nodes[task] = _bound(graph.nodes[task], values)
        graph.proposed.discard(task)
    return ()


_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def propose_round(
    e, sweep: str, history: list, count: int, round_index: int, study: dict, store, encoded: Optional[list] = None
) -> list:
    """Round `round_index`'s proposals: kept ones when the store has them under the exact
    same givens, else asked of Optuna (telling the study the trials it was not told yet).
    `encoded`: each history entry as canonical JSON, when the caller keeps them."""
    given = key = None
    if store is not None:
        given = _given(e, count, round_index)
        if encoded is None:
            encoded = [_JSON.encode([v, o]) for v, o in history]
        key = round_key(_JSON.encode(given), encoded)
        names = tuple(n for n, _, _ in e.space)
        kept = store.get(sweep, round_index, key, count, names)
        if kept is not None:
            return kept
    told = study.get("told", 0)
    out = propose(e, history[told:], count, round_index, study)
    study["told"] = len(history)
    if store is not None:
        store.put(sweep, round_index, key, dict(given, history=[[v, o] for v, o in history]), out)
    return out


def _given(e: spec.Expansion, count: int, round_index: int) -> dict:
    """What a round's proposals depend on besides the history (cache/proposal_store.py)."""
    return {
        "optuna": optuna_version(e),
        "sampler": SAMPLER,
        "seed": e.seed,
        "round": round_index,
        "count": count,
        "space": [[n, kind, list(vs)] for n, kind, vs in e.space],
        "goal": e.objective_goal or "maximize",
    }


# How rounds are asked: a change here (another sampler, other settings, other rounding)
# must change this word, so that no kept round is taken for one asked the new way.
SAMPLER = "tpe-default-6g"

_version: Optional[str] = None


def optuna_version(e: spec.Expansion) -> str:
    """The installed Optuna's version, read from its metadata: an unchanged rerun reads its
    rounds from the store without importing Optuna (half a second). Without it, the error
    the import gives."""
    global _version
    if _version is None:
        _version = _installed_version("optuna")
    if _version is None:
        from importlib import metadata

        try:
            _version = metadata.version("optuna")
        except metadata.PackageNotFoundError:  # (not installed as a distribution: ask the module)
            _version = str(_optuna(e).__version__)
    return _version


def _installed_version(name: str) -> Optional[str]:
    """The version in the name of the first `NAME-VERSION.dist-info` folder on sys.path (where
    `import NAME` would look first): importlib.metadata finds the same, but importing it costs
    a no-op some 30 ms."""
    import sys

    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        if name not in names:
            continue  # (the package is not here: a dist-info here would describe another copy)
        for n in names:
            if n.startswith(f"{name}-") and n.endswith(".dist-info"):
                return n[len(name) + 1 : -len(".dist-info")]
        return None
    return None


def _bound(node: Node, values: dict) -> Node:
    """The node with its sampled inputs given their proposed values."""
    st = node.step
    bindings, inputs = dict(st.inputs), dict(node.inputs)
    for iname, value in values.items():
        decl = st.input_decls.get(iname)
        if decl is not None and decl.type == spec.NUMBER:
            value = float(value)  # (as a random sweep gives a number input its value)
        loc = st.inputs[iname].loc if iname in st.inputs else st.loc
        bindings[iname] = Binding(BIND_VALUE, loc, value=value)
        inputs[iname] = Input(iname, IN_VALUE, value=value, loc=loc)
    return Node(dataclasses.replace(st, inputs=bindings), inputs, node.deps, node.params)


def _history_entry(graph: Graph, group, task: str, upstream: Mapping) -> tuple:
    """(the trial's sampled inputs, its objective or None)."""
    node = graph.nodes[task]
    values = {n: node.inputs[n].value for n, _, _ in group.sweep.space if n in node.inputs}
    ended = upstream.get(task)
    if ended is not None and ended.outputs == {}:  # failed or stopped: what is there is not its own
        return values, None
    label = task[len(group.name) + 1 : -1]
    return values, objective_value(graph.pipefile.root, group, label)


def objective_value(root: str, group, label: str) -> Optional[float]:
    """The objective a trial's metrics file holds in the workspace; None when it has none."""
    from .load import yamlsafe
    from .metrics_files import load_data, value_at

    metric = group.objective[0] if group.objective else ""
    for rel in group.task_metrics(label):
        path = os.path.join(root, rel)
        try:
            # Read as read_metrics reads it (what `pipe sweep show` ranks): the whole file up to its
            # bound (the first MiB of a larger one was no JSON: no objective), a regular file only
            text = yamlsafe.read_file(path).decode("utf-8")
            data = load_data(text, path)  # (keys as read_metrics reads them: YAML's `null` as that text)
            found = value_at(data, metric)
            if not isinstance(found, (int, float)):  # ("0.9" as text is no number to sweep show: nor here)
                continue
            value = float(found)  # (an integer of 400 digits: OverflowError, no objective)
        except Exception:  # noqa: BLE001 - missing, unreadable, bad JSON/YAML, no such key: no objective
            continue  # (`pipe sweep show` and the objective error of `pipe run` say what is wrong)
        if math.isfinite(value):
            return value
    return None


# --- Optuna -----------------------------------------------------------------------------
def _optuna(e: spec.Expansion):
    try:
        import optuna
    except ImportError:
        raise PipefileError(
            "this sweep asks for a bayesian search, which needs Optuna, and it is not installed", e.loc, OPTUNA_HINT
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distributions(optuna, e: spec.Expansion) -> dict:
    d = optuna.distributions
    out = {}
    for name, kind, vs in e.space:
        if kind == "choice":
            out[name] = d.CategoricalDistribution(vs)
        elif kind == "randint":
            out[name] = d.IntDistribution(vs[0], vs[1])
        else:
            out[name] = d.FloatDistribution(float(vs[0]), float(vs[1]), log=kind == "loguniform")
    return out


def _as_param(kind: str, vs: tuple, value):
    """A value as the distribution holds it (a number input's 3 was given as 3.0)."""
    if kind == "choice":
        return next((c for c in vs if c == value and isinstance(c, bool) == isinstance(value, bool)), None)
    if kind == "randint":
        return int(value) if isinstance(value, (int, float)) and float(value).is_integer() else None
    return float(value) if isinstance(value, (int, float)) and vs[0] <= value <= vs[1] else None


def _readable(kind: str, vs: tuple, value):
    """A proposed float kept to 6 digits (as a random sweep's), inside its range."""
    if kind in ("uniform", "loguniform"):
        return min(max(float(f"{value:.6g}"), float(vs[0])), float(vs[1]))
    return value


def propose(e: spec.Expansion, history: list, count: int, round_index: int, state: Optional[dict] = None) -> list:
    """`count` trials ({input: value}) of round `round_index`, after the trials of `history`
    ([(inputs, objective or None)], in trial order). `state`: kept between the rounds of one
    sweep, which then give only the trials not told yet (telling 200 trials again each round
    was most of a 200-trial sweep's cost); the proposals are the same either way."""
    optuna = _optuna(e)
    state = {} if state is None else state
    if "study" not in state:
        state["dists"] = _distributions(optuna, e)
        state["study"] = optuna.create_study(direction=e.objective_goal or "maximize")
    study, dists = state["study"], state["dists"]
    kinds = {n: (kind, vs) for n, kind, vs in e.space}
    # One seed per round: a fresh sampler with the same seed would propose round 1's trials again.
    seed = int(hashlib.sha256(f"pipe-bayesian:{e.seed}:{round_index}".encode()).hexdigest()[:8], 16)
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    for values, objective in history:
        params = {n: _as_param(*kinds[n], values.get(n)) for n in dists}
        if any(v is None for v in params.values()):
            continue  # (a value outside today's space: the space changed; it says nothing now)
        state = optuna.trial.TrialState.COMPLETE if objective is not None else optuna.trial.TrialState.FAIL
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=objective if objective is not None else None, state=state
            )
        )
    out, asked = [], []
    for _ in range(count):
        t = study.ask(dists)
        asked.append(t)
        out.append({n: _readable(*kinds[n], t.params[n]) for n in dists})
    # The asked trials leave the study (a running one counts for the sampler): each is told
    # again, with its result, in the history of a later round.
    for t in asked:
        study.tell(t, state=optuna.trial.TrialState.FAIL)
    return out
