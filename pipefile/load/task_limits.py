"""How many tasks a `matrix:` or `sweep:` step stands for, counted from its spec.Expansion
without making them, and the bound past which the loader refuses it (the Pipefile's loader,
load/expansion.py, and the Azure ML sweep job's, load/azureml/sweep.py); and how deep
pipelines used as components may nest (load/nested.py).
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import TYPE_CHECKING, Iterator, Optional

from .. import spec

if TYPE_CHECKING:
    from yaml import Node

    from .reader import NodeReader

# The most tasks a matrix or sweep step may stand for. Each task is a step to the planner: a
# 10,000-trial sweep's `pipe status` takes ~1.7 s and 70 MB, 100,000 ~20 s and 0.5 GB, so
# `trials: 100000000` ran for minutes and took gigabytes before saying anything. Past this
# the count is refused at load, before a task is made (docs/pipefile.md, "Matrix, sweep").
# (100,000, not less: a Pipefile that loaded before, however slowly, must still load.)
MAX_TASKS = 100_000

# The deepest pipelines used as components may nest. Reading one recurses into the next:
# ~200 Pipefiles each using the next, or ~330 `type: pipeline` components in one file, crashed
# the load (RecursionError, exit 70). No pipeline needs more than a few levels.
MAX_NESTING = 50
_reading = threading.local()  # .depth: the pipelines being read now (per thread: `pipe serve` loads side by side)


@contextlib.contextmanager
def one_level_deeper(r: NodeReader, node: Node, what: str, name: str) -> Iterator[bool]:
    """Whether another pipeline may be read inside those being read (across Pipefiles): when
    not, the error is given at `node` (where `what` uses `name`)."""
    depth = getattr(_reading, "depth", 0)
    if depth >= MAX_NESTING:
        r.error(
            node,
            f"{what} uses '{name}', a pipeline nested {depth + 1} deep: pipelines used as components "
            f"nest at most {MAX_NESTING} deep",
            "use fewer levels: give a pipeline the inner one's steps instead of using it",
        )
        yield False
        return
    _reading.depth = depth + 1
    try:
        yield True
    finally:
        _reading.depth = depth


def task_count(e: spec.Expansion) -> int:
    """How many tasks a matrix or sweep makes, counted without making them (a matrix's before
    its `exclude:`); 0 for a foreach (its items are on disk) or a sweep without a count."""
    if e.kind == spec.EXPAND_MATRIX:
        return (math.prod(len(vs) for _, vs in e.axes) if e.axes else 0) + len(e.include)
    if e.kind == spec.EXPAND_SWEEP:
        if e.search == "grid" and e.space:
            grid = math.prod(len(vs) for _, _, vs in e.space)
            return min(grid, e.trials) if e.trials else grid
        return e.trials
    return 0


def too_many_tasks(e: spec.Expansion, what: str, count_key: str) -> Optional[tuple[str, str]]:
    """(the error, its fix) when `e` makes more than MAX_TASKS tasks; None when it does not.
    `count_key`: the key that sets the number of trials (trials:, limits.max_total_trials)."""
    n = task_count(e)
    if n <= MAX_TASKS:
        return None
    if e.kind == spec.EXPAND_MATRIX:
        return (
            f"{what} makes {n:,} combinations, more than the {MAX_TASKS:,} tasks a step may have",
            "give the axes fewer values, or split the matrix over several steps",
        )
    if e.search == "grid" and (not e.trials or e.trials > MAX_TASKS):
        fix = f"give the choices fewer values, or set {count_key} {MAX_TASKS} or fewer (the first ones of the grid)"
    else:
        fix = f"set {count_key} {MAX_TASKS} or fewer, or split the search into several sweeps"
    return f"{what} makes {n:,} trials, more than the {MAX_TASKS:,} tasks a step may have", fix


def refuse_too_many(r: NodeReader, node: Node, e: spec.Expansion, what: str, count_key: str) -> bool:
    """Whether `e` makes too many tasks: if so, the error is given at `node`."""
    refused = too_many_tasks(e, what, count_key)
    if refused is not None:
        r.error(node, *refused)
    return refused is not None
