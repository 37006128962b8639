"""Expansion: a step with `matrix:`, `sweep:` or `foreach:` becomes ordinary steps, its tasks.

Done on the spec, before the graph is built, so the planner, scheduler and executors see
only ordinary nodes. A task is named `STEP[LABEL]`:

    matrix   STEP[axis=value,...]   axes in declaration order; include/exclude applied
    sweep    STEP[trial-K]          K from 1; trial K's inputs depend on (seed, K) alone,
                                    so raising `trials` adds trials and changes none
                                    (bayesian: proposed while the run goes, proposals.py)
    foreach  STEP[NAME]             one per entry of the folder (matching `glob`), its name;
             STEP[batch-K]          with batch_size: K from 1 over the entries sorted by name

A task's inputs are the step's, with the expanded ones bound to its value (or item); each
declared output path gets the task's entry below it: `build/model` -> `build/model/LABEL`,
so the declared path is the gathered folder, one entry per task. `${{steps.STEP.outputs.X}}`
reads that folder (and so depends on every task); `${{steps.STEP[LABEL].outputs.X}}` one
task's entry. An entry whose task is gone is removed by `stale_entries` + the session before
a run: a removed value or item runs nothing. An output path that uses the inputs is rendered
per task instead (load/outpaths.py).

Pure but for a foreach's listing of its folder (one scandir: names and kinds, no stat).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
from typing import Any, Callable, Mapping, Optional

from . import outpaths, spec, template
from .errors import PipefileError, raise_all
from .expand_map import (
    VALUE_ITEM,
    batch_folder,
    empty_map,
    foreach_items,
    list_param_errors,
    placeholder,
    producer,
    task_read,
)
from .lazyclass import dataclass
from .spec import BIND_PATH, BIND_STEP_OUTPUT, BIND_VALUE, Binding


@dataclass(frozen=True)
class Group:
    """An expanded step: its tasks in order, and what they were made from."""

    name: str
    kind: str  # spec.EXPAND_*
    tasks: tuple  # task names, in order
    labels: tuple  # the same, as labels
    values: tuple  # per task: ((input, value), ...) (a foreach: the item's path)
    outputs: Mapping[str, str]  # output name -> the gathered folder (the declared path)
    metrics: tuple = ()  # declared metrics paths (each task's file is below)
    objective: tuple = ()  # (metric, goal) of a sweep, or ()
    loc: Any = None
    max_parallel: int = 0  # how many of its tasks may run at once (0: as many as -j allows)
    search: str = ""  # a sweep's search method
    sweep: Any = None  # a sweep's spec.Expansion (a bayesian one proposes its trials from it)
    # a foreach with batch_size: per task, ((name, workspace path), ...) of the items the
    # session links into its batch folder (batch_folder(step, label)); () otherwise
    batches: tuple = ()
    error_threshold: int = 0  # a foreach's failed tasks tolerated (-1: any)
    retries: int = 0  # a foreach's: times a failed task runs again
    # A foreach's tasks its map record says are up to date (maps.py): no node is made for them.
    # `probe` is one such task kept as a node: the session checks through its key that the
    # record still holds (`settled_fp`, the fingerprint of the rest of the key).
    settled: frozenset = frozenset()
    probe: str = ""
    settled_fp: str = ""
    # A foreach over another step's output: that step. `pending`: its folder is not there yet,
    # so the map is one placeholder node (named as the step) until the session has run it.
    after: str = ""
    pending: bool = False
    # Outputs whose path uses the inputs (load/outpaths.py): name -> each task's rendered path,
    # in task order. They are not in `outputs` (there is no declared folder to gather into).
    per_task: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
    templates: Mapping[str, str] = dataclasses.field(default_factory=dict)  # name -> its template

    def task_metrics(self, label: str) -> list:
        """The metrics files of one task."""
        k = self.labels.index(label) if self.per_task else 0
        rendered = {n: paths[k] for n, paths in self.per_task.items()}
        return [
            outpaths.render_metric(self.templates, rendered, m) or entry_path(self.outputs, m, label)
            for m in self.metrics
        ]

    def reordered(self, name: str) -> Optional[str]:
        """The task `name` spells with the axes in another order (t[d=3,lr=0.1] for
        t[lr=0.1,d=3]): the nearest spelling would be another task (d=5 for d=3)."""
        step, bracket, rest = name.partition("[")
        if step != self.name or not bracket or not rest.endswith("]"):
            return None
        parts = sorted(rest[:-1].split(","))  # (a value's ',' is spelt %2C: a part is an axis)
        return next((t for t, label in zip(self.tasks, self.labels) if sorted(label.split(",")) == parts), None)


def expanded(pf: spec.Pipefile) -> bool:
    return any(st.expand is not None for st in pf.steps.values())


def expand(pf: spec.Pipefile, check_exists: bool = True, settle=None, params=None) -> tuple[spec.Pipefile, dict]:
    """(the Pipefile with each expanded step replaced by its tasks, {step name: Group}).

    settle(root, step, group) -> (settled labels, probe label, fingerprint): the tasks of a
    foreach known to be up to date without a node each (maps.settle; None: every task a node).
    `params`: every param's value (a foreach over a list param makes a task per value)."""
    errors: list = list_param_errors(pf)
    if not expanded(pf):
        raise_all(errors)
        return pf, {}
    groups: dict = {}
    steps: dict = {}
    for st in pf.steps.values():
        if st.expand is None:
            steps[st.name] = st
            continue
        group = _expand_step(pf, st, check_exists, errors, params or {})
        if group is None:
            continue
        if group.pending or not group.labels:  # (no items: an empty map, one node as a pending one)
            groups[st.name] = dataclasses.replace(group, tasks=(st.name,))
            steps[st.name] = placeholder(st, group.after) if group.pending else empty_map(st)
            continue
        # (not inside a pipeline component, STEP/INNER: its group counts inner tasks by node)
        mapped = group.kind == spec.EXPAND_FOREACH and not group.batches and "/" not in st.name
        if settle is not None and mapped and not task_read(pf, st):
            settled, probe, fp = settle(pf.root, st, group)
            group = dataclasses.replace(group, settled=settled, probe=probe, settled_fp=fp)
        groups[st.name] = group
        settled = group.settled
        for k, (label, values) in enumerate(zip(group.labels, group.values)):
            if settled and label in settled:
                continue
            rendered = {n: paths[k] for n, paths in group.per_task.items()}
            task = _task(st, label, dict(values), group.batches[k] if group.batches else (), rendered)
            if not errors:  # (one such error per run is enough: the rest are alike)
                errors += outpaths.long_path_errors(task, st.expand.kind)
            if group.search == "bayesian":  # a round's trials are proposed once the round before ends
                task = dataclasses.replace(task, after=bayesian_after(group, k))
            steps[task.name] = task
    raise_all(errors)
    # A sweep whose best trial is read gets a task that picks it (after every trial).
    wanted = {
        b.ref[: -len(".best")]
        for st in steps.values()
        for b in st.inputs.values()
        if b.kind == BIND_STEP_OUTPUT and b.ref.endswith(".best")
    } | {n for n, st in pf.steps.items() if st.expand is not None and st.expand.best}
    # (STEP.best reads a per-task output from its gathered folder)
    picked = {n for n in wanted if n in groups and groups[n].per_task and groups[n].objective}
    for name in sorted(set(outpaths.gathered_wanted(steps, groups)) | picked):
        gather = outpaths.gather_step(pf.steps[name], groups[name].labels, groups[name].per_task)
        steps[gather.name] = gather
    for name in wanted:
        group = groups.get(name)
        if group is not None and group.kind == spec.EXPAND_SWEEP and group.objective:
            best = best_step(pf.steps[name], group)
            steps[best.name] = best
    # Readers of an expanded step read its gathered folder, or one task's entry.
    for name, st in list(steps.items()):
        new = {}
        for iname, b in st.inputs.items():
            if b.kind == BIND_STEP_OUTPUT and _base(b.ref) in groups:
                got = _rebind(iname, st, b, groups[_base(b.ref)], errors)
                if got is not None:
                    new[iname] = got
        if new:
            steps[name] = dataclasses.replace(st, inputs={**st.inputs, **new})
    raise_all(errors)
    return dataclasses.replace(pf, steps=steps), groups


