"""A step's `matrix:`, `sweep:` and `foreach:`: read into a frozen `spec.Expansion`, with
located errors. Which tasks they make is decided later, by expand.py (a foreach lists its
folder only when the graph is built).

    matrix:  {AXIS: [VALUE, ...], ..., include: [{AXIS: VALUE, ...}], exclude: [{AXIS: VALUE}]}
    foreach: ${{inputs.NAME}}  or  {over: ${{inputs.NAME}}, glob: PATTERN, batch_size: N,
              error_threshold: N (-1: any), retries: N, max_parallel: N}
    sweep:   {search: grid | random | bayesian, trials: N, seed: N, max_parallel: N,
              space: {INPUT: {choice: [...]} | {uniform: [lo, hi]} | {randint: [lo, hi]} | ...
                     (load/sweep_space.py)},
              objective: {metric: NAME, goal: maximize | minimize},
              early_termination: {policy: median_stopping, evaluation_interval: N, delay_evaluation: M}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .. import lazyre, spec
from ..errors import did_you_mean
from ..spec import BIND_ASSET, BIND_NONE, BIND_PARAM, BIND_PATH, BIND_STEP_OUTPUT, Binding, InputDecl
from . import sweep_space
from .phrases import SCALAR_HINT, a, value_hint
from .reader import NodeReader, is_mapping, is_scalar, is_sequence
from .task_limits import MAX_TASKS, refuse_too_many

if TYPE_CHECKING:
    from yaml import Node

EXPAND_KEYS = (spec.EXPAND_MATRIX, spec.EXPAND_SWEEP, spec.EXPAND_FOREACH)
MATRIX_RESERVED = ("include", "exclude")
FOREACH_KEYS = ("over", "glob", "batch_size", "error_threshold", "retries", "max_parallel")
SWEEP_KEYS = ("search", "trials", "seed", "space", "objective", "max_parallel", "early_termination")
SWEEP_SEARCHES = ("grid", "random", "bayesian")
SWEEP_DISTRIBUTIONS = sweep_space.DISTRIBUTIONS
OBJECTIVE_KEYS = ("metric", "goal")
OBJECTIVE_GOALS = ("maximize", "minimize")
_INPUT_REF = lazyre.Pattern(r"^\s*\$\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}\s*$")
_PARAM_REF = lazyre.Pattern(r"^\s*\$\{\{\s*params\.([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}\s*$")


def load_expansion(r: NodeReader, fields: dict, what: str) -> tuple[bool, Optional[spec.Expansion]]:
    """(whether the step can be read on, its expansion or None). `fields`: key -> (key node,
    value node) of the step."""
    present = [k for k in EXPAND_KEYS if k in fields]
    if not present:
        return True, None
    if len(present) > 1:
        r.error(
            fields[present[1]][0],
            f"{what} has both {present[0]}: and {present[1]}:",
            "a step expands one way: split it into two steps",
        )
        return False, None
    kind = present[0]
    knode, vnode = fields[kind]
    before = len(r.errors)
    if kind == spec.EXPAND_MATRIX:
        out = _matrix(r, knode, vnode, what)
    elif kind == spec.EXPAND_FOREACH:
        out = _foreach(r, knode, vnode, what)
    else:
        out = _sweep(r, knode, vnode, what)
    return len(r.errors) == before, out if len(r.errors) == before else None


def _matrix(r: NodeReader, knode: Node, node: Node, what: str) -> Optional[spec.Expansion]:
    where = f"the matrix of {what}"
    items = r.mapping(node, where)
    axes = []
    combos: dict[str, tuple] = {"include": (), "exclude": ()}
    for key, kn, vn in items:
        if key in MATRIX_RESERVED:
            combos[key] = _combinations(r, vn, f"{key}: of {where}")
            continue
        if not r.name_ok(key, kn, "matrix axis"):
            continue
        values = r.scalar_list(vn, f"axis '{key}' of {where}")
        if values is None:
            continue
        if not values:
            r.error(vn, f"axis '{key}' of {where} has no values", "list at least one value, or remove the axis")
            continue
        if len(set(map(repr, values))) != len(values):
            r.error(vn, f"axis '{key}' of {where} lists a value twice", "list each value once")
            continue
        axes.append((key, values))
    if not axes and not combos["include"] and not r.errors:
        r.error(node, f"{where} is empty", "give at least one axis with values, e.g. lr: [0.01, 0.1]")
        return None
    on_axis, num = dict(axes), (int, float)
    for axis, v in (pair for combo in combos["exclude"] for pair in combo):
        if axis not in on_axis:
            r.error(node, f"exclude: of {where} names '{axis}', which is not an axis", "name axes of the matrix")
        elif not any(
            x == v and (type(x) is type(v) or isinstance(x, num) and isinstance(v, num)) for x in on_axis[axis]
        ):
            shown = ", ".join(map(str, on_axis[axis]))  # (a typo there excluded nothing: its combination ran)
            r.error(node, f"exclude: of {where} names {axis}: {v}, not a value of that axis", f"use one of {shown}")
    e = spec.Expansion(
        spec.EXPAND_MATRIX, r.loc(knode), axes=tuple(axes), include=combos["include"], exclude=combos["exclude"]
    )
    return None if refuse_too_many(r, knode, e, where, "") else e


def _combinations(r: NodeReader, node: Node, what: str) -> tuple:
    if not is_sequence(node):
        r.error(node, f"{what} must be a list of combinations", "write [{AXIS: VALUE, ...}, ...]")
        return ()
    out = []
    for n in node.value:
        if not is_mapping(n) or not n.value:  # ({}: an include of no axis, an exclude of nothing)
            r.error(n, f"each item of {what} must be a mapping of axis to value, not empty", "write {AXIS: VALUE, ...}")
            continue
        combo = []
        for key, _kn, vn in r.mapping(n, f"an item of {what}"):
            v = r.value(vn) if is_scalar(vn) else None
            if v is None or not isinstance(v, (bool, int, float, str)):
                r.error(vn, f"the value of '{key}' in {what} must be a number, a string or a boolean", SCALAR_HINT)
                continue
            combo.append((key, v))
        if combo:
            out.append(tuple(combo))
    return tuple(out)


def _input_ref(r: NodeReader, node: Node, what: str) -> Optional[str]:
    v = r.value(node) if is_scalar(node) else None
    m = _INPUT_REF.match(v) if isinstance(v, str) else None
    if m is None:
        p = _PARAM_REF.match(v) if isinstance(v, str) else None
        if p is not None:  # the natural spelling for a list param: say how to bind it
            name = p.group(1)
            r.error(
                node,
                f"{what} must name one of the step's inputs, not param '{name}'",
                f'bind an input to the param and map over that: inputs: {{{name}: "${{{{params.{name}}}}}"}}, '
                f"foreach: ${{{{inputs.{name}}}}}",
            )
            return None
        r.error(node, f"{what} must name one of the step's inputs", "write foreach: ${{inputs.NAME}}")
        return None
    return m.group(1)


def _foreach(r: NodeReader, knode: Node, node: Node, what: str) -> Optional[spec.Expansion]:
    where = f"foreach of {what}"
    glob = "*"
    extra: dict = {}
    if is_mapping(node):
        f = r.fields(node, where, FOREACH_KEYS)
        if "over" not in f:
            r.error(node, f"{where} does not say what to map over", "add over: ${{inputs.NAME}}")
            return None
        over = _input_ref(r, f["over"], where)
        if "glob" in f:
            g = r.string(f["glob"], f"glob of {where}")
            if g is None:
                return None
            if not g.strip():  # (it was told "must match names, not paths", which it is not)
                r.error(f["glob"], f"glob of {where} is empty", "write a pattern, e.g. '*.csv', or leave glob out")
                return None
            if "/" in g:
                r.error(f["glob"], f"glob of {where} must match names in the folder, not paths", "write e.g. '*.csv'")
                return None
            glob = g
        before = len(r.errors)
        if "batch_size" in f:
            extra["batch_size"] = _positive_int(r, f["batch_size"], f"batch_size of {where}")
        if "max_parallel" in f:
            extra["max_parallel"] = _positive_int(r, f["max_parallel"], f"max_parallel of {where}")
        if "error_threshold" in f:
            extra["error_threshold"] = _threshold(r, f["error_threshold"], where)
        if "retries" in f:
            extra["map_retries"] = _retries(r, f["retries"], where)
        if len(r.errors) != before:
            return None
    else:
        over = _input_ref(r, node, where)
    if over is None:
        return None
    return spec.Expansion(spec.EXPAND_FOREACH, r.loc(knode), over=over, glob=glob, **extra)


def _threshold(r: NodeReader, node: Node, where: str) -> Optional[int]:
    v = r.value(node) if is_scalar(node) else None
    if isinstance(v, bool) or not isinstance(v, int) or v < -1:
        r.error(
            node,
            f"error_threshold of {where} must be a whole number of at least -1, not {v!r}",
            "the number of items that may fail before the step fails: e.g. 10, or -1 for any",
        )
        return None
    return v


def _retries(r: NodeReader, node: Node, where: str) -> Optional[int]:
    v = r.value(node) if is_scalar(node) else None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
        r.error(
            node,
            f"retries of {where} must be a whole number from 0 to 100, not {v!r}",
            "the times a failed item's task runs again before it counts as failed: e.g. retries: 2",
        )
        return None
    return v


def _positive_int(r: NodeReader, node: Node, what: str, minimum: int = 1) -> Optional[int]:
    v = r.value(node) if is_scalar(node) else None
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        r.error(node, f"{what} must be a whole number of at least {minimum}", f"write e.g. {max(minimum, 1) * 10}")
        return None
    return v


def _sweep(r: NodeReader, knode: Node, node: Node, what: str) -> Optional[spec.Expansion]:
    where = f"the sweep of {what}"
    f = r.fields(node, where, SWEEP_KEYS)
    if not f and not is_mapping(node):
        return None
    search = "random"
    if "search" in f:
        written = r.string(f["search"], f"search of {where}")  # (None: reported)
        if written is None or written not in SWEEP_SEARCHES:  # ('' too: it passed as none, a planner's KeyError)
            if written is not None:
                r.error(f["search"], f"unknown search '{written}' in {where}", "use grid, random or bayesian")
            return None
        search = written
        if search == "bayesian" and not optuna_installed():
            r.error(
                f["search"],
                f"{where} asks for a bayesian search, which needs Optuna, and it is not installed",
                f"install the extra: pip install {OPTUNA_EXTRA}, or use search: random (seeded) or grid",
            )
            return None
    early = _early_termination(r, f["early_termination"], where) if "early_termination" in f else ()
    trials = _positive_int(r, f["trials"], f"trials of {where}") if "trials" in f else None
    if search in ("random", "bayesian") and "trials" not in f:
        r.error(node, f"{where} is a {search} search without trials:", "add trials: N (how many to sample)")
    seed = 0
    if "seed" in f:
        seed = _positive_int(r, f["seed"], f"seed of {where}", minimum=0) or 0
    max_parallel = _positive_int(r, f["max_parallel"], f"max_parallel of {where}") if "max_parallel" in f else 0
    space = sweep_space.read(r, f.get("space"), node, where, search)
    metric, goal = _objective(r, f.get("objective"), where)
    if not metric and "objective" not in f:
        for what_needs, given in (("a bayesian search", search == "bayesian"), ("early_termination", early)):
            if given:
                r.error(
                    node,
                    f"{where} has {what_needs}, which needs an objective to judge the trials by",
                    "add objective: {metric: NAME, goal: minimize} (NAME: a key of the trial's metrics file)",
                )
    if space is None:
        return None
    e = spec.Expansion(
        spec.EXPAND_SWEEP,
        r.loc(knode),
        search=search,
        trials=trials or 0,
        seed=seed,
        space=space,
        objective_metric=metric,
        objective_goal=goal,
        max_parallel=max_parallel or 0,
        early_termination=early or (),
        objective_loc=r.loc(f["objective"]) if "objective" in f else None,
    )
    at = f["trials"] if "trials" in f and (trials or 0) > MAX_TASKS else f.get("space", knode)
    return None if refuse_too_many(r, at, e, where, "trials:") else e


OPTUNA_EXTRA = "'pipefile[optuna]'"
EARLY_KEYS = ("policy", "evaluation_interval", "delay_evaluation")
EARLY_POLICIES = ("median_stopping",)


def optuna_installed() -> bool:
    """Whether Optuna can be imported, without importing it (a second of start-up)."""
    import importlib.util

    try:
        return importlib.util.find_spec("optuna") is not None
    except (ImportError, ValueError):  # blocked, or a module object without a spec
        return False


def _early_termination(r: NodeReader, node: Node, where: str) -> tuple:
    """(policy, evaluation_interval, delay_evaluation), Azure ML's names; () when wrong."""
    what = f"early_termination of {where}"
    f = r.fields(node, what, EARLY_KEYS)
    if not f and not is_mapping(node):
        return ()
    if "policy" not in f:
        r.error(node, f"{what} names no policy", "add policy: median_stopping")
        return ()
    policy = r.string(f["policy"], f"policy of {what}") or ""
    if policy not in EARLY_POLICIES:
        r.error(
            f["policy"],
            f"unknown early termination policy '{policy}' in {where}",
            did_you_mean(policy, EARLY_POLICIES, "policy") or "use policy: median_stopping",
        )
        return ()
    interval = (
        _positive_int(r, f["evaluation_interval"], f"evaluation_interval of {what}")
        if "evaluation_interval" in f
        else 1
    )
    delay = _positive_int(r, f["delay_evaluation"], f"delay_evaluation of {what}", 0) if "delay_evaluation" in f else 0
    if interval is None or delay is None:
        return ()
    return (policy, interval, delay)