def _base(ref: str) -> str:
    if ref.endswith(".best"):
        return ref[: -len(".best")]
    return ref.split("[", 1)[0]


def entry_path(outputs: Mapping[str, str], path: str, label: str) -> str:
    """Where a task writes `path` (a declared output, or a file inside one)."""
    for out in outputs.values():
        if path == out:
            return f"{out}/{label}"
        if path.startswith(out + "/"):
            return f"{out}/{label}{path[len(out) :]}"
    return path


def _task(st: spec.Step, label: str, values: dict, members: tuple = (), rendered=None) -> spec.Step:
    inputs = dict(st.inputs)
    keep_types = st.expand.kind != spec.EXPAND_FOREACH
    for iname, value in values.items():
        old = inputs.get(iname)
        loc = old.loc if old is not None else st.expand.loc
        if members:
            # A batch: the command gets its folder of links (made by the session before a run);
            # the key reads each member file itself, so it holds exactly the batch's content
            # (and `pipe status` needs no folder).
            inputs[iname] = Binding(BIND_VALUE, loc, value=batch_folder(st.name, label))
            for name, path in members:
                inputs[f"{iname}/{name}"] = Binding(BIND_PATH, loc, path)
        elif st.expand.kind == spec.EXPAND_FOREACH and value[1] == VALUE_ITEM:
            inputs[iname] = Binding(BIND_VALUE, loc, value=value[0])
        elif st.expand.kind == spec.EXPAND_FOREACH:
            inputs[iname] = Binding(BIND_PATH, loc, value[0], type=value[1])
        else:
            decl = st.input_decls.get(iname)
            typ = decl.type if decl is not None else None
            inputs[iname] = Binding(BIND_VALUE, loc, value=float(value) if typ == spec.NUMBER else value)
    rendered = rendered or {}
    outs = {o.name: o.path for o in st.outputs.values() if not o.template}
    tpls = {o.name: o.template for o in st.outputs.values()}
    outputs = {
        n: dataclasses.replace(
            o,
            path=rendered[n] if n in rendered else f"{o.path}/{label}",
            type=o.type if keep_types or n in rendered else None,
            artifact="",
            template="",
        )
        for n, o in st.outputs.items()
    }
    return dataclasses.replace(
        st,
        name=f"{st.name}[{label}]",
        inputs=inputs,
        outputs=outputs,
        metrics=tuple(outpaths.render_metric(tpls, rendered, m) or entry_path(outs, m, label) for m in st.metrics),
        expand=None,
        group=st.name,
    )