def _objective(r: NodeReader, node: Optional[Node], where: str) -> tuple[str, str]:
    if node is None:
        return "", ""
    f = r.fields(node, f"the objective of {where}", OBJECTIVE_KEYS)
    if "metric" not in f:
        r.error(node, f"the objective of {where} names no metric", "add metric: NAME (a key of the metrics file)")
        return "", ""
    metric = r.string(f["metric"], f"the objective metric of {where}") or ""
    goal = "maximize"
    if "goal" in f:
        goal = r.string(f["goal"], f"the objective goal of {where}") or ""
        if goal not in OBJECTIVE_GOALS:
            r.error(f["goal"], f"unknown goal '{goal}' in {where}", "use maximize or minimize")
            return "", ""
    return metric, goal


# --- the inputs an expansion sets, checked against the step's ---------------------------------
def given_input(
    r: NodeReader, iname: str, node: Node, what: str, decl: Optional[InputDecl], expansion: spec.Expansion
) -> Optional[Binding]:
    """An input a matrix or sweep gives its values: declared by its type alone."""
    how = "matrix axis" if expansion.kind == spec.EXPAND_MATRIX else "sweep input"
    f = r.fields(node, f"input '{iname}' of {what}", ("type",)) if is_mapping(node) else None
    if f is None or (decl is None and "type" not in f):
        r.error(
            node,
            f"input '{iname}' of {what} is a {how}: it takes its values from the {expansion.kind}, not from here",
            f"declare it by its type alone: {iname}: {{type: number}}",
        )
        return None
    t = decl.type if decl is not None else None
    if "type" in f:
        t = r.type_name(f["type"], spec.VALUE_TYPES, f"{how} '{iname}' of {what}")
        if t is None:
            return None
    return Binding(BIND_NONE, r.loc(node), type=t)


def check_expansion_inputs(r: NodeReader, what, comp, inputs, attempted, expansion, decls) -> None:
    """Each axis, sweep input or mapped input is an input of the step, of a fitting kind."""
    if expansion.kind == spec.EXPAND_FOREACH:
        b = inputs.get(expansion.over)
        if b is None and expansion.over not in attempted:
            r.error_at(
                expansion.loc,
                f"foreach of {what} maps over input '{expansion.over}', which the step does not have",
                did_you_mean(expansion.over, inputs, "input") if inputs else "bind it: inputs: {NAME: data/}",
            )
        elif b is not None and b.kind not in (BIND_ASSET, BIND_PATH, BIND_STEP_OUTPUT, BIND_PARAM, spec.BIND_PARENT):
            r.error_at(
                expansion.loc,
                f"foreach of {what} maps over input '{expansion.over}', which is {b.describe()}, not a folder",
                "bind the input to a folder (a path, ${{assets.NAME}} or another step's output) or a list param",
            )
        return
    how = "axis" if expansion.kind == spec.EXPAND_MATRIX else "sweep input"
    known = set(decls) if comp is not None else set(inputs) | attempted
    for name in expansion.names:
        if name not in known:
            r.error_at(
                expansion.loc,
                f"{how} '{name}' of {what} is not one of its inputs",
                f"declare it: inputs: {{{name}: {{type: number}}}}"
                if comp is None
                else did_you_mean(name, decls, "input") or f"component '{comp.name}' takes no input '{name}'",
            )
            continue
        decl_type = decls[name].type if comp is not None else (inputs[name].type if name in inputs else None)
        for value in expansion_values(expansion, name):
            if decl_type is not None and not spec.value_fits(value, decl_type):
                r.error_at(
                    expansion.loc,
                    f"{how} '{name}' of {what} has the value {value!r}, but the input is {a(decl_type)}",
                    value_hint(decl_type),
                )
                break
    for combo in expansion.include:
        for name, _ in combo:
            if name not in expansion.names and name not in known:
                names = list(dict.fromkeys([*expansion.names, *known]))
                r.error_at(
                    expansion.loc,
                    f"include: of the matrix of {what} names '{name}', not an input",
                    did_you_mean(name, names, "input") or "name the matrix's axes or the step's inputs",
                )