def _rebind(iname: str, reader: spec.Step, b: Binding, group: Group, errors: list) -> Optional[Binding]:
    if b.ref == group.name and b.output in group.per_task:  # gathered by the task STEP.gathered
        return Binding(BIND_PATH, b.loc, outpaths.gathered_path(group.name, b.output), type=spec.URI_FOLDER)
    if b.ref == group.name:  # the gathered folder
        return Binding(BIND_PATH, b.loc, group.outputs[b.output], type=spec.URI_FOLDER)
    if b.ref in group.tasks:
        return None  # an ordinary reference to one task
    if b.ref.endswith(".best") and group.objective:
        return None  # an ordinary reference to the task that picks the best trial
    if b.ref.endswith(".best"):
        errors.append(
            PipefileError(
                f"input '{iname}' of step '{reader.name}' uses the best trial of '{group.name}', "
                "which is not supported yet",
                b.loc,
                f"read every trial's output (${{{{steps.{group.name}.outputs.{b.output}}}}}) and pick in the step",
            )
        )
        return None
    from .errors import did_you_mean

    errors.append(
        PipefileError(
            f"input '{iname}' of step '{reader.name}' uses '{b.ref}', which is not a task of step '{group.name}'",
            b.loc,
            f"did you mean '{task}'? (a task's label names the axes in the matrix's order)"
            if (task := group.reordered(b.ref))
            else did_you_mean(b.ref, group.tasks, "task") or f"its tasks: {', '.join(group.tasks[:5])}",
        )
    )
    return None