def expansion_values(expansion: spec.Expansion, name: str) -> list:
    """The literal values an expansion gives input `name` (sweep ranges are checked as drawn)."""
    if expansion.kind == spec.EXPAND_MATRIX:
        values = [v for axis, vs in expansion.axes if axis == name for v in vs]
        return values + [v for combo in expansion.include for axis, v in combo if axis == name]
    return [v for n, kind, vs in expansion.space if n == name and kind == "choice" for v in vs]


def check_expanded_step(r: NodeReader, st, expansion: spec.Expansion, what: str, said_metrics: bool = False) -> None:
    """What an expanded step cannot have (yet), said where it is written (`said_metrics`: it
    writes `metrics:`; when st has none, they were refused, and that error says why)."""
    for out in st.outputs.values():
        if out.artifact or out.output:
            r.error_at(
                out.loc,
                f"output '{out.name}' of {what} has {'name:' if out.artifact else 'output: true'}, "
                f"which a step with {expansion.kind}: cannot have yet (it has one entry per task)",
                "remove it here, and give it to a step that reads the gathered folder",
            )
    if expansion.objective_metric and not st.metrics and not said_metrics:
        r.error_at(
            expansion.loc,
            f"the sweep of {what} has an objective ('{expansion.objective_metric}') but the step has no metrics:",
            "add metrics: PATH (one of its outputs, a JSON or YAML file with the metric)",
        )