def _expand_step(pf: spec.Pipefile, st: spec.Step, check_exists: bool, errors: list, params) -> Optional[Group]:
    e = st.expand
    batches: tuple = ()
    after = ""
    if e.kind == spec.EXPAND_MATRIX:
        combos = matrix_combinations(e)
        labels = [label_of(c) for c in combos]
        if not combos:  # (only an exclude: can do it; taken as an empty map, it was a KeyError, exit 70)
            errors.append(
                PipefileError(
                    f"the matrix of step '{st.name}' makes no tasks: its exclude: leaves no combination",
                    e.loc,
                    "remove an entry of exclude:, or add a value to an axis (or a combination with include:)",
                )
            )
            return None
    elif e.kind == spec.EXPAND_SWEEP:
        combos = sweep_trials(e)
        labels = [f"trial-{k}" for k in range(1, len(combos) + 1)]
    else:
        after = producer(pf, st)
        items = foreach_items(pf, st, check_exists, errors, params)
        if items is None:
            if after and not errors:  # its folder is made by a step that has not run yet
                outputs = {o.name: o.path for o in st.outputs.values()}
                return Group(st.name, e.kind, (st.name,), (), (), outputs, loc=e.loc, after=after, pending=True)
            return None
        if e.batch_size:
            # Batch K holds the K-th run of batch_size names in sorted order: a name added at
            # the end changes only the last batch (or makes a new one).
            batches = tuple(
                tuple((os.path.basename(p), p) for p, _kind in items[i : i + e.batch_size])
                for i in range(0, len(items), e.batch_size)
            )
            labels = [f"batch-{k}" for k in range(1, len(batches) + 1)]
            combos = [((e.over, (batch_folder(st.name, x), spec.URI_FOLDER)),) for x in labels]
        else:
            combos = [((e.over, item),) for item in items]
            if items and items[0][1] == VALUE_ITEM:  # a list param's values
                labels = [outpaths.file_part(_label_value(v)) for v, _kind in items]  # (entry names)
            else:
                cut = len(items[0][0]) - len(items[0][0].rsplit("/", 1)[-1]) if items else 0  # (all in one folder)
                labels = [path[cut:] for path, _kind in items]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        fix = "give each combination distinct values"
        if e.kind == spec.EXPAND_FOREACH:  # (a list param's values: two spelt alike, 'a' twice or 3 and '3')
            fix = (
                f"list each value of param '{st.inputs[e.over].ref}' once (values spelt alike, as 3 and '3', "
                "name one task)"
            )
        errors.append(PipefileError(f"step '{st.name}' has two tasks labelled '{dup}'", e.loc, fix))
        return None
    objective = (e.objective_metric, e.objective_goal) if e.objective_metric else ()
    per_task = outpaths.per_task_paths(st, labels, combos, errors, _label_value)
    if per_task is None:
        return None
    return Group(
        st.name,
        e.kind,
        tuple(f"{st.name}[{x}]" for x in labels),
        tuple(labels),
        tuple(tuple(c) for c in combos),
        {o.name: o.path for o in st.outputs.values() if not o.template},
        tuple(st.metrics),
        objective,
        e.loc,
        e.max_parallel,
        e.search,
        e if e.kind == spec.EXPAND_SWEEP else None,
        batches=batches,
        error_threshold=e.error_threshold,
        retries=e.map_retries,
        after=after,
        per_task=per_task,
        templates={o.name: o.template for o in st.outputs.values() if o.template},
    )


def matrix_combinations(e: spec.Expansion) -> list:
    """Every combination of the axes (declaration order), less those an exclude matches,
    then each include not already there."""
    names = [a for a, _ in e.axes]
    out = []
    for values in itertools.product(*(vs for _, vs in e.axes)) if e.axes else ():
        combo = tuple(zip(names, values))
        if any(_matches(combo, ex) for ex in e.exclude):
            continue
        out.append(combo)
    for inc in e.include:
        ordered = tuple(sorted(inc, key=lambda kv: names.index(kv[0]) if kv[0] in names else len(names)))
        if not any(_same(ordered, c) for c in out):
            out.append(ordered)
    return out


def _matches(combo: tuple, partial: tuple) -> bool:
    d = dict(combo)
    return all(k in d and _eq(d[k], v) for k, v in partial)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and _matches(a, b)


def _eq(x, y) -> bool:
    return type(x) is type(y) and x == y or (isinstance(x, (int, float)) and isinstance(y, (int, float)) and x == y)


def label_of(combo: tuple) -> str:
    """axis=value,... with values as a command would spell them; never a path separator."""
    return ",".join(f"{k}={_label_value(v)}" for k, v in combo)


def _label_value(v) -> str:
    text = template.format_value(v)
    text = text.replace("%", "%25").replace("/", "%2F").replace("]", "%5D").replace(",", "%2C")
    # the empty value's mark, and a value that is that mark spelt otherwise ('%' is escaped
    # first: no other value's spelling), so that two values never share a label
    return {"": "''", "''": "%27%27"}.get(text, text)


def sweep_trials(e: spec.Expansion) -> list:
    """Each trial's ((input, value), ...). Grid: the product of the choices (the first
    `trials` of it when given). Random: trial K drawn from a generator seeded by (seed, K)
    alone, so the same seed gives the same trials and more trials keep the earlier ones."""
    if e.search == "bayesian":
        return [() for _ in range(e.trials)]  # proposed while the run goes (proposals.py)
    if e.search == "grid":
        names = [n for n, _, _ in e.space]
        combos = itertools.product(*(vs for _, _, vs in e.space))
        # (only the first `trials` are made: a grid far past them is never listed whole)
        return [tuple(zip(names, vs)) for vs in itertools.islice(combos, e.trials or None)]
    out = []
    for k in range(1, e.trials + 1):
        rng = random.Random(f"pipe-sweep:{e.seed}:{k}")
        out.append(tuple((n, draw(rng, kind, vs)) for n, kind, vs in e.space))
    return out


def round_size(e: spec.Expansion) -> int:
    """How many trials of a bayesian sweep are proposed together (and may run at once)."""
    return e.max_parallel or 1


def bayesian_after(group: Group, k: int) -> tuple:
    """The tasks trial k (from 0) of a bayesian sweep runs after: those of the round before."""
    size = round_size(group.sweep)
    start = (k // size) * size
    return tuple(group.tasks[max(0, start - size) : start])


# A sweep's distributions (load/sweep_space.py) that round each draw to a multiple of q.
ROUNDED = ("quniform", "qloguniform", "qnormal", "qlognormal")
MAX_EXPONENT = 709.0  # exp() past it overflows a float: a lognormal draw is kept below it


def draw(rng: random.Random, kind: str, vs: tuple):
    """One draw of a sweep input: floats kept to 6 significant digits (a readable, stable
    value); a multiple of a whole q is an int (an integer input takes it)."""
    import math

    if kind == "choice":
        return vs[rng.randrange(len(vs))]
    if kind == "randint":
        return rng.randint(vs[0], vs[1])
    if kind in ("uniform", "quniform"):
        x = rng.uniform(vs[0], vs[1])
    elif kind in ("loguniform", "qloguniform"):
        x = math.exp(rng.uniform(math.log(vs[0]), math.log(vs[1])))
    elif kind in ("normal", "qnormal"):
        x = rng.gauss(vs[0], vs[1])
    else:  # lognormal, qlognormal
        x = math.exp(min(rng.gauss(vs[0], vs[1]), MAX_EXPONENT))
    if kind not in ROUNDED:
        return float(f"{x:.6g}")
    q = vs[2]
    ratio = x / q  # (past a float only for a draw past 8 sigma, which the load's bounds leave out)
    steps = round(ratio if math.isfinite(ratio) else math.copysign(1e307, ratio))
    return steps * q if isinstance(q, int) and not isinstance(q, bool) else float(f"{steps * q:.6g}")


def stale_entries(
    root: str, groups: Mapping[str, Group], records: Optional[Mapping] = None, made: Optional[Callable] = None
) -> list:
    """Workspace paths of entries in gathered folders whose task is gone; with the workspace's
    step `records`, also the per-task output paths such a task wrote (load/outpaths.py) that
    no step of today writes (`made`: not the graph's `is_source`)."""
    out = outpaths.stale_rendered(root, groups, records, made) if records else []
    for g in groups.values():
        if g.pending:
            continue  # (its items are not known yet)
        labels = set(g.labels)
        for folder in g.outputs.values():
            try:
                names = [d.name for d in os.scandir(os.path.join(root, folder))]
            except OSError:
                continue
            out.extend(f"{folder}/{n}" for n in names if n not in labels and not n.startswith("."))
    return sorted(out)


# The task STEP.best: after every trial, copies the best trial's entry of each output to
# `<declared path>.best` (its script: outpaths.PICK_BEST). Its key holds the gathered folders
# it reads (every trial's outputs and metrics), so it runs again when any trial's result
# changes, and only then.


def best_step(st: spec.Step, group: Group) -> spec.Step:
    """The task STEP.best of sweep `st`: reads every output's gathered folder, writes the best
    trial's entry of each at `<declared path>.best` (a per-task path's: outpaths.best_path)."""
    metric, goal = group.objective
    m = st.metrics[0]
    home = next(o for o in st.outputs.values() if m == o.path or m.startswith(o.path + "/"))
    rest = m[len(home.path) :]
    inputs, outputs = {}, {}
    argv = ["python3", "-c", outpaths.PICK_BEST, metric, goal, "${{inputs.g_%s}}" % home.name, rest]
    for o in st.outputs.values():
        if o.name in group.per_task:  # each trial's own path: read from its gathered folder
            src, dest = outpaths.gathered_path(st.name, o.name), outpaths.best_path(st.name, o.name, o.template)
        else:
            src, dest = o.path, f"{o.path}.best"
        inputs[f"g_{o.name}"] = Binding(BIND_PATH, st.expand.loc, src, type=spec.URI_FOLDER)
        outputs[o.name] = dataclasses.replace(o, path=dest, type=None, artifact="", output=False, template="")
        argv += ["${{inputs.g_%s}}" % o.name, "${{outputs.%s}}" % o.name]
    return outpaths.helper_task(st, f"{st.name}.best", argv, inputs, outputs)
